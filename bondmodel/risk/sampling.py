"""Uniform samples by block, reproducible whatever the chunking or the executor.

Paths are grouped in blocks of :data:`BLOCK_SIZE`. Block b's samples depend
only on (seed, sampler, b, the number of inputs and the total path count):
each block has its own numpy ``SeedSequence(seed, spawn_key=(b, stream))``,
never a worker's, and never global random state. Sobol points are one
scrambled sequence, block b taking points b x BLOCK_SIZE onwards.
"""

from __future__ import annotations

import warnings
from typing import Final, Literal

import numpy as np

from bondmodel.types import FloatArray

#: Paths in one block: the unit of reproducibility. Never change it silently:
#: results for a given seed depend on it.
BLOCK_SIZE: Final = 8192

Sampler = Literal["random", "lhs", "sobol"]
SAMPLERS: Final = ("random", "lhs", "sobol")

#: Largest seed accepted (seeds are recorded and printed; 63 bits fit everywhere).
MAX_SEED: Final = 2**63 - 1

#: spawn_key streams within a block
UNIFORMS: Final = 0
PERMUTATIONS: Final = 1
SHOCKS: Final = 2
_SOBOL_SCRAMBLE: Final = 2**31 - 1


def block_rng(seed: int, block: int, stream: int) -> np.random.Generator:
    """The PCG64 generator of one block and stream."""
    sequence = np.random.SeedSequence(seed, spawn_key=(block, stream))
    return np.random.Generator(np.random.PCG64(sequence))


def block_count(paths: int) -> int:
    """How many blocks ``paths`` paths fill (the last may be partial)."""
    return (paths + BLOCK_SIZE - 1) // BLOCK_SIZE


def block_bounds(block: int, paths: int) -> tuple[int, int]:
    """First path and one past the last path of ``block``."""
    start = block * BLOCK_SIZE
    return start, min(start + BLOCK_SIZE, paths)


def block_uniforms(seed: int, sampler: Sampler, block: int, paths: int, dims: int) -> FloatArray:
    """Uniform (0, 1) samples for one block, shape (paths in block, dims).

    - random: PCG64 uniforms;
    - lhs: a Latin hypercube of the block's size (scipy.stats.qmc.LatinHypercube);
    - sobol: the scrambled Sobol sequence (scipy.stats.qmc.Sobol), one sequence for
      the whole run, scrambled by the seed; block b takes its points in order.
    """
    start, stop = block_bounds(block, paths)
    n = stop - start
    if dims == 0:
        return np.empty((n, 0))
    if sampler == "random":
        return _inside(block_rng(seed, block, UNIFORMS).random((n, dims)))
    # scipy.stats is imported only by the samplers that use it: importing it takes longer
    # than a block of paths (benchmarks/bench_probe.py)
    from scipy.stats import qmc

    if sampler == "lhs":
        return _inside(qmc.LatinHypercube(d=dims, seed=block_rng(seed, block, UNIFORMS)).random(n))
    engine = qmc.Sobol(
        d=dims,
        scramble=True,
        seed=np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(_SOBOL_SCRAMBLE,)))
        ),
    )
    if start:
        engine.fast_forward(start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # balance warning for non powers of 2
        points = engine.random(n)
    return _inside(points)


def _inside(u: FloatArray) -> FloatArray:
    """Keep samples strictly inside (0, 1), so every inverse CDF is finite."""
    result: FloatArray = np.clip(u, 2.0**-53, 1.0 - 2.0**-53)
    return result
