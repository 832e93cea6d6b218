"""The Monte Carlo run: blocks of paths through the whole engine, on any executor.

Paths are simulated in blocks (:data:`~bondmodel.risk.sampling.BLOCK_SIZE`);
a chunk is a run of consecutive blocks handed to one worker. No array of all
paths by all periods is ever held: each block returns its per-path metrics,
its sampled inputs and histogram counts for the fan charts. Per-path results
are stored by path index and every float statistic is computed from them in
path order at the end, so the results do not depend on the executor, the
number of workers or the chunk size: only on the scenario, the seed, the
sampler and the number of paths.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from threadpoolctl import ThreadpoolController

from bondmodel.errors import ModelError, ScenarioError
from bondmodel.interrupts import worker_defaults
from bondmodel.model import PROGRAMME_PATH_METRICS, Bands, Model
from bondmodel.resources import give_back_freed_memory, keep_freed_memory, memory_limit
from bondmodel.risk.sampling import MAX_SEED, SAMPLERS, Sampler, block_bounds, block_count
from bondmodel.scenario.schema import Scenario
from bondmodel.types import FloatArray, IntArray

#: Per-path values (metrics and sampled inputs) are stored in double precision while the
#: whole table fits in this many bytes, and in single precision above it (methodology §20.9):
#: the bound on the parent's memory for very large runs.
DOUBLE_PRECISION_BUDGET: Final = 512 * 2**20

#: Bins of each per-period fan-chart histogram (plus one underflow and one overflow bin).
FAN_BINS: Final = 2048


@dataclass(frozen=True)
class Context:
    """What every worker needs: small, picklable, and the same for every chunk."""

    scenario: Scenario
    seed: int
    sampler: Sampler
    paths: int
    fan_edges: dict[str, FloatArray] = field(default_factory=dict)
    #: inputs drawn within a band of their distribution (a stress analysis; see Model.sample)
    bands: Bands = ()


@dataclass
class ChunkOutput:
    """One chunk's per-path results (by block) and summed histogram counts (in the smallest
    unsigned integers that hold the chunk's path count)."""

    blocks: list[int]
    metrics: dict[int, dict[str, FloatArray]]
    inputs: dict[int, FloatArray]
    fan_counts: dict[str, IntArray]
    fan_min: dict[str, FloatArray]
    fan_max: dict[str, FloatArray]


def run_chunk(context: Context, blocks: list[int]) -> ChunkOutput:
    """Simulate ``blocks`` (consecutive block numbers) and summarise them for merging.

    BLAS runs single-threaded here: the engine's matrix products are small, and
    a multi-threaded BLAS waking its threads for each one halves the speed (and
    fights the other workers for the cores).
    """
    with single_threaded_blas():
        return _run_chunk(context, blocks)


#: The BLAS libraries this process has loaded, found once (finding them again for every
#: chunk, as threadpool_limits does, costs milliseconds).
_CONTROLLER: list[ThreadpoolController] = []


#: True in a local worker, where BLAS is on one thread for the process's life.
_BLAS_SINGLE_THREADED: list[bool] = []


def single_threaded_blas() -> Any:
    """A context in which BLAS runs on one thread (``threadpoolctl``'s limit, from one
    controller per process; nothing to do in a local worker, already limited)."""
    if _BLAS_SINGLE_THREADED:
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _run_chunk(context: Context, blocks: list[int]) -> ChunkOutput:
    model = Model.compile(context.scenario)
    out = ChunkOutput(blocks, {}, {}, {}, {}, {})
    for b in blocks:
        metrics, values, series = model.block(
            context.seed, context.sampler, b, context.paths, context.bands
        )
        out.metrics[b] = metrics
        out.inputs[b] = values
        for name, data in series.items():
            edges = context.fan_edges.get(name)
            if edges is None:
                continue
            counts = histogram_counts(data, edges)
            out.fan_counts[name] = out.fan_counts.get(name, 0) + counts
            # the infinite values left out too (most series have none: then no copy)
            finite = data if np.isfinite(data).all() else np.where(np.isfinite(data), data, np.nan)
            with np.errstate(invalid="ignore"):
                lo = np.nanmin(finite, axis=0, initial=np.inf)
                hi = np.nanmax(finite, axis=0, initial=-np.inf)
            out.fan_min[name] = np.minimum(out.fan_min.get(name, lo), lo)
            out.fan_max[name] = np.maximum(out.fan_max.get(name, hi), hi)
    # the counts travel back to the parent in the smallest unsigned integers that hold the
    # chunk's path count (a quarter of int64's bytes for the default chunk); the parent adds
    # them in int64 (_FanTotals), so the totals are the same
    n_paths = sum(stop - start for start, stop in (block_bounds(b, context.paths) for b in blocks))
    small = np.min_scalar_type(n_paths)
    out.fan_counts = {name: c.astype(small) for name, c in out.fan_counts.items()}
    return out


