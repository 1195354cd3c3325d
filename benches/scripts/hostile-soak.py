#!/usr/bin/env python3
"""Hostile-client soak: a well-behaved redis-benchmark client's p99 while a swarm attacks the
node (client port and bus port), against a baseline in which a benign load of the same CPU
cost replaces the swarm: the same server CPU (a controller paces the benign clients) and the
same load-generator CPU (a burner process makes up what the benign clients spend less than the
swarm's threads did), since on 2 cores the attackers' own CPU is taken from the server and
from redis-benchmark as much as the server's work is. Reports both p99s, the node's peak RSS against the stated bound,
and whether the dataset survived (DBSIZE and DEBUG DIGEST before and after).

    python3 benches/scripts/hostile-soak.py --seconds 300

The swarm: malformed frames, huge headers, unauthenticated floods, slow-loris connections,
clients that never read, commands built to hurt (backtracking globs, huge counts), and garbage
on the bus port. Everything runs on loopback, every loop is bounded by the phase's end, and
the server is killed at exit.

RSS bound: dataset RSS (measured after loading) + maxmemory-clients (every client's buffers
together, pre-authentication caps included) + 64 MB.
"""
import argparse, multiprocessing, os, random, re, resource, signal, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PW = "soakpw"


def free_port():
    for _ in range(100):
        p = random.randint(13000, 21000)
        ok = True
        for q in (p, p + 10000):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise SystemExit("no free port")


def cli(port, *args, timeout=30):
    r = subprocess.run(["timeout", str(timeout), "redis-cli", "-p", str(port), "-a", PW,
                        "--no-auth-warning", *args], capture_output=True, text=True)
    return r.stdout.strip()


def info(port, section, field):
    m = re.search(rf"^{field}:(.*)$", cli(port, "INFO", section), re.M)
    return m.group(1).strip() if m else ""


