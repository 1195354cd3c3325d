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
import argparse, multiprocessing, os, random, re, resource, socket, subprocess, sys, tempfile, threading, time

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


def complete_replies(buf):
    """Counts the complete bulk/nil/simple replies at the start of `buf`; returns the count
    and the bytes left over."""
    n, i = 0, 0
    while True:
        j = buf.find(b"\r\n", i)
        if j < 0:
            return n, buf[i:]
        if buf[i:i + 1] == b"$" and buf[i + 1:j] != b"-1":
            end = j + 2 + int(buf[i + 1:j]) + 2
            if len(buf) < end:
                return n, buf[i:]
            i = end
        else:
            i = j + 2
        n += 1


class Benign:
    """Authenticated clients sending valid pipelines; `pause` (seconds between rounds) is
    adjusted so the server spends on them what it spent on the swarm."""

    def __init__(self, port, stop, workers=8):
        self.port, self.stop, self.workers, self.pause = port, stop, workers, 0.01

    def worker(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(AUTH)
            s.recv(100)
            batch = b"".join(resp("GET", f"key:{i}") for i in range(50))
            while not self.stop.is_set():
                s.sendall(batch)
                # Reads until all 50 replies are complete (bulk or nil; a reply may be split
                # across reads, so whole replies are counted on the accumulated bytes).
                buf, got = b"", 0
                while got < 50:
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                    n, buf = complete_replies(buf)
                    got += n
                self.stop.wait(self.pause)
        except OSError:
            pass

    def threads(self):
        return [self.worker] * self.workers


def bench_p99(port, seconds, stop_at):
    """Runs redis-benchmark rounds until `stop_at`; returns the p99s (ms) of GET rounds."""
    p99s = []
    while time.time() < stop_at - 5:
        out = subprocess.run(["timeout", "60", "redis-benchmark", "-p", str(port), "-a", PW,
                              "-t", "get", "-r", "100000", "-n", "20000", "-c", "10", "--csv"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            cols = [c.strip('"') for c in line.split(",")]
            if cols and cols[0] == "GET" and len(cols) >= 7:
                p99s.append(float(cols[6]))
    return p99s


def phase(port, pid, kind, seconds, target_cpu=None, target_gen_cpu=None, only=()):
    """Runs one phase; returns the GET p99s, the server's CPU rate, its peak RSS and the load
    generator's CPU rate (this process's threads plus the burner)."""
    stop = threading.Event()
    load = Swarm(port, stop) if kind == "swarm" else Benign(port, stop)
    threads = load.threads()
    if only and kind == "swarm":
        threads = [t for t in threads if t.__name__ in only]
    # The burner is started before any load thread: a fork from a threaded process is unsafe.
    burner, burner_stop, duty = None, multiprocessing.Event(), multiprocessing.Value("d", 0.0)
    if target_gen_cpu is not None:
        burner = multiprocessing.Process(target=burn, args=(duty, burner_stop), daemon=True)
        burner.start()
    ts = [threading.Thread(target=t, daemon=True) for t in threads]
    for t in ts:
        t.start()
    gen_cpu = lambda: self_cpu() + (cpu_secs(burner.pid) if burner else 0.0)
    start, c0, g0 = time.time(), cpu_secs(pid), gen_cpu()
    peak = [0]

    def watch():
        last_t, last_c, last_g = time.time(), cpu_secs(pid), gen_cpu()
        while not stop.is_set():
            peak[0] = max(peak[0], rss(pid))
            stop.wait(1)
            now, c, g = time.time(), cpu_secs(pid), gen_cpu()
            dt = max(now - last_t, 1e-3)
            rate, grate = (c - last_c) / dt, (g - last_g) / dt
            last_t, last_c, last_g = now, c, g
            if target_cpu is not None and isinstance(load, Benign):
                # Feedback: more pause when the server works harder than during the swarm.
                load.pause = min(1.0, max(0.00001, load.pause * (1.15 if rate > target_cpu else 0.87)))
            if target_gen_cpu is not None:
                # The burner makes up the generator CPU the benign clients do not spend.
                step = 0.03 if grate < target_gen_cpu else -0.03
                duty.value = min(0.95, max(0.0, duty.value + step))

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    p99s = bench_p99(port, seconds, start + seconds)
    stop.set()
    for t in ts:
        t.join(10)
    elapsed = time.time() - start
    cpu_rate = (cpu_secs(pid) - c0) / elapsed
    gen_rate = (gen_cpu() - g0) / elapsed
    burner_stop.set()
    if burner:
        burner.join(5)
    return p99s, cpu_rate, peak[0], gen_rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=300, help="length of each phase")
    ap.add_argument("--server-bin", default=os.path.join(ROOT, "target/release/slotcache-server"))
    ap.add_argument("--maxmemory-clients", default="128mb")
    ap.add_argument("--server-cpu-only", action="store_true",
                    help="baseline matches the server's CPU only (no burner for the generator's)")
    ap.add_argument("--only", default="", help="comma-separated attackers (e.g. malformed,slow_loris); default all")
    a = ap.parse_args()
    port = free_port()
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
        swarm_p99, swarm_cpu, swarm_peak, swarm_gen = phase(port, pid, "swarm", a.seconds, only=only)
        alive = cli(port, "PING") == "PONG"
        after = (cli(port, "DBSIZE"), cli(port, "DEBUG", "DIGEST"))
        evicted = info(port, "stats", "evicted_clients")
        base_p99, base_cpu, base_peak, base_gen = phase(port, pid, "benign", a.seconds, target_cpu=swarm_cpu,
                                                       target_gen_cpu=None if a.server_cpu_only else swarm_gen)
        med = lambda v: sorted(v)[len(v) // 2] if v else float("nan")
        worst = lambda v: max(v) if v else float("nan")
        print(f"swarm:    {len(swarm_p99)} benchmark rounds, GET p99 median {med(swarm_p99):.3f} ms "
              f"(worst {worst(swarm_p99):.3f}), server CPU {swarm_cpu:.2f} cores, load generator CPU {swarm_gen:.2f} cores, "
              f"peak RSS {swarm_peak >> 20} MB")
        print(f"baseline: {len(base_p99)} benchmark rounds, GET p99 median {med(base_p99):.3f} ms "
              f"(worst {worst(base_p99):.3f}), server CPU {base_cpu:.2f} cores, load generator CPU {base_gen:.2f} cores, "
              f"peak RSS {base_peak >> 20} MB")
        ratio = med(swarm_p99) / med(base_p99) if base_p99 else float("nan")
        print(f"p99 ratio swarm/baseline: {ratio:.2f} (target <= 2)")
        print(f"node alive after the swarm: {alive}; dataset before {before}, after {after}: "
              f"{'unchanged' if before == after else 'CHANGED'}; evicted_clients {evicted}")
        print(f"peak RSS {max(swarm_peak, base_peak) >> 20} MB against the bound {bound >> 20} MB: "
              f"{'within' if max(swarm_peak, base_peak) <= bound else 'OVER'}")
        ok = alive and before == after and ratio <= 2 and max(swarm_peak, base_peak) <= bound
        sys.exit(0 if ok else 1)
    finally:
        srv.kill()
        srv.wait()
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