#: The context of this worker process's run, set once by :func:`_start_worker`: each chunk
#: then travels as its block numbers only, not with the scenario and the fan-chart edges.
_WORKER_CONTEXT: list[Context] = []


def _start_worker(context: Context) -> None:
    """A local worker's initializer: the signal defaults (interrupts.py), the allocator's
    reuse of freed memory (resources.keep_freed_memory), BLAS on one thread for the
    worker's life and the run's context."""
    worker_defaults()
    keep_freed_memory()
    single_threaded_blas().__enter__()  # never left: the process only runs chunks
    _BLAS_SINGLE_THREADED[:] = [True]
    _WORKER_CONTEXT[:] = [context]


def _run_worker_chunk(blocks: list[int]) -> ChunkOutput:
    """:func:`run_chunk` on the context :func:`_start_worker` set in this worker."""
    return run_chunk(_WORKER_CONTEXT[0], blocks)


# ---------------------------------------------------------------------------
# Fan-chart histograms
# ---------------------------------------------------------------------------


def fan_edges_from(series: FloatArray) -> FloatArray:
    """Bin edges per period, (periods, FAN_BINS + 1), from a pilot block's values.

    Each period's range [lo, hi] is widened by half its width on each side
    (or, where it is a single point or narrower than 1e-9 of its size, by
    max(1, 1e-6 |lo|)), and cut into FAN_BINS equal bins.
    """
    finite = np.where(np.isfinite(series), series, np.nan)
    with np.errstate(invalid="ignore"):
        lo = np.nan_to_num(np.nanmin(finite, axis=0, initial=np.inf), posinf=0.0)
        hi = np.nan_to_num(np.nanmax(finite, axis=0, initial=-np.inf), neginf=0.0)
    hi = np.maximum(hi, lo)
    # a range too narrow to split into distinct bins (values equal to the last few
    # bits) is treated as a single point
    spread = (hi - lo) > 1e-9 * np.maximum(1.0, np.maximum(np.abs(lo), np.abs(hi)))
    pad = np.where(spread, 0.5 * (hi - lo), np.maximum(1.0, np.abs(lo) * 1e-6))
    return np.linspace(lo - pad, hi + pad, FAN_BINS + 1, axis=1)


def histogram_counts(series: FloatArray, edges: FloatArray) -> IntArray:
    """Counts per period and bin, (periods, FAN_BINS + 2): underflow, bins, overflow.

    NaN values (an undefined DSCR) are not counted.
    """
    n_periods = series.shape[1]
    lo = edges[:, 0]
    width = (edges[:, -1] - edges[:, 0]) / FAN_BINS
    with np.errstate(invalid="ignore"):
        idx = np.floor((series - lo) / width) + 1
    # a bin index that is not finite (a NaN or infinite value, or one past the float range)
    # goes to a spare bin after the overflow, dropped below: no masked copy of the values
    uncounted = ~np.isfinite(idx)
    np.clip(idx, 0, FAN_BINS + 1, out=idx)
    idx[uncounted] = FAN_BINS + 2
    cells = idx.astype(np.int64)
    cells += np.arange(n_periods) * (FAN_BINS + 3)
    # bincount does not care about the order of its input: read it in memory order
    counts = np.bincount(cells.ravel(order="K"), minlength=n_periods * (FAN_BINS + 3))
    result: IntArray = counts.reshape(n_periods, FAN_BINS + 3)[:, :-1]
    return result


