//! The cluster bus network side: a listener on the bus port, one outbound link per known
//! node, and a ticker — all on a dedicated thread with its own single-threaded runtime, so
//! heartbeats keep flowing however busy the client-serving runtime is.
//!
//! Every inbound frame goes through the state machine; its actions are carried out here:
//! replies go back on the connection the message came from, sends go on our outbound link
//! to the target. Garbage, oversized or invalid frames (see `message::validate`) drop that
//! one connection with one warning; the node and its other links carry on.
//!
//! An outbound link the state machine finds dead (`Action::ResetLink`: a ping pending and
//! no data for half the node timeout), or whose queue outgrows [`MAX_LINK_QUEUE_BYTES`], is
//! closed with a reset, discarding what is queued in the process and in the kernel: when
//! packets are dropped silently TCP keeps such a connection open for many minutes, and its
//! queue — every heartbeat of a long partition — used to be delivered in one burst of
//! stale frames when the network healed (issue #19).

use super::bus_auth::{self, Hello, Side};
use super::handle::Cluster;
use super::links::Direction;
use super::message::{self, Message};
use super::state::{Action, Source};
use crate::tls::Stream;
use bytes::BytesMut;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::sync::{mpsc, Notify};
use tracing::{debug, info, warn};

type Tx = mpsc::UnboundedSender<Vec<u8>>;

/// Where replies to a connection's frames go, with the bytes queued and not yet written: a
/// peer that keeps sending but never reads must not grow this node's memory. Past
/// [`MAX_LINK_QUEUE_BYTES`] the connection is closed.
struct Replies<'a> {
    tx: &'a Tx,
    queued: &'a AtomicUsize,
    /// An inbound connection's id in the link table (see `links.rs`): its frames tell
    /// which node it belongs to.
    inbound: Option<u64>,
}

/// Most bytes queued on one outbound link before it is reset: far more than a live link
/// ever holds (it drains in a round trip), far less than a dead one accumulates.
pub const MAX_LINK_QUEUE_BYTES: usize = 16 * 1024 * 1024;

struct Link {
    tx: Tx,
    ip: String,
    cport: u16,
    generation: u64,
    /// Bytes queued and not yet written to the socket.
    queued: Arc<AtomicUsize>,
    /// Closes the link (see the module doc).
    reset: Arc<Notify>,
}

/// What the bus needs to hand PUBLISH messages from other nodes to local subscribers:
/// channel, message, and whether it is sharded (SPUBLISH).
pub type Deliver = Arc<dyn Fn(Vec<u8>, Vec<u8>, bool) + Send + Sync>;
/// Switches replication when the cluster changes this node's role: follow a primary at
/// this address, or (`None`) become a primary.
pub type OnFollow = Arc<dyn Fn(Option<(String, u16)>) + Send + Sync>;
/// Deletes the keys of slots a newer config gave to another node (`Action::DropSlots`); runs
/// on its own thread, in batches, so the bus keeps answering meanwhile.
pub type OnSlotsLost = Arc<dyn Fn(Vec<u16>) + Send + Sync>;

struct Bus {
    cluster: Arc<Cluster>,
    links: Mutex<HashMap<String, Link>>,
    last_attempt: Mutex<HashMap<String, u64>>,
    next_gen: std::sync::atomic::AtomicU64,
    deliver: Option<Deliver>,
    on_follow: Option<OnFollow>,
    on_slots_lost: Option<OnSlotsLost>,
    /// `bind-source-addr` for outgoing links.
    source_addr: String,
    /// `tls-cluster yes`: links are mutual TLS with these contexts (current at connect time).
    tls: Option<Arc<crate::tls::Tls>>,
}

/// What the bus calls into the rest of the node for: it knows neither the keyspace nor the
/// subscribers, so each effect of a cluster change on them is handed in.
#[derive(Default)]
pub struct Hooks {
    pub deliver: Option<Deliver>,
    pub on_follow: Option<OnFollow>,
    pub on_slots_lost: Option<OnSlotsLost>,
}

