//! A small lab of network namespaces for partition tests: each host gets its own namespace
//! with one address on a private bridge in the test's own sandbox; cutting a host takes its
//! link to the bridge down (a real partition: no resets, packets just stop).
//!
//! [`NetLab::isolate`] is the other kind of partition: DROP rules inside the host's namespace
//! make every packet to or from it vanish silently while the link stays up, so established
//! TCP connections neither fail nor reset; they retransmit with a growing backoff and resume
//! after the heal with whatever was queued meanwhile. That is what a real network does, and
//! it is a different failure from a link taken down.
//!
//! Needs `ip netns` (iproute2), `iptables` for [`NetLab::isolate`], and the right to create
//! namespaces; [`NetLab::new`] says why when it cannot, and the tests that need it fail with
//! that reason.

use std::process::Command;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("timeout")
        .arg("40")
        .arg("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e} (install iproute2)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub struct NetLab {
    tag: String,
    subnet: u8,
    hosts: usize,
}

impl NetLab {
    /// Creates `hosts` namespaces on one bridge. Addresses are 10.213.S.(11 + i), with S
    /// derived from the process id so concurrent runs do not collide.
    pub fn new(hosts: usize) -> Result<NetLab, String> {
        let pid = std::process::id();
        let lab = NetLab {
            tag: format!("sc{}", pid % 100_000),
            subnet: (pid % 200 + 20) as u8,
            hosts,
        };
        let br = lab.bridge();
        ip(&["link", "add", &br, "type", "bridge"])?;
        ip(&["link", "set", &br, "up"])?;
        ip(&[
            "addr",
            "add",
            &format!("10.213.{}.1/24", lab.subnet),
            "dev",
            &br,
        ])?;
        for i in 0..hosts {
            let ns = lab.ns(i);
            let (v, p) = (lab.veth(i), format!("{}p{i}", lab.tag));
            ip(&["netns", "add", &ns])?;
            ip(&["link", "add", &v, "type", "veth", "peer", "name", &p])?;
            ip(&["link", "set", &p, "netns", &ns])?;
            ip(&["link", "set", &v, "master", &br])?;
            ip(&["link", "set", &v, "up"])?;
            ip(&[
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{}/24", lab.ip(i)),
                "dev",
                &p,
            ])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", &p, "up"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(lab)
    }

    /// Host `i`'s network device inside its namespace (for tc).
    pub fn dev(&self, i: usize) -> String {
        format!("{}p{i}", self.tag)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn veth(&self, i: usize) -> String {
        format!("{}v{i}", self.tag)
    }

    pub fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.tag)
    }

    pub fn ip(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.subnet, 11 + i)
    }

    /// The address host `i` moves to with [`NetLab::readdress`].
    pub fn other_ip(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.subnet, 111 + i)
    }

    /// Moves host `i` between its two addresses ([`NetLab::ip`] and [`NetLab::other_ip`]),
    /// as a rescheduled pod comes back with a new IP. Whatever is
    /// bound to the old address stops being reachable.
    pub fn readdress(&self, i: usize, to: &str) -> Result<(), String> {
        let ns = self.ns(i);
        let dev = format!("{}p{i}", self.tag);
        for old in [self.ip(i), self.other_ip(i)] {
            if old != to {
                // Absent already is fine: only the other address must go.
                let _ = ip(&[
                    "netns",
                    "exec",
                    &ns,
                    "ip",
                    "addr",
                    "del",
                    &format!("{old}/24"),
                    "dev",
                    &dev,
                ]);
            }
        }
        ip(&[
            "netns",
            "exec",
            &ns,
            "ip",
            "addr",
            "replace",
            &format!("{to}/24"),
            "dev",
            &dev,
        ])
    }

    /// The command prefix that runs a program inside host `i`'s namespace.
    pub fn prefix(&self, i: usize) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), self.ns(i)]
    }

    /// Cuts host `i` off from every other host (and from the test process).
    pub fn cut(&self, i: usize) -> Result<(), String> {
        ip(&["link", "set", &self.veth(i), "down"])
    }

    pub fn heal(&self, i: usize) -> Result<(), String> {
        ip(&["link", "set", &self.veth(i), "up"])
    }

    /// Silently drops every packet to and from host `i` (loopback excepted) with iptables
    /// rules inside its namespace: connections stay open and nothing is refused.
    pub fn isolate(&self, i: usize) -> Result<(), String> {
        self.iptables(i, "-I", "INPUT", "-i")?;
        self.iptables(i, "-I", "OUTPUT", "-o")
    }

    /// Removes the rules [`NetLab::isolate`] installed.
    pub fn rejoin(&self, i: usize) -> Result<(), String> {
        let a = self.iptables(i, "-D", "INPUT", "-i");
        let b = self.iptables(i, "-D", "OUTPUT", "-o");
        a.and(b)
    }

    /// Silently drops every packet between hosts `i` and `j` (rules inside `i`'s namespace);
    /// both keep reaching everyone else, the test process included. Partitions of any shape
    /// (halves, a bridge node) are sets of such pairs.
    pub fn block(&self, i: usize, j: usize) -> Result<(), String> {
        let peer = self.ip(j);
        self.iptables_peer(i, "-I", "INPUT", "-s", &peer)?;
        self.iptables_peer(i, "-I", "OUTPUT", "-d", &peer)
    }

    /// Removes the rules [`NetLab::block`] installed.
    pub fn unblock(&self, i: usize, j: usize) -> Result<(), String> {
        let peer = self.ip(j);
        let a = self.iptables_peer(i, "-D", "INPUT", "-s", &peer);
        let b = self.iptables_peer(i, "-D", "OUTPUT", "-d", &peer);
        a.and(b)
    }

    fn iptables_peer(
        &self,
        i: usize,
        op: &str,
        chain: &str,
        dir: &str,
        peer: &str,
    ) -> Result<(), String> {
        let ns = self.ns(i);
        ip(&[
            "netns", "exec", &ns, "iptables", "-w", "30", op, chain, dir, peer, "-j", "DROP",
        ])
        .map_err(|e| format!("{e} (are iptables and its nf_tables/xt modules available?)"))
    }

    fn iptables(&self, i: usize, op: &str, chain: &str, dir: &str) -> Result<(), String> {
        let ns = self.ns(i);
        ip(&[
            "netns", "exec", &ns, "iptables", "-w", "30", op, chain, "!", dir, "lo", "-j", "DROP",
        ])
        .map_err(|e| format!("{e} (are iptables and its nf_tables/xt modules available?)"))
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for i in 0..self.hosts {
            let _ = ip(&["link", "del", &self.veth(i)]);
            let _ = ip(&["netns", "del", &self.ns(i)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}