def histogram_quantiles(
    counts: IntArray, edges: FloatArray, lo: FloatArray, hi: FloatArray, q: list[float]
) -> FloatArray:
    """Quantiles per period from histogram counts, (periods, len(q)); NaN with no data.

    Linear interpolation inside the bin where the cumulative count reaches
    q x n; the underflow and overflow bins run from the exact minimum to the
    first edge and from the last edge to the exact maximum.
    """
    n_periods = counts.shape[0]
    out = np.full((n_periods, len(q)), np.nan)
    for p in range(n_periods):
        c = counts[p]
        n = c.sum()
        if n == 0:
            continue
        left = np.concatenate([[min(lo[p], edges[p, 0])], edges[p]])
        right = np.concatenate([edges[p], [max(hi[p], edges[p, -1])]])
        cumulative = np.cumsum(c)
        for j, qq in enumerate(q):
            target = qq * n
            b = int(np.searchsorted(cumulative, target, side="left"))
            b = min(b, len(c) - 1)
            before = cumulative[b] - c[b]
            frac = (target - before) / c[b] if c[b] else 0.0
            value = left[b] + frac * (right[b] - left[b])
            out[p, j] = min(max(value, lo[p]), hi[p])
    return out


# ---------------------------------------------------------------------------
# Running the chunks
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Convergence:
    """Stop when every watched statistic is known to within a relative tolerance.

    After each block (in block order), the confidence interval of the mean of
    each watched metric must have half-width <= ``tolerance`` x |mean|; the run
    stops at the first block where all do, or at the path count asked for.
    """

    tolerance: float = 0.01
    confidence: float = 0.95
    metrics: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # "not a < x < b" also refuses NaN; the metrics are checked against the scenario's
        # per-path metrics when the run starts
        if not 0.0 < self.tolerance < 1.0:
            raise ScenarioError(f"convergence.tolerance: {self.tolerance} must be between 0 and 1")
        if not 0.5 <= self.confidence < 1.0:
            raise ScenarioError(f"convergence.confidence: {self.confidence} must be in [0.5, 1)")
        if isinstance(self.metrics, str) or not all(isinstance(m, str) for m in self.metrics):
            raise ScenarioError(
                f"convergence.metrics: {self.metrics!r} must be a tuple of metric names"
            )


def per_path_precision(paths: int, columns: int) -> str:
    """``"double"`` while ``paths`` x ``columns`` values fit in :data:`DOUBLE_PRECISION_BUDGET`
    as 8-byte floats, else ``"single"`` (4-byte floats)."""
    return "double" if paths * columns * 8 <= DOUBLE_PRECISION_BUDGET else "single"


PRECISION_DTYPES: Final = {"double": np.float64, "single": np.float32}


#: The scrambled Sobol sequence (scipy's, 30 bits) has 2**30 distinct points.
SOBOL_MAX_PATHS: Final = 2**30

#: Fewest per-path columns of any scenario (the programme metrics; a bond, partners and
#: each risk input add more): the bound used before the scenario is known.
MIN_PATH_COLUMNS: Final = len(PROGRAMME_PATH_METRICS)

#: Dask's scheduler addresses: PROTOCOL://HOST:PORT or HOST:PORT (IPv6 in brackets).
_SCHEDULER = re.compile(
    r"^(?:(?P<scheme>tcp|tls|ws|wss|ucx)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
    r":(?P<port>\d{1,5})$"
)


def max_workers() -> int:
    """The most local worker processes a run may start: four per CPU, at least eight
    (more only slow a run down, and each holds a copy of the engine)."""
    return max(8, 4 * (os.cpu_count() or 1))


