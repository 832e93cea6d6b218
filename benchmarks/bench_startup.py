"""Start-up: `bondmodel --help` and `bondmodel validate TEMPLATE` against `python -c pass`.

Each command runs 5 times, alternating with the baseline; the figure is the median time
above the baseline's median (targets: --help under 0.15 s, validate under 0.5 s). It also
lists which heavy libraries each command imported (none of scipy.stats, pandas, Dask or
XlsxWriter should be).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "templates" / "shared-services.toml"
RUNS = 5
HEAVY = ("scipy.stats", "pandas", "dask", "distributed", "xlsxwriter", "openpyxl")
COMMANDS = {
    "--help": (["--help"], 0.15),
    "validate TEMPLATE": (["validate", str(TEMPLATE)], 0.5),
}

#: Runs the command in-process and prints the heavy modules it left imported.
PROBE = (
    "import sys; from bondmodel.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    f"print('IMPORTED', sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
)


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def imported(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    return next(line for line in done.stderr.splitlines() if line.startswith("IMPORTED"))


def main() -> None:
    baseline: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(RUNS):
        for name, (args, _target) in COMMANDS.items():
            baseline.append(timed([sys.executable, "-c", "pass"]))
            times[name].append(timed([sys.executable, "-m", "bondmodel", *args]))
    base = statistics.median(baseline)
    print(f"python -c pass: median {base:.3f} s over {len(baseline)} runs")
    for name, (args, target) in COMMANDS.items():
        above = statistics.median(times[name]) - base
        verdict = "meets" if above < target else "MISSES"
        print(
            f"bondmodel {name}: {above:.3f} s above the baseline (median of {RUNS}); "
            f"target < {target} s: {verdict}; {imported(args)}"
        )


if __name__ == "__main__":
    main()
