#!/usr/bin/env python3
"""Slotcache configurations (and optionally Redis) side by side under one redis-benchmark test.

`compare throughput` pits one slotcache configuration against Redis. This runs several
configurations at once, all servers on core 0 and redis-benchmark on core 1, the order
rotating each round, and prints for each: the median requests/s, the median of per-round
ratios to the first configuration, and per request the server's CPU, its voluntary context
switches and the client's CPU. The last three show where a difference in rate comes from
(for `idle-spin-us`: fewer server sleeps, less client CPU per request).

Run from the repository root after `cargo build --release -p slotcache-server`, e.g.

    benches/scripts/configs-side-by-side.py --rounds 6 -n 150000 -P 1 \
        --config 'off:--idle-spin-us 0' --config 'on:' --redis -- -t lrange_100

Everything after `--` goes to redis-benchmark (one test). Every process started is killed at
the end, also on failure; each redis-benchmark run is bounded by `timeout 120`.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument('--rounds', type=int, default=6)
ap.add_argument('-n', type=int, default=100000, help='requests per run (-n)')
ap.add_argument('-P', type=int, default=1, help='pipeline depth (-P)')
ap.add_argument('-c', type=int, default=50, help='clients (-c)')
ap.add_argument('--bin', default=os.environ.get('SLOTCACHE_SERVER_BIN',
                                                 'target/release/slotcache-server'))
ap.add_argument('--config', action='append', default=[],
                help="'name:extra server arguments'; the first is the base of the ratios")
ap.add_argument('--redis', action='store_true', help='also run redis-server')
ap.add_argument('--port', type=int, default=21961, help='first port (below 22767)')
ap.add_argument('bench', nargs='+', help='redis-benchmark arguments, e.g. -t lrange_100')
a = ap.parse_args()


def ticks(pid):
    """User + system CPU of a process, in clock ticks."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def switches(pid):
    """Voluntary context switches of all of a process's threads."""
    total = 0
    for t in os.listdir(f'/proc/{pid}/task'):
        with open(f'/proc/{pid}/task/{t}/status') as f:
            for line in f:
                if line.startswith('voluntary_ctxt_switches'):
                    total += int(line.split()[1])
    return total


def children_cpu():
    t = os.times()
    return t.children_user + t.children_system


configs = [(c.split(':', 1)[0], c.split(':', 1)[1].split() if ':' in c else [])
           for c in a.config] or [('slotcache', [])]
tick_us = 1e6 / os.sysconf('SC_CLK_TCK')
workdir = tempfile.mkdtemp(dir='/dev/shm' if os.path.isdir('/dev/shm') else None)
procs, servers = [], []
try:
    port = a.port
    for name, extra in configs:
        os.makedirs(f'{workdir}/{name}')
        cmd = ['taskset', '-c', '0', a.bin, '--port', str(port), '--dir', f'{workdir}/{name}']
        procs.append(subprocess.Popen(cmd + extra, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        servers.append((name, port, procs[-1].pid))
        port += 1
    if a.redis:
        os.makedirs(f'{workdir}/redis')
        procs.append(subprocess.Popen(
            ['taskset', '-c', '0', 'redis-server', '--port', str(port), '--dir',
             f'{workdir}/redis', '--save', '', '--appendonly', 'no'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        servers.append(('redis', port, procs[-1].pid))
    for name, port, _ in servers:
        for _ in range(100):
            if subprocess.run(['timeout', '2', 'redis-cli', '-p', str(port), 'ping'],
                              capture_output=True, text=True).stdout.strip() == 'PONG':
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f'{name} on port {port} did not answer PING')
    results = {name: [] for name, _, _ in servers}
    for r in range(a.rounds):
        k = r % len(servers)
        order = servers[k:] + servers[:k]
        if r % 2:
            order.reverse()
        for name, port, pid in order:
            t0, s0, c0 = ticks(pid), switches(pid), children_cpu()
            out = subprocess.run(
                ['taskset', '-c', '1', 'timeout', '120', 'redis-benchmark', '-p', str(port),
                 '-n', str(a.n), '-c', str(a.c), '-P', str(a.P), '-q', '--csv'] + a.bench,
                capture_output=True, text=True).stdout.strip().splitlines()
            if not out:
                raise SystemExit(f'redis-benchmark printed nothing against {name}')
            rps = float(out[-1].split(',')[1].strip('"'))
            results[name].append((rps, (ticks(pid) - t0) * tick_us / a.n,
                                  (switches(pid) - s0) / a.n,
                                  (children_cpu() - c0) * 1e6 / a.n))
    base = results[servers[0][0]]
    print(f"{'server':12} {'med rps':>10} {'ratio':>7} {'srv us/req':>10} {'cs/req':>7} "
          f"{'cli us/req':>10}  rounds (k requests/s)")
    for name, _, _ in servers:
        v = results[name]
        ratio = statistics.median(x[0] / b[0] for x, b in zip(v, base))
        med = [statistics.median(x[i] for x in v) for i in range(4)]
        print(f"{name:12} {med[0]:10.0f} {ratio:7.3f} {med[1]:10.2f} {med[2]:7.3f} "
              f"{med[3]:10.2f}  " + ' '.join(f'{x[0] / 1000:.0f}' for x in v))
finally:
    for p in procs:
        p.kill()
        p.wait()
    shutil.rmtree(workdir, ignore_errors=True)
