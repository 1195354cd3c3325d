#!/usr/bin/env python3
"""TLS costs (issue #27): redis-benchmark --tls against slotcache and Debian's redis-server,
and the cluster bus's CPU with and without `cluster-secret`.

throughput: one CA, server and client certificate made with openssl in a temporary
directory; both servers serve them on a TLS port (`tls-auth-clients yes`, so redis-benchmark
presents the client certificate, as a production client would) and are pinned to core 0,
redis-benchmark to core 1 (as `compare`). For each round, test and pipeline depth the two
servers are measured back to back, which one goes first alternating; the table shows the
median requests/s and the median of the per-round slotcache/redis ratios.

  redis-benchmark --tls --cacert ca.crt --cert client.crt --key client.key \\
      -p TLS_PORT -t set,get -P {1,16} -c 50 -n 100000 -r 100000 --csv -q

bus-cpu: two 3-node slotcache clusters (every slot assigned, cluster-node-timeout 700),
one with a cluster secret and one without, formed and then left idle for --idle seconds;
the CPU seconds each node used over that window (utime + stime from /proc/PID/stat) are
summed per cluster. Both clusters idle at the same time, so they share the machine's mood.

  benches/scripts/tls-bench.py all --rounds 5 --base-port 20350
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", ".."))

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("what", choices=["throughput", "bus-cpu", "all"])
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--requests", type=int, default=100000)
ap.add_argument("--clients", type=int, default=50)
ap.add_argument("--tests", default="set,get")
ap.add_argument("--pipelines", default="1,16")
ap.add_argument("--idle", type=int, default=60, help="seconds the clusters idle (bus-cpu)")
ap.add_argument("--base-port", type=int, required=True,
                help="first of the ports used: +0..+3 throughput, +10..+15 clusters (their bus ports are +10000)")
ap.add_argument("--server-bin", default=os.path.join(root, "target/release/slotcache-server"))
ap.add_argument("--redis-server", default="redis-server")
ap.add_argument("--redis-benchmark", default="redis-benchmark")
ap.add_argument("--no-pin", action="store_true")
a = ap.parse_args()
if a.rounds < 1 or a.requests < 1 or a.idle < 1:
    sys.exit("--rounds, --requests and --idle must be positive")

procs = []


def cleanup(*_):
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(143)))


def openssl(*args):
    subprocess.run(["timeout", "60", "openssl", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    def key(name):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", f"{d}/{name}.key")
    key("ca")
    openssl("req", "-x509", "-new", "-key", f"{d}/ca.key", "-sha256", "-days", "2",
            "-subj", "/CN=slotcache bench ca", "-out", f"{d}/ca.crt")
    with open(f"{d}/ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    for name in ("server", "client"):
        key(name)
        openssl("req", "-new", "-key", f"{d}/{name}.key", "-subj", f"/CN={name}",
                "-out", f"{d}/{name}.csr")
        openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.crt",
                "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-sha256",
                "-extfile", f"{d}/ext", "-out", f"{d}/{name}.crt")


def pinned(core):
    if a.no_pin or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", str(core)]


def ping(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+", b"-"))
    except OSError:
        return False


def cmd(port, *args):
    """One command over plain RESP; the reply's first line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("*%d\r\n" % len(args) + "".join(
            "$%d\r\n%s\r\n" % (len(x.encode()), x) for x in args)).encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")


def start(argv, port, log):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    procs.append(p)
    for _ in range(750):
        if p.poll() is not None:
            sys.exit(f"{argv[0]} exited with {p.returncode}; see {log.name}")
        if ping(port):
            return p
        time.sleep(0.02)
    sys.exit(f"{argv[0]} on port {port} did not answer PING")


def tls_args(d, tls_port):
    return ["--tls-port", str(tls_port), "--tls-cert-file", f"{d}/server.crt",
            "--tls-key-file", f"{d}/server.key", "--tls-ca-cert-file", f"{d}/ca.crt",
            "--tls-auth-clients", "yes"]


def bench(d, tls_port, test, pipeline):
    argv = ["timeout", "-s", "KILL", "300"] + pinned(1) + [
        a.redis_benchmark, "--tls", "--cacert", f"{d}/ca.crt", "--cert", f"{d}/client.crt",
        "--key", f"{d}/client.key", "-h", "127.0.0.1", "-p", str(tls_port), "-t", test,
        "-P", str(pipeline), "-c", str(a.clients), "-n", str(a.requests), "-r", "100000",
        "--csv", "-q"]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"redis-benchmark failed ({out.returncode}): {out.stderr[-500:]}")
    for line in out.stdout.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if len(cols) >= 2 and cols[0].upper() == test.upper():
            return float(cols[1])
    sys.exit(f"no {test} row in redis-benchmark's output: {out.stdout[-500:]}")


