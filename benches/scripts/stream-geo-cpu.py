#!/usr/bin/env python3
"""Server CPU per request for issue 24's, 25's and 34's benchmark goals, side by side.

`compare throughput` and `compare stream-cycle` give requests/s, which a shared machine's
load moves by more than the differences measured. This starts slotcache, redis-server and
(when given) Valkey, all on core 0, loads the same data into each, and for each test and
round (server order rotating) reads the server's user+system CPU (/proc/PID/stat) before
and after the run: the CPU each server spends per request, which the load skews far less.

Tests:
  xadd_5f       redis-benchmark: XADD k * f1 value1 .. f5 value5
  xrange_100    redis-benchmark: XRANGE over a 100-entry stream of 5 fields
  geosearch_1m  redis-benchmark: GEOSEARCH FROMLONLAT 15 37 BYRADIUS 100 km ASC over 1M points
                (the same xorshift points as `compare`'s geosearch_1m)
  evalsha       redis-benchmark: EVALSHA of a script that reads one key and increments
                another (`-r 100000`: spread keys), as benches/scripts/evalsha-bench.sh
  evalsha_loop  redis-benchmark: EVALSHA of a script making 1,000 redis.call (INCR) per run
  cycle         one Python client: XREADGROUP COUNT 1 then XACK of that entry, -n cycles
                (pipeline 1; CPU per cycle of two commands)

Run from the repository root after `cargo build --release -p slotcache-server`, e.g.

    benches/scripts/stream-geo-cpu.py --rounds 4 -P 1 --tests xrange_100,geosearch_1m \
        --valkey /root/.cache/slotcache-peers/valkey-55bbbe09a3b3/src/valkey-server

slotcache runs with `--idle-spin-us 0` by default (`--slotcache-args` replaces that): the
idle spin burns CPU while it waits for the next request, which would count as work here.
Every process started is killed at the end; each client run is bounded by `timeout`.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument('--rounds', type=int, default=4)
ap.add_argument('-n', type=int, default=100000, help='requests (cycles) per run')
ap.add_argument('-P', type=int, default=1, help='pipeline depth for redis-benchmark tests')
ap.add_argument('-c', type=int, default=50, help='clients for redis-benchmark tests')
ap.add_argument('--tests', default='xadd_5f,xrange_100,geosearch_1m,cycle')
ap.add_argument('--bin', default='target/release/slotcache-server')
ap.add_argument('--slotcache-args', default='--idle-spin-us 0')
ap.add_argument('--redis', default='redis-server')
ap.add_argument('--valkey', default='', help='Valkey binary (left out when empty)')
ap.add_argument('--before', default='',
                help='another slotcache binary (an older build) measured as "before"')
ap.add_argument('--port', type=int, default=20450)
a = ap.parse_args()

GEO_KEY, XR_KEY, XA_KEY, CY_KEY = 'geo', 'xr', 'xa', 'cy'
TICK_US = 1e6 / os.sysconf('SC_CLK_TCK')


def ticks(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def resp(*args):
    out = [f'*{len(args)}\r\n'.encode()]
    for x in args:
        b = x if isinstance(x, bytes) else str(x).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(b), b))
    return b''.join(out)


def pipe_in(port, data):
    """Sends RESP commands through redis-cli --pipe (fails loudly on any error reply)."""
    r = subprocess.run(['timeout', '300', 'redis-cli', '-p', str(port), '--pipe'],
                       input=data, capture_output=True)
    if r.returncode != 0 or b'errors: 0' not in r.stdout:
        raise SystemExit(f'loading port {port} failed: {r.stdout[-300:]!r} {r.stderr[-300:]!r}')


def geo_points():
    """`compare`'s geosearch_1m points: xorshift64, lon then lat, 6 decimals."""
    state = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    out = []
    for i in range(1_000_000):
        xy = []
        for _ in range(2):
            state ^= (state << 13) & mask
            state ^= state >> 7
            state ^= (state << 17) & mask
            xy.append((state >> 11) / float(1 << 53))
        out.append((-180.0 + 360.0 * xy[0], -85.0 + 170.0 * xy[1], i))
    return out


def setup_data(tests):
    chunks = []
    if 'geosearch_1m' in tests:
        pts = geo_points()
        for s in range(0, len(pts), 1000):
            args = ['GEOADD', GEO_KEY]
            for lon, lat, i in pts[s:s + 1000]:
                args += [f'{lon:.6f}', f'{lat:.6f}', f'p:{i}']
            chunks.append(resp(*args))
    for test, body in SCRIPTS.items():
        if test in tests:
            chunks.append(resp('SCRIPT', 'LOAD', body))
    if 'xrange_100' in tests:
        for i in range(1, 101):
            args = ['XADD', XR_KEY, f'{i}-0']
            for f in range(1, 6):
                args += [f'f{f}', f'value-{i}-{f}']
            chunks.append(resp(*args))
    return b''.join(chunks)


def cycle_fill(n):
    """Entries for n read+ack cycles and a group at their start."""
    chunks = [resp('DEL', CY_KEY)]
    for i in range(1, n + 1):
        chunks.append(resp('XADD', CY_KEY, f'{i}-0', 'f1', 'value1', 'f2', 'value2'))
    chunks.append(resp('XGROUP', 'CREATE', CY_KEY, 'g', '0'))
    return b''.join(chunks)


def read_reply(f):
    line = f.readline()
    t = line[:1]
    if t in (b'+', b':'):
        return line[1:-2]
    if t == b'-':
        raise SystemExit(f'error reply: {line!r}')
    if t == b'$':
        n = int(line[1:-2])
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if t == b'*':
        n = int(line[1:-2])
        return None if n < 0 else [read_reply(f) for _ in range(n)]
    raise SystemExit(f'unexpected reply: {line!r}')