/// Binds the bus listeners and starts the bus thread.
pub fn start(
    cluster: Arc<Cluster>,
    addrs: Vec<SocketAddr>,
    hooks: Hooks,
    source_addr: String,
    tls: Option<Arc<crate::tls::Tls>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut listeners = Vec::new();
    for a in &addrs {
        let l = std::net::TcpListener::bind(a)?;
        l.set_nonblocking(true)?;
        info!("Cluster bus listening on {a}");
        listeners.push(l);
    }
    let bus = Arc::new(Bus {
        cluster,
        links: Mutex::new(HashMap::new()),
        last_attempt: Mutex::new(HashMap::new()),
        next_gen: std::sync::atomic::AtomicU64::new(1),
        deliver: hooks.deliver,
        on_follow: hooks.on_follow,
        on_slots_lost: hooks.on_slots_lost,
        source_addr,
        tls,
    });
    std::thread::Builder::new()
        .name("cluster-bus".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    warn!("cluster bus runtime failed to start: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                for l in listeners {
                    match TcpListener::from_std(l) {
                        Ok(l) => {
                            tokio::spawn(accept(bus.clone(), l));
                        }
                        Err(e) => warn!("cluster bus listener: {e}"),
                    }
                }
                ticker(bus, shutdown).await;
            });
        })?;
    Ok(())
}

/// Most inbound bus connections at once. A cluster of N nodes needs N-1 (Redis Cluster is
/// specified up to 1000 nodes); each may buffer a frame of up to `MAX_FRAME`, so without a
/// cap anyone who reaches the bus port could hold memory without bound.
const MAX_INBOUND: usize = 1024;

/// Counts an inbound connection for as long as it lives.
struct InboundSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for InboundSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// New inbound bus connections accepted per second (with a burst of as many). A cluster
/// opens a handful of links and reopens them after a failure; thousands a second are a flood,
/// whose handshakes and teardowns would take the CPU that clients need (on 2 cores, 7,000
/// garbage connections a second raised clients' p99 from 0.4 to 3.3 ms). Past the rate the
/// listener stops accepting for a moment: the kernel's backlog fills and the flood's
/// connects wait, which slows the flood instead of the node.
const ACCEPTS_PER_SEC: f64 = 500.0;

async fn accept(bus: Arc<Bus>, listener: TcpListener) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut refused_logged = false;
    let mut tokens = ACCEPTS_PER_SEC;
    let mut last = tokio::time::Instant::now();
    loop {
        let now = tokio::time::Instant::now();
        tokens = (tokens + now.duration_since(last).as_secs_f64() * ACCEPTS_PER_SEC)
            .min(ACCEPTS_PER_SEC);
        last = now;
        if tokens < 1.0 {
            tokio::time::sleep(Duration::from_secs_f64((1.0 - tokens) / ACCEPTS_PER_SEC)).await;
            continue;
        }
        tokens -= 1.0;
        match listener.accept().await {
            Ok((stream, peer)) => {
                let n = open.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let slot = InboundSlot(open.clone());
                if n > MAX_INBOUND {
                    // Logged once per crowd, not once per connection.
                    if !refused_logged {
                        warn!("cluster bus: refusing inbound connections past {MAX_INBOUND} (latest from {peer})");
                        refused_logged = true;
                    }
                    drop(stream);
                    drop(slot);
                    continue;
                }
                refused_logged = false;
                let bus = bus.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    inbound(bus, stream, peer).await;
                });
                continue;
            }
            Err(e) => {
                warn!("cluster bus accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What a link's writer needs to sign frames (the bus secret, see `bus_auth.rs`): our
/// hello, which end we are, and the peer's hello once the reader has it.
struct Signing {
    hello: Vec<u8>,
    side: Side,
    peer: oneshot::Receiver<Hello>,
}

/// Writes queued frames to a socket until the queue closes or the socket fails, keeping
/// `queued` (bytes not yet written) when given. With the bus secret (our hello already sent
/// by [`send_hello`]), each frame is followed by its tag, made with the secrets current when
/// it is written.
async fn writer<W: AsyncWrite + Unpin>(
    bus: Arc<Bus>,
    mut w: W,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: Option<Arc<AtomicUsize>>,
    signing: Option<Signing>,
) {
    let mut sign = None;
    if let Some(sg) = signing {
        let Ok(peer) = sg.peer.await else {
            return;
        };
        sign = Some((sg.side, peer));
    }
    let mut seq: u64 = 0;
    while let Some(mut frame) = rx.recv().await {
        let len = frame.len();
        if let Some((side, peer)) = &sign {
            let Some(tag) = bus.cluster.auth.keys().sign(peer, *side, seq, &frame) else {
                // The secrets changed and the peer accepts none of ours: the link ends and
                // is redialed with a fresh hello.
                debug!("cluster bus: no secret shared with the peer any more, closing the link");
                break;
            };
            seq += 1;
            frame.extend_from_slice(&tag);
        }
        let ok = w.write_all(&frame).await.is_ok() && w.flush().await.is_ok();
        if let Some(q) = &queued {
            // Saturating: replies on this link are written here but were never counted.
            let _ = q.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(len))
            });
        }
        if !ok {
            break;
        }
    }
}