def throughput(tmp):
    d = f"{tmp}/certs"
    os.mkdir(d)
    make_certs(d)
    base = a.base_port
    logs = [open(f"{tmp}/{n}.log", "w") for n in ("slotcache", "redis")]
    servers = {
        "slotcache": (pinned(0) + [a.server_bin, "--port", str(base), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no"] + tls_args(d, base + 1),
                      base, base + 1),
        "redis": (pinned(0) + [a.redis_server, "--port", str(base + 2), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", tmp] +
                  tls_args(d, base + 3), base + 2, base + 3),
    }
    for (name, (argv, port, _)), log in zip(servers.items(), logs):
        start(argv, port, log)
    tests = [t for t in a.tests.split(",") if t]
    pipes = [int(p) for p in a.pipelines.split(",") if p]
    rps = {}
    for r in range(a.rounds):
        for i, t in enumerate(tests):
            for p in pipes:
                order = ["slotcache", "redis"] if (r + i) % 2 == 0 else ["redis", "slotcache"]
                for name in order:
                    rps.setdefault((t, p, name), []).append(bench(d, servers[name][2], t, p))
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    print(f"\nredis-benchmark --tls, {a.clients} clients, {a.requests} requests, "
          f"median of {a.rounds} rounds (servers on core 0, client on core 1)")
    print(f"{'test':<6} {'P':>3} {'slotcache':>12} {'redis':>12} {'ratio':>7}  per-round ratios")
    for t in tests:
        for p in pipes:
            s, rr = rps[(t, p, "slotcache")], rps[(t, p, "redis")]
            ratios = [x / y for x, y in zip(s, rr)]
            print(f"{t:<6} {p:>3} {statistics.median(s):>12.0f} {statistics.median(rr):>12.0f} "
                  f"{statistics.median(ratios):>7.3f}  {' '.join(f'{x:.2f}' for x in ratios)}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cluster(tmp, name, ports, secret):
    nodes = []
    for port in ports:
        ddir = f"{tmp}/{name}-{port}"
        os.mkdir(ddir)
        argv = [a.server_bin, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled",
                "yes", "--cluster-node-timeout", "700", "--dir", ddir]
        if secret:
            argv += ["--cluster-secret", secret]
        nodes.append(start(argv, port, open(f"{ddir}/log", "w")))
    for port in ports[1:]:
        cmd(port, "CLUSTER", "MEET", "127.0.0.1", str(ports[0]))
    per = 16384 // len(ports)
    for i, port in enumerate(ports):
        hi = 16383 if i == len(ports) - 1 else (i + 1) * per - 1
        cmd(port, "CLUSTER", "ADDSLOTSRANGE", str(i * per), str(hi))
    return nodes


def wait_ok(ports, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        if all("cluster_state:ok" in cmd_bulk(p, "CLUSTER", "INFO") and
               "cluster_known_nodes:%d" % len(ports) in cmd_bulk(p, "CLUSTER", "INFO")
               for p in ports):
            return True
        time.sleep(0.2)
    return False


def cmd_bulk(port, *args):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("*%d\r\n" % len(args) + "".join(
            "$%d\r\n%s\r\n" % (len(x.encode()), x) for x in args)).encode())
        data = b""
        s.settimeout(0.5)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.startswith(b"$") and b"\r\n" in data:
                    n = int(data.split(b"\r\n", 1)[0][1:])
                    if len(data.split(b"\r\n", 1)[1]) >= n + 2:
                        break
        except socket.timeout:
            pass
        return data.decode(errors="replace")


def bus_cpu(tmp):
    base = a.base_port + 10
    plain = [base, base + 1, base + 2]
    signed = [base + 3, base + 4, base + 5]
    groups = {"no secret": (plain, cluster(tmp, "plain", plain, None)),
              "cluster-secret": (signed, cluster(tmp, "signed", signed, "bench secret 27"))}
    for label, (ports, _) in groups.items():
        if not wait_ok(ports):
            sys.exit(f"the {label} cluster did not reach cluster_state:ok")
    # A few seconds for the links to settle after the handshakes.
    time.sleep(3)
    before = {label: [cpu_seconds(p.pid) for p in nodes] for label, (_, nodes) in groups.items()}
    time.sleep(a.idle)
    after = {label: [cpu_seconds(p.pid) for p in nodes] for label, (_, nodes) in groups.items()}
    for label, (ports, _) in groups.items():
        if not wait_ok(ports, 5):
            sys.exit(f"the {label} cluster left cluster_state:ok while idle")
    print(f"\nidle 3-node cluster, cluster-node-timeout 700, CPU seconds over {a.idle} s (utime+stime)")
    total = {}
    for label in groups:
        per = [y - x for x, y in zip(before[label], after[label])]
        total[label] = sum(per)
        print(f"{label:<15} total {total[label]:.2f} s  per node {' '.join(f'{x:.2f}' for x in per)}")
    if total["no secret"] > 0:
        print(f"with/without secret: {total['cluster-secret'] / total['no secret']:.3f}")


try:
    with tempfile.TemporaryDirectory(prefix="tls-bench-") as tmp:
        if a.what in ("throughput", "all"):
            throughput(tmp)
        if a.what in ("bus-cpu", "all"):
            bus_cpu(tmp)
        cleanup()
finally:
    cleanup()