def check_run_flags(
    *,
    paths: int | None = None,
    seed: int | None = None,
    sampler: str = "random",
    workers: int = 1,
    chunk_blocks: int = 1,
    scheduler: str | None = None,
    columns: int = MIN_PATH_COLUMNS,
) -> None:
    """The rules of the run settings, one message each, whichever command (run, compare,
    sweep, solve, verify) or API call gives them; all checked before any path runs.

    ``columns`` is the number of per-path values the scenario stores (metrics and sampled
    inputs); before the scenario is known, the fewest any scenario has.
    """
    if sampler not in SAMPLERS:
        raise ScenarioError(f"sampler: {sampler!r} is unknown; allowed: {', '.join(SAMPLERS)}")
    if paths is not None and paths < 0:
        raise ScenarioError(f"paths: {paths} is negative; allowed: 0 (base case only) or more")
    if paths is not None and sampler == "sobol" and paths > SOBOL_MAX_PATHS:
        raise ScenarioError(
            f"paths: {paths:,} is more than the {SOBOL_MAX_PATHS:,} distinct points of the "
            "Sobol sequence; use fewer paths, or --sampler random"
        )
    if paths is not None:
        check_memory(paths, columns)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ScenarioError(f"seed: {seed} is out of range; allowed 0..{MAX_SEED}")
    if workers < 1:
        raise ScenarioError(f"workers: {workers} must be >= 1")
    if workers > max_workers():
        raise ScenarioError(
            f"workers: {workers} is more than {max_workers()} (four per CPU of this machine, "
            "at least eight); use fewer, or a Dask cluster (--scheduler) to go wider"
        )
    if chunk_blocks < 1:
        raise ScenarioError(f"chunk_blocks: {chunk_blocks} must be >= 1")
    if scheduler is not None:
        match = _SCHEDULER.match(scheduler)
        if match is None or not 1 <= int(match.group("port")) <= 65535:
            raise ScenarioError(
                f"scheduler: {scheduler!r} is not a Dask scheduler address; give "
                "[PROTOCOL://]HOST:PORT with PROTOCOL tcp, tls, ws, wss or ucx, "
                "e.g. tcp://127.0.0.1:8786"
            )


def per_path_bytes(paths: int, columns: int) -> int:
    """Bytes of a run's per-path table at the precision it is stored in."""
    dtype = PRECISION_DTYPES[per_path_precision(paths, columns)]
    return paths * columns * np.dtype(dtype).itemsize


def check_memory(paths: int, columns: int) -> None:
    """Refuse a run whose per-path table alone is larger than the memory this process may
    use (``resources.memory_limit``), before anything is allocated."""
    need = per_path_bytes(paths, columns)
    limit = memory_limit()
    if need > limit.bytes:
        raise ScenarioError(_too_large(paths, need, f"at most {limit.describe()}"))


def _too_large(paths: int, need: int, limit: str) -> str:
    return (
        f"paths: {paths:,} paths need {need / 2**30:.1f} GiB for their per-path results, "
        f"more than this machine can allocate ({limit}); use fewer paths, or --converge to "
        "stop once the statistics are precise enough"
    )


@dataclass(frozen=True)
class RunSettings:
    """How a Monte Carlo run is made, made once and handed down whole.

    ``paths``, ``seed``, ``sampler`` and ``convergence`` fix its numbers; ``workers``,
    ``scheduler`` (a Dask scheduler's address) and ``chunk_blocks`` only spread the work and
    change none of them. Invalid settings are refused, naming the parameter (the command
    line names its flag instead: ``cli.PARAMETER_FLAGS``).
    """

    paths: int
    seed: int
    sampler: Sampler = "random"
    workers: int = 1
    scheduler: str | None = None
    chunk_blocks: int = 4
    convergence: Convergence | None = None

    def __post_init__(self) -> None:
        if self.paths < 1:
            raise ScenarioError(f"paths: {self.paths} must be >= 1 for a simulation")
        check_run_flags(
            paths=self.paths,
            seed=self.seed,
            sampler=self.sampler,
            workers=self.workers,
            chunk_blocks=self.chunk_blocks,
            scheduler=self.scheduler,
        )

    @property
    def executor(self) -> str:
        """``dask``, ``processes`` or ``serial``."""
        return "dask" if self.scheduler else ("processes" if self.workers > 1 else "serial")