/// The reader's side of the bus secret: our nonce (the tags we check are made with it),
/// which end the peer is, and where to hand the peer's hello to our writer.
struct Checking {
    nonce: [u8; bus_auth::NONCE_LEN],
    peer_side: Side,
    /// Taken when the peer's hello has arrived.
    to_writer: Option<oneshot::Sender<Hello>>,
}

/// Sets up the bus secret on a new link when one is configured: (what the writer signs
/// with, what the reader checks with).
fn secure(bus: &Bus, side: Side) -> (Option<Signing>, Option<Checking>) {
    let keys = bus.cluster.auth.keys();
    if !keys.enabled() {
        return (None, None);
    }
    let (hello, nonce) = keys.hello();
    let (tx, rx) = oneshot::channel();
    let peer_side = match side {
        Side::Dialer => Side::Acceptor,
        Side::Acceptor => Side::Dialer,
    };
    (
        Some(Signing {
            hello,
            side,
            peer: rx,
        }),
        Some(Checking {
            nonce,
            peer_side,
            to_writer: Some(tx),
        }),
    )
}

/// Writes our hello (bus secret) before the link's reader and writer start: the peer then
/// always gets it, even when we refuse its own hello at once, and so can tell (and count)
/// why the link ended instead of seeing a bare close.
async fn send_hello(stream: &mut Stream, signing: &Option<Signing>) -> std::io::Result<()> {
    let Some(sg) = signing else {
        return Ok(());
    };
    stream.write_all(&sg.hello).await?;
    stream.flush().await
}

