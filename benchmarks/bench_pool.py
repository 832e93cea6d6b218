"""A pooled bond at scale (issue 19): 350 members x 10,000 paths x 25 years on Dask.

Runs the synthetic pool (``bondmodel.pool.synthetic``) on a Dask LocalCluster of 1 worker
and of 2 workers (one thread each), prints each run's wall time, the speed-up (target at
least 1.7x), every worker's peak memory (target under 1 GiB) and a projection, from the
measured cost per member-path, of 350 members x 1,000,000 paths on a 64-core cluster.
Both runs must give the same results, to the bit; the script checks it.

    .venv/bin/python benchmarks/bench_pool.py                 # the issue's case
    .venv/bin/python benchmarks/bench_pool.py --members 40 --paths 3000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from typing import Any

from bondmodel.pool import run_pool
from bondmodel.pool.simulate import MEMBER_GROUP
from bondmodel.pool.synthetic import synthetic_portfolio
from bondmodel.risk.sampling import BLOCK_SIZE, block_count

TARGET_SPEEDUP = 1.7
TARGET_WORKER_MIB = 1024.0


def _peak_mib() -> float:
    """This process's peak resident memory, MiB (run on each worker)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """This process's CPU time so far, user and system (run on each worker)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_on_cluster(members: int, paths: int, years: int, workers: int) -> dict[str, Any]:
    import distributed

    portfolio = synthetic_portfolio(members, years=years)
    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit="2GiB",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        before = client.run(_cpu_seconds)
        start = time.perf_counter()
        results = run_pool(portfolio, paths, seed=1, scheduler=cluster.scheduler_address)
        wall = time.perf_counter() - start
        after = client.run(_cpu_seconds)
        peaks = list(client.run(_peak_mib).values())
        cpu = [after[w] - before[w] for w in after]
    data = results.to_json()
    for key in ("workers", "executor"):
        data["settings"].pop(key)
    return {
        "wall": wall,
        "cpu": cpu,
        "worker_mib": peaks,
        "numbers": json.dumps(data, sort_keys=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=350)
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--years", type=int, default=25)
    args = parser.parse_args()
    m, p, y = args.members, args.paths, args.years
    load = os.getloadavg()[0]
    units = block_count(p) * -(-m // MEMBER_GROUP)
    print(
        f"synthetic pool: {m} members x {p:,} paths x {y} years; {units} tasks of one block "
        f"({BLOCK_SIZE:,} paths) x one group ({MEMBER_GROUP} members); load average {load:.1f}"
    )
    one = run_on_cluster(m, p, y, 1)
    two = run_on_cluster(m, p, y, 2)
    speedup = one["wall"] / two["wall"]
    peak = max(one["worker_mib"] + two["worker_mib"])
    print(f"1 worker:  {one['wall']:.1f} s; worker peak {max(one['worker_mib']):.0f} MiB")
    print(
        f"2 workers: {two['wall']:.1f} s; worker peaks "
        + ", ".join(f"{x:.0f}" for x in two["worker_mib"])
        + " MiB"
    )
    print(
        f"speed-up {speedup:.2f}x (target >= {TARGET_SPEEDUP}x, ratio "
        f"{speedup / TARGET_SPEEDUP:.2f}); largest worker {peak:.0f} MiB (target < "
        f"{TARGET_WORKER_MIB:.0f} MiB, ratio {peak / TARGET_WORKER_MIB:.2f})"
    )
    print(f"results identical on 1 and 2 workers: {one['numbers'] == two['numbers']}")
    # on a loaded machine the wall times say more about the other work than about this
    # code: the workers' CPU seconds give the speed-up on idle cores (total / busiest)
    print(
        f"CPU seconds: 1 worker {sum(one['cpu']):.1f} (of {one['wall']:.1f} s wall); 2 workers "
        + " + ".join(f"{c:.1f}" for c in two["cpu"])
        + f": speed-up on idle cores {sum(two['cpu']) / max(two['cpu']):.2f}x, and "
        f"{sum(one['cpu']) / max(two['cpu']):.2f}x against the 1-worker run's CPU"
    )
    # cost per member-path on one core, from the one-worker run's CPU seconds (the wall time
    # on a shared machine includes waiting for the cores; the CPU time includes compiling the
    # members, so the projection errs on the slow side)
    per_member_path = sum(one["cpu"]) / (m * p)
    projected = per_member_path * 350 * 1_000_000 / 64
    print(
        f"cost {per_member_path * 1e6:.2f} us of CPU per member-path: 350 members x "
        f"1,000,000 paths on 64 cores ~ {projected / 60:.1f} min "
        f"({block_count(1_000_000) * -(-350 // MEMBER_GROUP):,} tasks; assumes cores as fast "
        "as this one, given to the run alone, and the tasks spread evenly)"
    )


if __name__ == "__main__":
    main()
