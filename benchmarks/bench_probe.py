"""The whole `bondmodel run --workers 2 --json` on 1,000,000 paths against a naive probe.

The probe is what a quick one-process numpy model of similar work costs: 1,000,000 paths x
25 annual periods, savings drawn per path, a level-payment (annuity) waterfall of debt
service against the savings with a reserve of what is left over, and each path's investor
IRR by Newton's method. The figure is the ratio of medians (3 runs of each, alternating,
each in a fresh interpreter); the target is at most 0.8. The largest process's peak memory
(max RSS) is printed beside it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PATHS = 1_000_000
RUNS = 3
TARGET = 0.8
ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, resource, sys, time
import numpy as np
paths, periods, chunk = int(sys.argv[1]), 25, 100_000
start = time.perf_counter()
rng = np.random.default_rng(1)
principal, rate = 10e6, 0.05
payment = principal * rate / (1.0 - (1.0 + rate) ** -periods)
irrs = np.empty(paths)
for lo in range(0, paths, chunk):
    n = min(chunk, paths - lo)
    level = rng.normal(1.0, 0.15, n)[:, None]
    ramp = np.minimum(np.arange(1, periods + 1) / 3.0, 1.0)[None, :]
    savings = 1.1 * payment * level * ramp
    paid = np.empty((n, periods))
    reserve = np.zeros(n)
    for t in range(periods):
        cash = savings[:, t] + reserve
        paid[:, t] = np.minimum(cash, payment)
        reserve = cash - paid[:, t]
    flows = np.concatenate([np.full((n, 1), -principal), paid], axis=1)
    r = np.full(n, 0.05)
    k = np.arange(periods + 1)
    for _ in range(20):
        d = (1.0 + r)[:, None] ** -k[None, :]
        f = (flows * d).sum(axis=1)
        df = (-k[None, :] * flows * d / (1.0 + r)[:, None]).sum(axis=1)
        r = r - f / df
    irrs[lo:lo + n] = r
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "mean_irr": float(np.nanmean(irrs))}))
"""


def probe() -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(PATHS)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["wall"]), float(result["mib"])


def whole_run() -> tuple[float, float]:
    """Wall time of the whole command (workbook included), and the largest process's peak
    memory."""
    code = (
        "import resource, subprocess, sys, json\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
        "print(json.dumps(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "bondmodel",
            "run",
            "--paths",
            str(PATHS),
            "--seed",
            "1",
            "--workers",
            "2",
            "--json",
            "-o",
            str(Path(tmp) / "run.xlsx"),
        ]
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code, *command],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        wall = time.perf_counter() - start
    return wall, float(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    probes, runs, memory = [], [], []
    for _ in range(RUNS):
        probes.append(probe()[0])
        wall, mib = whole_run()
        runs.append(wall)
        memory.append(mib)
    p, r = statistics.median(probes), statistics.median(runs)
    print(
        f"probe (one process, numpy, {PATHS:,} x 25, annuity waterfall + Newton IRR): "
        f"median {p:.1f} s of {[round(x, 1) for x in probes]}"
    )
    print(
        f"bondmodel run --workers 2 --json, {PATHS:,} paths: median {r:.1f} s of "
        f"{[round(x, 1) for x in runs]}; largest process {max(memory):.0f} MiB"
    )
    print(f"ratio {r / p:.2f} (target <= {TARGET})")


if __name__ == "__main__":
    main()