/// Reads frames and feeds them to the state machine until the connection ends, or until
/// nothing arrived for `idle` when given. With the bus secret (`checking`), the peer's
/// hello comes first and every frame's tag is checked before the frame is even decoded.
#[allow(clippy::too_many_arguments)]
async fn read_loop<R: AsyncRead + Unpin>(
    bus: &Bus,
    mut r: R,
    reply: Replies<'_>,
    src: Source,
    who: &str,
    peer_ip: Option<std::net::IpAddr>,
    idle: Option<Duration>,
    checking: Option<Checking>,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut check = checking;
    let mut seq: u64 = 0;
    let generation = bus.cluster.auth.generation();
    let refuse = |why: &str| {
        if bus.cluster.auth.refuse(peer_ip) {
            warn!("cluster bus: refused connection {who}: {why} (logged once per peer)");
        } else {
            debug!("cluster bus: refused connection {who}: {why}");
        }
    };
    loop {
        let read = match idle {
            Some(d) => match tokio::time::timeout(d, r.read_buf(&mut buf)).await {
                Ok(read) => read,
                Err(_) => {
                    debug!("closing idle cluster bus connection {who}");
                    return;
                }
            },
            None => r.read_buf(&mut buf).await,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if bus.cluster.auth.generation() != generation {
            debug!("cluster bus: the cluster secret changed, closing {who} to redial it");
            return;
        }
        // The peer's hello, once.
        if let Some(tx_slot) = check.as_mut().map(|c| &mut c.to_writer) {
            if tx_slot.is_some() {
                match bus_auth::parse_hello(&buf) {
                    Ok(None) => continue,
                    Ok(Some((hello, n))) => {
                        use bytes::Buf;
                        buf.advance(n);
                        if !bus.cluster.auth.keys().shares(&hello) {
                            return refuse("the peer holds a different cluster secret");
                        }
                        if let Some(tx) = tx_slot.take() {
                            let _ = tx.send(hello);
                        }
                    }
                    Err(e) => return refuse(&e),
                }
            }
        }
        loop {
            let before = buf.len();
            let decoded = match check.as_ref() {
                None => message::decode(&mut buf),
                Some(c) => {
                    if buf.len() < 4 {
                        break;
                    }
                    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                    if len > message::MAX_FRAME {
                        return refuse(&format!("frame of {len} bytes"));
                    }
                    if buf.len() < 4 + len + bus_auth::TAG_LEN {
                        break;
                    }
                    let mut frame = buf.split_to(4 + len);
                    let tag = buf.split_to(bus_auth::TAG_LEN);
                    if !bus
                        .cluster
                        .auth
                        .keys()
                        .verify(&c.nonce, c.peer_side, seq, &frame, &tag)
                    {
                        return refuse("a frame's tag does not match the cluster secret");
                    }
                    seq += 1;
                    message::decode(&mut frame)
                }
            };
            match decoded {
                Ok(Some(msg)) => {
                    bus.cluster
                        .traffic
                        .received(&msg.kind, before.saturating_sub(buf.len()));
                    bus.process(msg, src.clone(), &reply);
                    if reply.queued.load(Ordering::Relaxed) > MAX_LINK_QUEUE_BYTES {
                        warn!("dropping cluster bus connection {who}: {MAX_LINK_QUEUE_BYTES} bytes of replies unread");
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    warn!("dropping cluster bus connection {who}: {e}");
                    return;
                }
            }
        }
    }
}

async fn inbound(bus: Arc<Bus>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().map(|a| a.ip()).unwrap_or(peer.ip());
    // `tls-cluster`: the peer must present a certificate from the cluster CA.
    let mut stream = match &bus.tls {
        None => Stream::Plain(stream),
        Some(tls) => {
            let Some(ctx) = tls.get() else {
                return;
            };
            match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, ctx.bus.accept(stream)).await
            {
                Ok(Ok(s)) => Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(s))),
                Ok(Err(e)) => {
                    if bus.cluster.auth.refuse(Some(peer.ip())) {
                        warn!("cluster bus: TLS handshake with {peer} failed: {e} (logged once per peer)");
                    }
                    return;
                }
                Err(_) => return,
            }
        }
    };
    let (signing, checking) = secure(&bus, Side::Acceptor);
    if send_hello(&mut stream, &signing).await.is_err() {
        return;
    }
    let (r, w) = tokio::io::split(stream);
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let wt = tokio::spawn(writer(bus.clone(), w, rx, Some(queued.clone()), signing));
    let src = Source::Inbound {
        peer: peer.ip(),
        local,
    };
    // A peer pings on its link at least every second; one that sent nothing for four node
    // timeouts has given the link up, and its close (a RST) may have been lost in a
    // partition: without this the connection and its task would stay forever.
    let timeout = bus.cluster.state.lock().node_timeout();
    let idle = Duration::from_millis((4 * timeout).max(2000));
    let link = bus.next_gen.fetch_add(1, Ordering::Relaxed);
    let links = &bus.cluster.links;
    links.open(
        link,
        Direction::From,
        None,
        bus.cluster.now(),
        queued.clone(),
    );
    let replies = Replies {
        tx: &tx,
        queued: &queued,
        inbound: Some(link),
    };
    read_loop(
        &bus,
        r,
        replies,
        src,
        &peer.to_string(),
        Some(peer.ip()),
        Some(idle),
        checking,
    )
    .await;
    links.close(link);
    drop(tx);
    wt.abort();
    debug!("cluster bus inbound connection from {peer} closed");
}