@dataclass
class RawSimulation:
    """Everything the chunks returned, merged in path order."""

    paths: int
    names: list[str]
    metrics: dict[str, FloatArray]
    #: (paths, metrics), column-major; ``metrics`` holds views of its columns
    metric_matrix: FloatArray
    inputs: FloatArray
    fan_counts: dict[str, IntArray]
    fan_edges: dict[str, FloatArray]
    fan_min: dict[str, FloatArray]
    fan_max: dict[str, FloatArray]
    repaired: bool
    converged_at: int | None
    executor: str
    workers: int
    chunk_blocks: int
    #: "double" or "single": how the per-path values are stored (see per_path_precision)
    precision: str = "double"


def simulate_raw(
    scenario: Scenario,
    settings: RunSettings,
    progress: Callable[[int], None] | None = None,
    bands: Bands = (),
) -> RawSimulation:
    """Run ``settings.paths`` paths and merge the per-block results in path order
    (``bands``: inputs drawn within a band of their distribution, a stress analysis)."""
    paths, seed, sampler = settings.paths, settings.seed, settings.sampler
    model = Model.compile(scenario)
    names = model.metric_names
    check_memory(paths, len(names) + len(model.risk.names))
    _check_watched(settings.convergence, names)
    # Pilot: block 0 sets the fan-chart bins (deterministic: it is block 0 whatever the chunks).
    with single_threaded_blas():
        pilot_series = model.block(seed, sampler, 0, paths, bands).series
    edges = {name: fan_edges_from(data) for name, data in pilot_series.items()}
    context = Context(scenario, seed, sampler, paths, edges, bands)
    n_blocks = block_count(paths)
    chunks = [
        list(range(start, min(start + settings.chunk_blocks, n_blocks)))
        for start in range(0, n_blocks, settings.chunk_blocks)
    ]
    executor = settings.executor
    merged = _Merged(paths, names, len(model.risk.names), settings.convergence)
    for i, output in _execute(context, chunks, executor, settings.workers, settings.scheduler):
        merged.add(i, output)
        if progress is not None:
            progress(
                sum(block_bounds(b, paths)[1] - block_bounds(b, paths)[0] for b in output.blocks)
            )
        if merged.converged_at is not None:
            break
    last_block = merged.converged_at if merged.converged_at is not None else n_blocks - 1
    used_paths = block_bounds(last_block, paths)[1]
    # each metric is a contiguous column of the matrix, and the per-path DataFrame
    # is built on it without copying
    kept_matrix = merged.matrix[:used_paths]
    merged.count_kept(context, last_block)
    return RawSimulation(
        paths=used_paths,
        names=model.risk.names,
        metrics={name: kept_matrix[:, j] for j, name in enumerate(names)},
        metric_matrix=kept_matrix,
        inputs=merged.inputs[:used_paths],
        fan_counts=merged.fans.counts,
        fan_edges=edges,
        fan_min=merged.fans.low,
        fan_max=merged.fans.high,
        repaired=model.risk.repaired,
        converged_at=merged.converged_at,
        executor=executor,
        workers=settings.workers,
        chunk_blocks=settings.chunk_blocks,
        precision=merged.precision,
    )


def _check_watched(convergence: Convergence | None, names: tuple[str, ...]) -> None:
    """The metrics a stopping rule watches must be per-path metrics of the scenario."""
    if convergence is None:
        return
    unknown = [m for m in convergence.metrics if m not in names]
    if unknown:
        raise ScenarioError(
            f"convergence.metrics: {unknown} not per-path metrics of this scenario; "
            f"allowed: {', '.join(names)}"
        )


