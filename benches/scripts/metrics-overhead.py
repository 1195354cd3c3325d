#!/usr/bin/env python3
"""Throughput with the Prometheus endpoint on against off (issue #30's cost check).

Runs `compare throughput` alternately without and with `--metrics-port PORT` (one round
each, in ABBA order, --peers redis so every run also has a reference point), for --rounds rounds, then
prints slotcache's median requests/s per test and pipeline for both configurations and
their ratio (on / off; the issue asks for >= 0.97). Metrics cost nothing per command by
design (a scrape copies counters the command path keeps anyway); this measures it.

  benches/scripts/metrics-overhead.py --rounds 5 --metrics-port 20501 [-- compare args]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", ".."))
ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--metrics-port", type=int, required=True)
ap.add_argument("--compare", default=os.path.join(root, "target/release/compare"))
# Named explicitly: a compare binary built in another checkout defaults to that one's server.
ap.add_argument("--server-bin", default=os.path.join(root, "target/release/slotcache-server"))
ap.add_argument("rest", nargs=argparse.REMAINDER, help="after --: more compare options")
a = ap.parse_args()
extra = [x for x in a.rest if x != "--"]
if a.rounds < 1:
    sys.exit("--rounds must be positive")

samples = {"off": {}, "on": {}}
with tempfile.TemporaryDirectory() as tmp:
    for r in range(a.rounds):
        # ABBA order: a load that drifts during the run does not favour either side.
        for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
            out = os.path.join(tmp, f"{mode}-{r}.json")
            cmd = [a.compare, "throughput", "--rounds", "1", "--peers", "redis",
                   "--json", out, "--server-bin", a.server_bin] + extra
            if mode == "on":
                cmd += [f"--slotcache-arg=--metrics-port",
                        f"--slotcache-arg={a.metrics_port}"]
            subprocess.run(["timeout", "900"] + cmd, check=True,
                           stdout=subprocess.DEVNULL)
            with open(out) as f:
                for row in json.load(f)["throughput"]:
                    key = (row["test"], row["pipeline"])
                    samples[mode].setdefault(key, []).append(row["rps"]["slotcache"])
            print(f"round {r + 1}/{a.rounds} {mode} done", file=sys.stderr)

worst = None
print(f"{'test':<12} {'P':>3} {'off rps':>12} {'on rps':>12} {'on/off':>7}")
for key in sorted(samples["off"]):
    off = statistics.median(samples["off"][key])
    on = statistics.median(samples["on"].get(key, [0]))
    ratio = on / off if off else 0.0
    worst = ratio if worst is None else min(worst, ratio)
    print(f"{key[0]:<12} {key[1]:>3} {off:>12.0f} {on:>12.0f} {ratio:>7.3f}")
print(f"worst ratio: {worst:.3f} (median of {a.rounds} alternating rounds)")