#[allow(clippy::too_many_arguments)]
async fn outbound(
    bus: Arc<Bus>,
    id: String,
    ip: String,
    cport: u16,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    tx: Tx,
    generation: u64,
    queued: Arc<AtomicUsize>,
    reset: Arc<Notify>,
) {
    // One ping interval, not the node timeout: a SYN lost in an outage is retransmitted
    // only after a second, so a short connect timeout and a fresh attempt every interval
    // (reconcile_links) reconnect within about an interval of the network coming back.
    let timeout = {
        let s = bus.cluster.state.lock();
        Duration::from_millis(s.ping_interval().clamp(50, s.node_timeout().max(50)))
    };
    let addr = format!(
        "{}:{cport}",
        if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.clone()
        }
    );
    let source = bus.source_addr.clone();
    let stream =
        match tokio::time::timeout(timeout, crate::util::connect_from(&addr, &source)).await {
            Ok(Ok(s)) => s,
            _ => {
                debug!("cluster bus: could not connect to {id} at {addr}");
                bus.drop_link(&id, generation);
                return;
            }
        };
    let _ = stream.set_nodelay(true);
    // Closing this link must discard what the kernel still holds for it (a RST, not a
    // FIN after the queued data): we only close it when it is dead or reset, and its data
    // would otherwise reach the peer as stale frames after a partition heals.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    let peer_ip = stream.peer_addr().ok().map(|a| a.ip());
    let mut stream = match &bus.tls {
        None => Stream::Plain(stream),
        Some(tls) => {
            let connected = match tls.get() {
                Some(ctx) => tokio::time::timeout(timeout, ctx.connect(stream, &ip))
                    .await
                    .map_err(|_| std::io::Error::other("handshake timed out"))
                    .and_then(|r| r),
                None => Err(std::io::Error::other("TLS is not configured")),
            };
            match connected {
                Ok(s) => s,
                Err(e) => {
                    debug!("cluster bus: TLS handshake with {id} at {addr} failed: {e}");
                    bus.drop_link(&id, generation);
                    return;
                }
            }
        }
    };
    let (signing, checking) = secure(&bus, Side::Dialer);
    if send_hello(&mut stream, &signing).await.is_err() {
        bus.drop_link(&id, generation);
        return;
    }
    {
        let mut s = bus.cluster.state.lock();
        let now = bus.cluster.now();
        s.set_link(&id, true, now);
    }
    let (r, w) = tokio::io::split(stream);
    let wt = tokio::spawn(writer(bus.clone(), w, rx, Some(queued.clone()), signing));
    let replies = Replies {
        tx: &tx,
        queued: &queued,
        inbound: None,
    };
    tokio::select! {
        _ = read_loop(&bus, r, replies, Source::Outbound(id.clone()), &id, peer_ip, None, checking) => {}
        _ = reset.notified() => debug!("cluster bus link to {id} reset"),
    }
    wt.abort();
    bus.drop_link(&id, generation);
}

impl Bus {
    fn process(&self, msg: Message, src: Source, reply: &Replies<'_>) {
        let unbound = reply
            .inbound
            .filter(|&link| self.cluster.links.unbound(link))
            .map(|link| (link, msg.sender.id.clone()));
        let actions = {
            let mut s = self.cluster.state.lock();
            let now = self.cluster.now();
            let a = s.handle(msg, src, now);
            // An inbound link belongs to the first sender on it that we know as a member
            // (Redis ties `inbound_link` the same way); a handshake is not enough.
            if let Some((link, sender)) = unbound {
                if s.nodes().get(&sender).is_some_and(|n| !n.handshake) {
                    self.cluster.links.bind(link, &sender);
                }
            }
            if s.needs_save() {
                self.cluster.publish(&mut s);
            }
            (a, self.cluster.drain_events(&mut s))
        };
        self.execute(actions.0, Some(reply));
        self.execute(actions.1, None);
    }

    fn execute(&self, actions: Vec<Action>, reply: Option<&Replies<'_>>) {
        for a in actions {
            match a {
                Action::Reply(m) => {
                    if let Some(r) = reply {
                        let frame = message::encode(&m);
                        self.cluster.traffic.sent(&m.kind, frame.len());
                        r.queued.fetch_add(frame.len(), Ordering::Relaxed);
                        let _ = r.tx.send(frame);
                    }
                }
                Action::Send(id, m) => {
                    if let Some(l) = self.links.lock().get(&id) {
                        let frame = message::encode(&m);
                        let len = frame.len();
                        self.cluster.traffic.sent(&m.kind, len);
                        if l.queued.fetch_add(len, Ordering::Relaxed) + len > MAX_LINK_QUEUE_BYTES {
                            l.queued.fetch_sub(len, Ordering::Relaxed);
                            warn!("cluster bus link to {id} has {MAX_LINK_QUEUE_BYTES} bytes queued: resetting it");
                            l.reset.notify_one();
                        } else {
                            let _ = l.tx.send(frame);
                        }
                    }
                }
                Action::ResetLink(id) => {
                    if let Some(l) = self.links.lock().get(&id) {
                        l.reset.notify_one();
                    }
                }
                Action::Deliver {
                    channel,
                    message,
                    shard,
                } => {
                    if let Some(d) = &self.deliver {
                        d(channel, message, shard);
                    }
                }
                Action::SaveNow => {
                    let mut s = self.cluster.state.lock();
                    if let Err(e) = self.cluster.save_now(&mut s) {
                        warn!("{e}");
                    }
                    self.cluster.publish(&mut s);
                }
                Action::Follow(target) => {
                    if let Some(f) = &self.on_follow {
                        f(target);
                    }
                }
                Action::DropSlots(slots) => {
                    if let Some(f) = self.on_slots_lost.clone() {
                        let spawned = std::thread::Builder::new()
                            .name("drop-lost-slots".into())
                            .spawn(move || f(slots));
                        if let Err(e) = spawned {
                            warn!("cannot start deleting the keys of lost slots: {e}");
                        }
                    }
                }
            }
        }
    }

