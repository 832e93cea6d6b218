"""Ten million paths of the default template through the whole CLI run, and its peak memory.

`bondmodel run --paths 10000000 --workers 2` (simulation, summaries, fan charts, workbook and
JSON) runs in a child process; the total resident memory of it and its worker processes is
sampled every 20 ms (psutil), and the peak of that sum is compared with the 1,536 MiB bound of
issue 4. A sample can miss a spike shorter than 20 ms, so the kernel's own peak of each process
(VmHWM, which misses nothing) is read too: their sum bounds the true peak from above, as if the
parent and every worker peaked at the same moment.

    python benchmarks/bench_large_run.py [PATHS]
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

BOUND_MIB = 1536.0


def tree_rss(process: psutil.Process, high_water: dict[int, int]) -> int:
    """Resident bytes of a process and all its descendants (those still alive); records each
    one's kernel peak (VmHWM) in ``high_water``."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
            with open(f"/proc/{p.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        kib = int(line.split()[1])
                        high_water[p.pid] = max(high_water.get(p.pid, 0), kib * 1024)
        except (psutil.Error, OSError):
            continue
    return total


def main() -> None:
    paths = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "large.xlsx"
        command = [
            sys.executable,
            "-m",
            "bondmodel",
            "run",
            "--paths",
            str(paths),
            "--workers",
            "2",
            "--seed",
            "1",
            "--quiet",
            "--json",
            "-o",
            str(out),
        ]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        watched = psutil.Process(child.pid)
        peak = 0
        high_water: dict[int, int] = {}
        while child.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, tree_rss(watched, high_water))
            time.sleep(0.02)
        wall = time.perf_counter() - start
        stdout = child.stdout.read() if child.stdout else ""
        if child.returncode != 0:
            raise SystemExit(f"run failed with exit code {child.returncode}")
        summary = json.loads(stdout)
        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    bound = sum(high_water.values()) / 2**20
    settings = summary["risk"]["settings"]
    peak_mib = peak / 2**20
    print(
        f"{settings['paths']:,} paths, 2 workers, whole run (simulation + workbook + JSON): "
        f"{wall:.1f} s; per-path precision {settings.get('per_path_precision', 'double')}; "
        f"peak resident memory of the run and its workers {peak_mib:.0f} MiB "
        f"(bound {BOUND_MIB:.0f} MiB, ratio {peak_mib / BOUND_MIB:.2f}); "
        f"upper bound from each process's own peak {bound:.0f} MiB over {len(high_water)} "
        f"processes (ratio {bound / BOUND_MIB:.2f}); largest single process {largest:.0f} MiB"
    )


if __name__ == "__main__":
    main()