def run_cycle(port, pid, n):
    """n cycles of XREADGROUP COUNT 1 then XACK; returns (cycles/s, server CPU us/cycle)."""
    s = socket.create_connection(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile('rb')
    read_cmd = resp('XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', 1, 'STREAMS', CY_KEY, '>')
    t0, w0 = ticks(pid), time.monotonic()
    for _ in range(n):
        s.sendall(read_cmd)
        r = read_reply(f)
        eid = r[0][1][0][0]
        s.sendall(resp('XACK', CY_KEY, 'g', eid))
        if read_reply(f) != b'1':
            raise SystemExit('XACK did not acknowledge one entry')
    dt, cpu = time.monotonic() - w0, (ticks(pid) - t0) * TICK_US
    s.close()
    return n / dt, cpu / n


READ_INCR = "local v = redis.call('GET', KEYS[1]); return redis.call('INCR', KEYS[2])"
LOOP = "for i = 1, 1000 do redis.call('INCR', KEYS[1]) end return 1"
SCRIPTS = {'evalsha': READ_INCR, 'evalsha_loop': LOOP}


def sha1hex(body):
    import hashlib
    return hashlib.sha1(body.encode()).hexdigest()


BENCH = {
    'evalsha': ['-r', '100000', 'EVALSHA', sha1hex(READ_INCR), '2', 'key:__rand_int__',
                'counter:__rand_int__'],
    'evalsha_loop': ['-r', '100000', 'EVALSHA', sha1hex(LOOP), '1', 'loop:__rand_int__'],
    'xadd_5f': ['XADD', XA_KEY, '*', 'f1', 'value1', 'f2', 'value2', 'f3', 'value3',
                'f4', 'value4', 'f5', 'value5'],
    'xrange_100': ['XRANGE', XR_KEY, '-', '+'],
    'geosearch_1m': ['GEOSEARCH', GEO_KEY, 'FROMLONLAT', '15', '37', 'BYRADIUS', '100', 'km',
                     'ASC'],
}


def run_bench(port, pid, test):
    t0 = ticks(pid)
    out = subprocess.run(
        ['taskset', '-c', '1', 'timeout', '300', 'redis-benchmark', '-p', str(port),
         '-n', str(a.n), '-c', str(a.c), '-P', str(a.P), '-q', '--csv'] + BENCH[test],
        capture_output=True, text=True).stdout.strip().splitlines()
    if not out:
        raise SystemExit(f'redis-benchmark printed nothing on port {port}')
    rps = float(out[-1].split(',')[1].strip('"'))
    return rps, (ticks(pid) - t0) * TICK_US / a.n


tests = a.tests.split(',')
servers_spec = [('slotcache', [a.bin] + a.slotcache_args.split()), ('redis', [a.redis])]
if a.before:
    servers_spec.append(('before', [a.before] + a.slotcache_args.split()))
if a.valkey:
    servers_spec.append(('valkey', [a.valkey]))
workdir = tempfile.mkdtemp(dir='/dev/shm' if os.path.isdir('/dev/shm') else None)
procs, servers = [], []
try:
    data = setup_data(tests)
    for k, (name, cmd) in enumerate(servers_spec):
        port = a.port + k
        os.makedirs(f'{workdir}/{name}')
        procs.append(subprocess.Popen(
            ['taskset', '-c', '0'] + cmd[:1] + ['--port', str(port), '--dir',
                                                 f'{workdir}/{name}', '--save', '',
                                                 '--appendonly', 'no'] + cmd[1:],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        servers.append((name, port, procs[-1].pid))
    for name, port, _ in servers:
        for _ in range(200):
            if subprocess.run(['timeout', '2', 'redis-cli', '-p', str(port), 'ping'],
                              capture_output=True, text=True).stdout.strip() == 'PONG':
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f'{name} on port {port} did not answer PING')
        if data:
            pipe_in(port, data)
    print(f'load average at start: {os.getloadavg()[0]:.1f}')
    for test in tests:
        results = {name: [] for name, _, _ in servers}
        for r in range(a.rounds):
            k = r % len(servers)
            order = servers[k:] + servers[:k]
            if r % 2:
                order.reverse()
            for name, port, pid in order:
                if test == 'cycle':
                    pipe_in(port, cycle_fill(a.n))
                    results[name].append(run_cycle(port, pid, a.n))
                else:
                    results[name].append(run_bench(port, pid, test))
        base = results['slotcache']
        print(f'\n{test} (P{1 if test == "cycle" else a.P}, n={a.n}, rounds={a.rounds}, '
              f'load {os.getloadavg()[0]:.1f})')
        print(f"{'server':10} {'med rps':>10} {'sc/x rps':>9} {'srv us/req':>10} "
              f"{'x/sc cpu':>9}  per-round us/req")
        for name, _, _ in servers:
            v = results[name]
            rps_ratio = statistics.median(b[0] / x[0] for x, b in zip(v, base))
            cpu_ratio = statistics.median(x[1] / b[1] for x, b in zip(v, base))
            print(f'{name:10} {statistics.median(x[0] for x in v):10.0f} {rps_ratio:9.3f} '
                  f'{statistics.median(x[1] for x in v):10.3f} {cpu_ratio:9.3f}  '
                  + ' '.join(f'{x[1]:.2f}' for x in v))
finally:
    for p in procs:
        p.kill()
        p.wait()
    shutil.rmtree(workdir, ignore_errors=True)