    fn drop_link(&self, id: &str, generation: u64) {
        let mut links = self.links.lock();
        if links.get(id).is_some_and(|l| l.generation == generation) {
            links.remove(id);
            self.cluster.links.close(generation);
            drop(links);
            let now = self.cluster.now();
            self.cluster.state.lock().set_link(id, false, now);
        }
    }

    /// Opens links to nodes that have none (with a retry pace), closes links to nodes that
    /// are gone or moved.
    fn reconcile_links(self: &Arc<Self>, now: u64) {
        let (targets, retry): (Vec<(String, String, u16)>, u64) = {
            let s = self.cluster.state.lock();
            (
                s.nodes()
                    .values()
                    .filter(|n| n.id != s.myself() && !n.ip.is_empty())
                    .map(|n| (n.id.clone(), n.ip.clone(), n.cport))
                    .collect(),
                s.ping_interval(),
            )
        };
        let mut links = self.links.lock();
        links.retain(|id, l| {
            let keep = targets
                .iter()
                .any(|(t, ip, cp)| t == id && *ip == l.ip && *cp == l.cport);
            if !keep {
                self.cluster.links.close(l.generation);
            }
            keep
        });
        let mut attempts = self.last_attempt.lock();
        attempts.retain(|id, _| targets.iter().any(|(t, _, _)| t == id));
        for (id, ip, cport) in targets {
            if links.contains_key(&id) {
                continue;
            }
            let last = attempts.get(&id).copied().unwrap_or(0);
            if last != 0 && now.saturating_sub(last) < retry {
                continue;
            }
            attempts.insert(id.clone(), now);
            let (tx, rx) = mpsc::unbounded_channel();
            let generation = self.next_gen.fetch_add(1, Ordering::Relaxed);
            let queued = Arc::new(AtomicUsize::new(0));
            let reset = Arc::new(Notify::new());
            self.cluster.links.open(
                generation,
                Direction::To,
                Some(id.clone()),
                now,
                queued.clone(),
            );
            links.insert(
                id.clone(),
                Link {
                    tx: tx.clone(),
                    ip: ip.clone(),
                    cport,
                    generation,
                    queued: queued.clone(),
                    reset: reset.clone(),
                },
            );
            tokio::spawn(outbound(
                self.clone(),
                id,
                ip,
                cport,
                rx,
                tx,
                generation,
                queued,
                reset,
            ));
        }
    }
}

async fn ticker(bus: Arc<Bus>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut next_tick = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_tick) => {}
            // Actions queued by command handlers (PUBLISH, SPUBLISH) go out at once; the
            // tick keeps its own deadline, so a stream of them cannot hold heartbeats back.
            _ = bus.cluster.outbox_ready.notified() => {
                let queued = bus.cluster.take_outbox();
                if !queued.is_empty() {
                    bus.execute(queued, None);
                }
                continue;
            }
            _ = shutdown.changed() => {
                let mut s = bus.cluster.state.lock();
                s.mark_needs_save();
                let _ = bus.cluster.save_now(&mut s);
                return;
            }
        }
        let interval = bus.cluster.state.lock().ping_interval();
        next_tick =
            tokio::time::Instant::now() + Duration::from_millis((interval / 4).clamp(5, 100));
        let now = bus.cluster.now();
        bus.reconcile_links(now);
        let queued = bus.cluster.take_outbox();
        if !queued.is_empty() {
            bus.execute(queued, None);
        }
        let actions = {
            let offset = bus
                .cluster
                .repl_offset
                .load(std::sync::atomic::Ordering::Relaxed);
            let mut s = bus.cluster.state.lock();
            s.set_my_offset(offset);
            let mut a = s.tick(now);
            bus.cluster.publish(&mut s);
            a.extend(bus.cluster.drain_events(&mut s));
            a
        };
        bus.execute(actions, None);
    }
}
