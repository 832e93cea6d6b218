"""Ten million paths of the default template through the whole CLI run, and its peak memory.

`bondmodel run --paths 10000000 --workers 2` (simulation, summaries, fan charts, workbook and
JSON) runs in a child process; the total resident memory of it and its worker processes is
sampled every 20 ms (psutil), and the peak of that sum is compared with the 1,536 MiB bound of
issue 4. The kernel's own per-process peaks (ru_maxrss of the parent, of the largest worker) are
printed beside it: parent + 2 x largest worker bounds the true peak from above.

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


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants (those still alive)."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def main() -> None:
    paths = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "large.xlsx"
        command = [
            sys.executable, "-m", "bondmodel", "run", "--paths", str(paths), "--workers", "2",
            "--seed", "1", "--quiet", "--json", "-o", str(out),
        ]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        watched = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, tree_rss(watched))
            time.sleep(0.02)
        wall = time.perf_counter() - start
        stdout = child.stdout.read() if child.stdout else ""
        if child.returncode != 0:
            raise SystemExit(f"run failed with exit code {child.returncode}")
        summary = json.loads(stdout)
        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    settings = summary["risk"]["settings"]
    peak_mib = peak / 2**20
    print(
        f"{settings['paths']:,} paths, 2 workers, whole run (simulation + workbook + JSON): "
        f"{wall:.1f} s; per-path precision {settings.get('per_path_precision', 'double')}; "
        f"peak resident memory of the run and its workers {peak_mib:.0f} MiB "
        f"(bound {BOUND_MIB:.0f} MiB, ratio {peak_mib / BOUND_MIB:.2f}); "
        f"largest single process (ru_maxrss) {largest:.0f} MiB"
    )


if __name__ == "__main__":
    main()
