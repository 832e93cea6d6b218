"""Vectorised IRR against a pyxirr loop and a numpy_financial.irr loop on the same series."""

from __future__ import annotations

import time

import numpy as np
import numpy_financial as npf
import pyxirr

from bondmodel.irr import irr

N = 100_000
PERIODS = 26


def series(n: int, seed: int = 2026) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flows = np.empty((n, PERIODS))
    flows[:, 0] = -rng.uniform(50, 150, n)
    flows[:, 1:] = rng.uniform(0, 15, (n, PERIODS - 1))
    flows[:, -1] += rng.uniform(0, 120, n)
    return flows


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    flows = series(N)
    irr(flows[:100])  # warm up
    t_vec = best_of(lambda: irr(flows))
    ours = irr(flows).periodic
    t_pyxirr = best_of(lambda: [pyxirr.irr(row) for row in flows], repeat=1)
    theirs = np.array([pyxirr.irr(row) for row in flows], dtype=float)
    sample = flows[:5_000]
    t_npf_sample = best_of(lambda: [npf.irr(row) for row in sample], repeat=1)
    t_npf = t_npf_sample * N / len(sample)
    npf_values = np.array([npf.irr(row) for row in sample])
    print(f"series: {N:,} of {PERIODS} periods")
    print(f"vectorised IRR:       {t_vec:8.3f} s")
    print(
        f"pyxirr loop:          {t_pyxirr:8.3f} s   ratio {t_pyxirr / t_vec:6.1f}x (target >= 2x)"
    )
    print(
        f"numpy_financial loop: {t_npf:8.3f} s   ratio {t_npf / t_vec:6.1f}x (target >= 50x)"
        f"   (timed on {len(sample):,} series, scaled linearly)"
    )
    print(f"max |difference| vs pyxirr:          {np.nanmax(np.abs(ours - theirs)):.2e}")
    print(
        f"max |difference| vs numpy_financial: "
        f"{np.nanmax(np.abs(ours[: len(sample)] - npf_values)):.2e}"
    )


if __name__ == "__main__":
    main()
