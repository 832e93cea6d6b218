"""A full Monte Carlo run: 1,000,000 paths of the default template, wall time and peak memory.

Runs the whole pipeline (sampling, correlation, programme, bond waterfall,
IRR, summaries, fan charts, sensitivity) on 2 local worker processes, for the
default template (25 annual periods) and for a 25-year quarterly variant
(100 periods). Each case runs in a fresh interpreter so its peak memory is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys

CASE = r"""
import json, resource, sys, time, tomllib
import bondmodel
from bondmodel.risk.results import simulate
from bondmodel.risk.simulate import RunSettings
paths, workers, quarterly = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
path = bondmodel.scenario.template_path("shared-services")
data = tomllib.loads(path.read_text())
if quarterly:
    data["timeline"]["frequency"] = "quarterly"
scenario = bondmodel.parse_scenario(data)
start = time.perf_counter()
sim = simulate(scenario, RunSettings(paths, seed=1, workers=workers, chunk_blocks=8))
wall = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"wall": wall, "parent_mib": own, "largest_worker_mib": child,
                  "periods": len(sim.fans["net_savings"]), "paths": sim.settings["paths"]}))
"""


def run_case(paths: int, workers: int, quarterly: bool) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CASE, str(paths), str(workers), "1" if quarterly else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    for quarterly, target in ((False, 5.0), (True, 20.0)):
        r = run_case(1_000_000, 2, quarterly)
        memory = r["parent_mib"] + 2 * r["largest_worker_mib"]
        print(
            f"{int(r['paths']):,} paths x {int(r['periods'])} periods, 2 workers: "
            f"{r['wall']:.1f} s (target {target:.0f} s, ratio {r['wall'] / target:.2f}); "
            f"peak memory parent {r['parent_mib']:.0f} MiB + 2 workers x "
            f"{r['largest_worker_mib']:.0f} MiB = at most {memory:.0f} MiB "
            f"(target 1536 MiB, ratio {memory / 1536:.2f})"
        )


if __name__ == "__main__":
    main()
