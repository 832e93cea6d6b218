"""The vectorised engine against the same engine called path by path (10,000 paths)."""

from __future__ import annotations

import time

import numpy as np

import bondmodel
from bondmodel.model import Model
from bondmodel.programme import Draws

PATHS = 10_000
SINGLE_SAMPLE = 1_000  # path-by-path calls timed, then scaled linearly to PATHS


def main() -> None:
    scenario = bondmodel.load_scenario(None)
    model = Model.compile(scenario)
    u = np.concatenate([model.risk.correlated_uniforms(1, "random", b, PATHS) for b in range(2)])[
        :PATHS
    ]
    values = model.risk.values(u)
    draws, rates = model.risk.draws(values, 1, 0)

    def one_path(i: int) -> Draws:
        return Draws(*(getattr(draws, f)[i : i + 1] for f in draws.__dataclass_fields__))

    model.evaluate(draws, rates)  # warm up
    start = time.perf_counter()
    vector = model.evaluate(draws, rates).path_metrics
    t_vec = time.perf_counter() - start

    start = time.perf_counter()
    singles = [model.evaluate(one_path(i), rates).path_metrics for i in range(SINGLE_SAMPLE)]
    t_single = (time.perf_counter() - start) * PATHS / SINGLE_SAMPLE
    for key in vector:
        got = np.array([s[key][0] for s in singles])
        assert np.allclose(got, vector[key][:SINGLE_SAMPLE], equal_nan=True, rtol=1e-12), key
    print(f"engine on {PATHS:,} paths of the default template (programme, bond, metrics)")
    print(f"vectorised:   {t_vec:8.3f} s")
    print(f"path by path: {t_single:8.3f} s   (timed on {SINGLE_SAMPLE:,} paths, scaled)")
    print(f"ratio: {t_single / t_vec:.0f}x (target >= 200x); results agree to 1e-12")


if __name__ == "__main__":
    main()