class _Merged:
    """The run's per-path results as the chunks arrive, in path order, and its fan totals.

    Every block's results go straight into matrices allocated for the whole run (pages are
    only touched as blocks arrive), and a chunk keeps only its small histogram counts: the
    parent never holds the per-path results twice. Very large runs keep them in single
    precision, so the parent stays within its memory bound. With a stopping rule, a chunk's
    counts wait until every one of its blocks is known to be kept (checked, not yet
    converged); without one, every chunk is kept and counted at once.
    """

    def __init__(
        self,
        paths: int,
        names: tuple[str, ...],
        n_inputs: int,
        convergence: Convergence | None,
    ) -> None:
        self.paths, self.names, self.convergence = paths, names, convergence
        self.precision = per_path_precision(paths, len(names) + n_inputs)
        dtype = PRECISION_DTYPES[self.precision]
        try:
            self.matrix = np.empty((paths, len(names)), order="F", dtype=dtype)
            self.inputs = np.empty((paths, n_inputs), order="F", dtype=dtype)
        except MemoryError:
            size = paths * (len(names) + n_inputs) * np.dtype(dtype).itemsize
            raise ScenarioError(_too_large(paths, size, "the allocation was refused")) from None
        self.fans = _FanTotals()
        self.pending: dict[int, ChunkOutput] = {}
        self.block_owner: dict[int, int] = {}
        self.converged_at: int | None = None
        self.next_check = 0

    def add(self, i: int, output: ChunkOutput) -> None:
        """Chunk ``i``'s per-path results into place; its counts kept or held back."""
        for b in output.blocks:
            start, stop = block_bounds(b, self.paths)
            for j, name in enumerate(self.names):
                self.matrix[start:stop, j] = output.metrics[b][name]
            self.inputs[start:stop] = output.inputs[b]
            self.block_owner[b] = i
        output.metrics, output.inputs = {}, {}
        if self.convergence is None:
            self.fans.add(output)
            return
        self.pending[i] = output
        while self.next_check in self.block_owner:
            stop = block_bounds(self.next_check, self.paths)[1]
            if _converged(self.matrix[:stop], self.names, self.convergence):
                self.converged_at = self.next_check
                return
            self.next_check += 1
        for j in [j for j, out in self.pending.items() if max(out.blocks) < self.next_check]:
            self.fans.add(self.pending.pop(j))

    def count_kept(self, context: Context, last_block: int) -> None:
        """Converged: count exactly the kept blocks of the chunks held back."""
        for out in self.pending.values():
            kept = [b for b in out.blocks if b <= last_block]
            if kept == out.blocks:
                self.fans.add(out)
            elif kept:
                self.fans.add(run_chunk(context, kept))


class _FanTotals:
    """The fan-chart histograms summed over chunks: counts add exactly and minima and maxima
    are order-free, so the totals do not depend on the order the chunks arrive in."""

    def __init__(self) -> None:
        self.counts: dict[str, IntArray] = {}
        self.low: dict[str, FloatArray] = {}
        self.high: dict[str, FloatArray] = {}

    def add(self, out: ChunkOutput) -> None:
        for name, small in out.fan_counts.items():
            counts = small.astype(np.int64)  # a chunk's counts come in its smallest integers
            self.counts[name] = self.counts[name] + counts if name in self.counts else counts
            self.low[name] = np.minimum(self.low.get(name, out.fan_min[name]), out.fan_min[name])
            self.high[name] = np.maximum(self.high.get(name, out.fan_max[name]), out.fan_max[name])


def _converged(
    matrix: FloatArray,
    names: tuple[str, ...],
    convergence: Convergence,
) -> bool:
    from scipy import special

    watched = convergence.metrics or tuple(n for n in ("council_npv", "npv") if n in names)[:1]
    z = float(special.ndtri(0.5 + convergence.confidence / 2.0))  # standard normal quantile
    for name in watched:
        values = matrix[:, names.index(name)]
        values = values[np.isfinite(values)]
        if values.size < 2:
            return False
        mean = float(values.mean(dtype=np.float64))
        half = z * float(values.std(ddof=1, dtype=np.float64)) / np.sqrt(values.size)
        if half > convergence.tolerance * abs(mean):
            return False
    return True