def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    return int(l.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu():
    """CPU seconds of this process's threads (the swarm or the benign clients), not children."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def burn(duty, stop):
    """Spins for `duty` of every 10 ms until `stop`: load-generator CPU with no traffic."""
    while not stop.is_set():
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.01 * duty.value:
            pass
        time.sleep(max(0.0, 0.01 * (1 - duty.value)))


def raw(port, data, read=True, timeout=0.5):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(data)
        if read:
            try:
                s.recv(4096)
            except OSError:
                pass
        s.close()
    except OSError:
        pass


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


AUTH = resp("AUTH", PW)
BENIGN_LOG = os.path.join(tempfile.gettempdir(), "hostile-soak-benign.log")


class Swarm:
    """Attackers, each a thread looping until `stop`."""

    def __init__(self, port, stop):
        self.port, self.stop = port, stop

    def malformed(self):
        rng = random.Random(1)
        while not self.stop.is_set():
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
            raw(self.port, rng.choice([b"*", b"$", b""]) + junk)

    def huge_headers(self):
        while not self.stop.is_set():
            raw(self.port, b"*1\r\n$536870000\r\n")
            raw(self.port, b"*99999999\r\n")
            raw(self.port, AUTH + b"*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$500000000\r\n" + b"x" * 4096)

    def unauth_flood(self):
        while not self.stop.is_set():
            raw(self.port, resp("GET", "k") * 200 + resp("AUTH", "wrong") * 50)

    def slow_loris(self):
        conns = []
        while not self.stop.is_set():
            while len(conns) < 200 and not self.stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                    s.setblocking(False)
                    conns.append(s)
                except OSError:
                    break
            for s in list(conns):
                try:
                    s.send(b"*")
                except OSError:
                    conns.remove(s)
            self.stop.wait(2)
        for s in conns:
            s.close()

    def never_read(self):
        while not self.stop.is_set():
            socks = []
            for _ in range(10):
                try:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    s.setblocking(False)
                    try:
                        s.send(AUTH + resp("GET", "soak:big:0") * 100)
                    except OSError:
                        pass
                    socks.append(s)
                except OSError:
                    pass
            self.stop.wait(3)
            for s in socks:
                s.close()

    def hurtful_commands(self):
        cmds = [
            resp("SCAN", "0", "MATCH", "*a" * 30 + "b", "COUNT", "100"),
            resp("SSCAN", "soak:s", "0", "MATCH", "*a" * 30 + "b"),
            resp("ZRANDMEMBER", "soak:z", "-9223372036854770000"),
            resp("SRANDMEMBER", "soak:s", "-16000000"),
            resp("COMMAND", "GETKEYS", "LMPOP", "9223372036854775807", "a", "LEFT"),
            resp("SCAN", "0", "MATCH", "*" * 100000 + "x", "COUNT", "100"),
            resp("CLUSTER", "ADDSLOTSRANGE", *([0, 16383] * 2000)),
            b"GET k\x00junk\r\n",
        ]
        while not self.stop.is_set():
            raw(self.port, AUTH + random.choice(cmds), timeout=2)

    def bus_garbage(self):
        rng = random.Random(2)
        while not self.stop.is_set():
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
            raw(self.port + 10000, rng.choice([b"\x00\x00\x01\x00", b"\xff\xff\xff\xff", b""]) + junk,
                read=False)

    def threads(self):
        return [self.malformed, self.huge_headers, self.unauth_flood, self.slow_loris,
                self.never_read, self.hurtful_commands, self.bus_garbage]


class Benign:
    """The baseline's load: valid, authenticated GET pipelines from a second redis-benchmark
    (C, so the load is not limited by Python's interpreter lock), paced by stopping and
    continuing it (`duty`: the share of every 20 ms it runs), which the controller adjusts so
    the server spends on it what it spent on the swarm. The duty persists across segments."""

    def __init__(self, port, stop):
        self.port, self.stop, self.duty, self.proc, self.last_cpu = port, stop, 0.3, None, 0.0
        self.early_exits = 0

    def start(self):
        self.last_cpu = 0.0
        self.proc = subprocess.Popen(["redis-benchmark", "-p", str(self.port), "-a", PW, "-t", "get",
                                      "-r", "100000", "-n", "2000000000", "-c", "8", "-P", "16", "-q"],
                                     stdout=subprocess.DEVNULL, stderr=open(BENIGN_LOG, "a"))

    def cpu(self):
        # The last reading once the process is gone (it is read once more after it ends).
        try:
            self.last_cpu = cpu_secs(self.proc.pid) if self.proc else self.last_cpu
        except OSError:
            pass
        return self.last_cpu

    def finish(self):
        if self.proc and self.proc.poll() is not None:
            self.early_exits += 1
        if self.proc:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def pacer(self):
        while not self.stop.is_set():
            self.proc.send_signal(signal.SIGCONT)
            self.stop.wait(0.02 * self.duty)
            if self.duty < 1.0:
                self.proc.send_signal(signal.SIGSTOP)
            self.stop.wait(0.02 * (1 - self.duty))

    def threads(self):
        return [self.pacer]


def bench_p99(port, stop_at):
    """Runs redis-benchmark rounds until `stop_at`; returns the p99s (ms) of GET rounds."""
    p99s = []
    while time.time() < stop_at - 1:
        out = subprocess.run(["timeout", "60", "redis-benchmark", "-p", str(port), "-a", PW,
                              "-t", "get", "-r", "100000", "-n", "20000", "-c", "10", "--csv"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            cols = [c.strip('"') for c in line.split(",")]
            if cols and cols[0] == "GET" and len(cols) >= 7:
                p99s.append(float(cols[6]))
    return p99s


class StateWatch:
    """Polls CLUSTER INFO every 200 ms over one authenticated connection for the whole run:
    a swarm must not take the node's cluster state down (a one-node cluster with every slot
    stays ok), nor stall a cheap command for long."""

    def __init__(self, port):
        self.port, self.stop, self.fails, self.slowest = port, threading.Event(), [], 0.0
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            s.sendall(AUTH)
            s.recv(100)
            while not self.stop.wait(0.2):
                t0 = time.time()
                s.sendall(resp("CLUSTER", "INFO"))
                buf = b""
                while b"cluster_state" not in buf or not buf.endswith(b"\r\n\r\n"):
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                self.slowest = max(self.slowest, time.time() - t0)
                if b"cluster_state:ok" not in buf:
                    self.fails.append(time.strftime("%H:%M:%S"))
        except OSError as e:
            self.fails.append(f"watch connection lost: {e}")


class Burner:
    """A process that spins for a duty cycle the controller sets: load-generator CPU with no
    traffic. Started once, before any thread (a fork from a threaded process is unsafe), and
    idle (duty 0) during swarm segments."""

    def __init__(self):
        self.stop, self.duty = multiprocessing.Event(), multiprocessing.Value("d", 0.0)
        self.proc = multiprocessing.Process(target=burn, args=(self.duty, self.stop), daemon=True)
        self.proc.start()

    def cpu(self):
        return cpu_secs(self.proc.pid)

    def close(self):
        self.stop.set()
        self.proc.join(5)


def segment(port, pid, load, seconds, burner, only=(), target_cpu=None, target_gen_cpu=None):
    """Runs one segment of `load` (a Swarm or a Benign whose pace persists across segments);
    returns the GET p99s, the server's CPU rate, its peak RSS and the load generator's CPU rate
    (this process's threads plus the burner). For a Benign load a controller steers the
    server's CPU toward `target_cpu` and, with the burner, the generator's toward
    `target_gen_cpu`."""
    load.stop.clear()
    if isinstance(load, Benign):
        load.start()
    threads = load.threads()
    if only and isinstance(load, Swarm):
        threads = [t for t in threads if t.__name__ in only]
    if not isinstance(load, Benign):
        burner.duty.value = 0.0
    ts = [threading.Thread(target=t, daemon=True) for t in threads]
    for t in ts:
        t.start()
    gen_cpu = lambda: self_cpu() + burner.cpu() + (load.cpu() if isinstance(load, Benign) else 0.0)
    start, c0, g0 = time.time(), cpu_secs(pid), gen_cpu()
    peak = [0]
    done = threading.Event()

    def watch():
        last_t, last_c, last_g = time.time(), cpu_secs(pid), gen_cpu()
        while not done.is_set():
            peak[0] = max(peak[0], rss(pid))
            done.wait(1)
            now, c, g = time.time(), cpu_secs(pid), gen_cpu()
            dt = max(now - last_t, 1e-3)
            rate, grate = (c - last_c) / dt, (g - last_g) / dt
            last_t, last_c, last_g = now, c, g
            if target_cpu is not None and isinstance(load, Benign):
                # Feedback: less running time when the server works harder than during the swarm.
                load.duty = min(1.0, max(0.01, load.duty * (0.87 if rate > target_cpu else 1.15)))
            if target_gen_cpu is not None:
                # The burner makes up the generator CPU the benign clients do not spend.
                step = 0.03 if grate < target_gen_cpu else -0.03
                burner.duty.value = min(0.95, max(0.0, burner.duty.value + step))

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    p99s = bench_p99(port, start + seconds)
    load.stop.set()
    for t in ts:
        t.join(10)
    done.set()
    w.join(5)
    burner.duty.value = 0.0
    elapsed = time.time() - start
    result = p99s, (cpu_secs(pid) - c0) / elapsed, peak[0], (gen_cpu() - g0) / elapsed
    if isinstance(load, Benign):
        load.finish()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=300,
                    help="total swarm time; the baseline gets as much, in alternating segments")
    ap.add_argument("--segment", type=int, default=30,
                    help="length of each swarm or baseline segment; alternating them exposes both "
                         "to the same background noise")
    ap.add_argument("--server-bin", default=os.path.join(ROOT, "target/release/slotcache-server"))
    ap.add_argument("--maxmemory-clients", default="128mb")
    ap.add_argument("--server-cpu-only", action="store_true",
                    help="baseline matches the server's CPU only (no burner for the generator's)")
    ap.add_argument("--only", default="", help="comma-separated attackers (e.g. malformed,slow_loris); default all")
    a = ap.parse_args()
    burner = Burner()
    port = free_port()
    keep = True
    d = tempfile.mkdtemp(prefix="soak-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    srv = subprocess.Popen([a.server_bin, "--port", str(port),
                            "--dir", d, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
                            "--requirepass", PW, "--maxclients", "2000",
                            "--maxmemory-clients", a.maxmemory_clients,
                            "--client-output-buffer-limit", "normal 16mb 8mb 10",
                            "--enable-debug-command", "local", "--logfile", os.path.join(d, "log")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if cli(port, "PING") == "PONG":
                break
            time.sleep(0.1)
        pid = srv.pid
        cli(port, "CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        cli(port, "DEBUG", "POPULATE", "100000", "key", "32")
        cli(port, "DEBUG", "POPULATE", "1", "soak:big", "1000000")
        cli(port, "ZADD", "soak:z", "1", "a")
        cli(port, "SADD", "soak:s", "m" * 1000)
        time.sleep(1)
        dataset_rss = rss(pid)
        mmc = int(re.sub(r"mb$", "", a.maxmemory_clients)) << 20
        bound = dataset_rss + mmc + (64 << 20)
        before = (cli(port, "DBSIZE"), cli(port, "DEBUG", "DIGEST"))
        print(f"port {port}; dataset RSS {dataset_rss >> 20} MB; RSS bound {bound >> 20} MB", flush=True)
        only = tuple(x for x in a.only.split(",") if x)
        swarm, benign = Swarm(port, threading.Event()), Benign(port, threading.Event())
        watch = StateWatch(port)
        runs = {"swarm": [], "baseline": []}
        pair_ratios, alive = [], True
        med = lambda v: sorted(v)[len(v) // 2] if v else float("nan")
        segs = max(1, a.seconds // a.segment)
        for i in range(segs):
            s = segment(port, pid, swarm, a.segment, burner, only=only)
            alive = alive and cli(port, "PING") == "PONG"
            b = segment(port, pid, benign, a.segment, burner, target_cpu=s[1],
                        target_gen_cpu=None if a.server_cpu_only else s[3])
            runs["swarm"].append(s)
            runs["baseline"].append(b)
            if s[0] and b[0]:
                pair_ratios.append(med(s[0]) / med(b[0]))
            print(f"segment {i + 1}/{segs}: GET p99 swarm {med(s[0]):.3f} ms / baseline {med(b[0]):.3f} ms; "
                  f"server CPU {s[1]:.2f} / {b[1]:.2f}; generator CPU {s[3]:.2f} / {b[3]:.2f}", flush=True)
        after = (cli(port, "DBSIZE"), cli(port, "DEBUG", "DIGEST"))
        evicted = info(port, "stats", "evicted_clients")
        summary = {}
        for kind, segs_ in runs.items():
            p99s = [x for r in segs_ for x in r[0]]
            n = len(segs_)
            summary[kind] = (p99s, sum(r[1] for r in segs_) / n, max(r[2] for r in segs_),
                             sum(r[3] for r in segs_) / n)
            worst = max(p99s) if p99s else float("nan")
            print(f"{kind + ':':9} {len(p99s)} benchmark rounds, GET p99 median {med(p99s):.3f} ms "
                  f"(worst {worst:.3f}), server CPU {summary[kind][1]:.2f} cores, load generator CPU "
                  f"{summary[kind][3]:.2f} cores, peak RSS {summary[kind][2] >> 20} MB")
        ratio = med(summary["swarm"][0]) / med(summary["baseline"][0]) if summary["baseline"][0] else float("nan")
        print(f"p99 ratio swarm/baseline: {ratio:.2f} over all rounds; median of the segment pairs "
              f"{med(pair_ratios):.2f} (target <= 2)")
        peak = max(summary["swarm"][2], summary["baseline"][2])
        print(f"node alive throughout the swarm: {alive}; dataset before {before}, after {after}: "
              f"{'unchanged' if before == after else 'CHANGED'}; evicted_clients {evicted}")
        print(f"peak RSS {peak >> 20} MB against the bound {bound >> 20} MB: "
              f"{'within' if peak <= bound else 'OVER'}")
        watch.stop.set()
        print(f"cluster_state polled every 200 ms: not ok {len(watch.fails)} times {watch.fails[:5]}; slowest "
              f"CLUSTER INFO {watch.slowest * 1000:.0f} ms; the benign load stopped early {benign.early_exits} "
              f"times (its errors: {BENIGN_LOG})")
        ok = alive and before == after and ratio <= 2 and peak <= bound and not watch.fails
        keep = not ok
        sys.exit(0 if ok else 1)
    finally:
        srv.kill()
        srv.wait()
        burner.close()
        if keep:
            print(f"the node's directory (log, config) is kept in {d}")
        else:
            subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