def _execute(
    context: Context, chunks: list[list[int]], executor: str, workers: int, scheduler: str | None
) -> Iterator[tuple[int, ChunkOutput]]:
    """Yield (chunk number, output) as chunks complete, in any order."""
    if executor == "serial":
        keep_freed_memory()
        try:
            for i, chunk in enumerate(chunks):
                yield i, run_chunk(context, chunk)
        finally:
            give_back_freed_memory()
        return
    if executor == "processes":
        # workers leave a stop to the parent, which terminates them (interrupts.py)
        # the context goes to each worker once (with a fork, not even pickled), and each
        # chunk as its block numbers: 1.6 MB of fan-chart edges less per chunk
        pool = ProcessPoolExecutor(
            max_workers=workers, initializer=_start_worker, initargs=(context,)
        )
        futures = {pool.submit(_run_worker_chunk, chunk): i for i, chunk in enumerate(chunks)}
        try:
            for future in as_completed(futures):
                # dropped once done: a finished future holds its chunk's results
                yield futures.pop(future), future.result()
        except BaseException:
            # Ctrl-C or a failed chunk: stop now rather than wait for running chunks
            stop_pool(pool)
            raise
        pool.shutdown(wait=True)
        return
    yield from _execute_dask(context, chunks, scheduler or "")


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` at once: terminate its workers and let its manager thread finish.

    The executor has no public way to stop its workers; terminating them is safe here, as
    a chunk writes nothing and its results are discarded. A worker terminated while it
    sends a chunk's results leaves a message cut short in the result pipe, and the
    pool's manager thread would wait forever for the rest of it (and Python's exit waits
    for that thread). So, once the workers are gone, this process closes its own copy of
    the pipe's writing end: with no writer left the wait ends in end-of-file, which the
    manager thread treats as a broken pool and stops; it is waited for here.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5.0)
    result_queue = getattr(pool, "_result_queue", None)
    writer = getattr(result_queue, "_writer", None)
    if writer is not None and not any(p.is_alive() for p in processes):
        writer.close()
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    if manager is not None:
        # finished here rather than during Python's exit, whose wake-up of the thread
        # races with the thread closing its wake-up pipe (a traceback at exit)
        manager.join(timeout=5.0)


def dask_client(scheduler: str) -> Any:
    """A Dask client of the scheduler at ``scheduler`` (not the default client); a clear
    error naming the address when it cannot be reached."""
    distributed: Any = importlib.import_module("distributed")
    try:
        return distributed.Client(scheduler, timeout="5s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ScenarioError(
            f"scheduler: cannot reach a Dask scheduler at {scheduler!r} ({exc}); "
            "give the address of a running scheduler, e.g. tcp://127.0.0.1:8786"
        ) from None


def _execute_dask(
    context: Context, chunks: list[list[int]], scheduler: str
) -> Iterator[tuple[int, ChunkOutput]]:
    """Run the chunks on an existing Dask cluster; a failed chunk fails the whole run."""
    client = dask_client(scheduler)
    try:
        ctx = client.scatter(context, broadcast=True)
        futures = client.map(run_chunk, [ctx] * len(chunks), chunks, pure=False, retries=2)
        # Collected in chunk order: results are merged by block anyway.
        for i in range(len(futures)):
            future, futures[i] = futures[i], None  # a finished future holds its results
            try:
                result = future.result()
            except Exception as exc:
                raise ModelError(
                    f"a Dask worker failed on chunk {i} and its retries "
                    f"({type(exc).__name__}: {exc}); no partial results are returned"
                ) from None
            yield i, result
    finally:
        client.close()


ProgressHooks = tuple[Callable[[int], None] | None, Callable[[], None]]


def progress_bar(total: int, enabled: bool) -> ProgressHooks:
    """A tqdm progress bar on stderr (paths done, time left), or nothing."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="path", unit_scale=True, file=sys.stderr, leave=False)

    def update(n: int) -> None:
        bar.update(n)

    return update, bar.close
