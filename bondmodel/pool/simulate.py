"""The pool's Monte Carlo run: blocks of paths, every member, reduced per block.

A block (the simulation's :data:`~bondmodel.risk.sampling.BLOCK_SIZE` paths) runs every
member in turn, adds their payments and write-offs, and runs the pool's waterfall. It
returns only a :class:`BlockSummary`: sums, exceedance counts, fixed-edge histograms and
the block's largest losses (the most any tail statistic can need), never per-path data
for every member. Summaries are merged in block order at the end, so the results depend
only on the portfolio, the seed and the number of paths: not on the executor, the
workers or the chunks.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Final

import numpy as np

from bondmodel.errors import ModelError, ScenarioError
from bondmodel.irr import irr
from bondmodel.pool.loader import Portfolio
from bondmodel.pool.model import PoolModel, common_normals, common_shocks
from bondmodel.pool.waterfall import PoolFlows, Structure, run_pool_waterfall
from bondmodel.resources import memory_limit
from bondmodel.risk.sampling import Sampler, block_bounds, block_count
from bondmodel.risk.simulate import check_run_flags, dask_client, single_threaded_blas, stop_pool
from bondmodel.types import FloatArray, IntArray

#: The tail level of VaR and expected shortfall (P95 loss, ES95).
TAIL_LEVEL: Final = 0.95
#: Bins of the loss histograms between 0 and the pool's principal (plus an overflow bin).
LOSS_BINS: Final = 200
#: IRR histogram: bins of 0.01% from -100% to +50% a year (plus under- and overflow).
IRR_EDGES: Final = np.linspace(-1.0, 0.5, 15001)


def tail_count(paths: int, level: float = TAIL_LEVEL) -> int:
    """K, the paths in the tail: ceil((1 - level) x paths), at least 1.

    VaR at ``level`` is the K-th largest loss and expected shortfall the mean of the K
    largest (docs/methodology.md, "Pool metrics").
    """
    return max(1, math.ceil((1.0 - level) * paths - 1e-9))


def structure_of(model: PoolModel) -> Structure:
    """The pool's contract: tranches (or one tranche of the whole bond), reserve, guarantee."""
    spec = model.portfolio.spec
    if spec.tranches:
        names = tuple(t.name for t in spec.tranches)
        shares = np.array([t.share for t in spec.tranches])
        coupons = np.array(
            [
                spec.bond.coupon.rate if t.coupon_rate is None else t.coupon_rate
                for t in spec.tranches
            ]
        )
    else:
        names, shares, coupons = ("bond",), np.ones(1), np.array([spec.bond.coupon.rate])
    reserve = 0.0
    if spec.reserve is not None:
        reserve = (
            float(spec.reserve.amount)
            if spec.reserve.amount is not None
            else float(spec.reserve.share or 0.0) * model.principal
        )
    given = [m.guarantee_share for m in model.portfolio.members]
    guarantee_shares = (
        model.loans / model.principal
        if given[0] is None  # all or none given (checked by the schema)
        else np.array([float(x or 0.0) for x in given])
    )
    return Structure(
        names=names,
        sizes=shares * model.principal,
        coupons=coupons,
        remaining=model.remaining,
        g=model.g,
        reserve=reserve,
        guarantee=spec.guarantee,
        loans=model.loans,
        shares=guarantee_shares,
    )


#: Members per unit of work: a task simulates one block of paths for one group of
#: consecutive members. Fixed, so that the members' payments are added in the same order
#: (within a group, then group by group) whatever the executor or the number of workers.
MEMBER_GROUP: Final = 16


def member_groups(n_members: int) -> list[range]:
    """The members' groups of :data:`MEMBER_GROUP`, in member order."""
    return [
        range(start, min(start + MEMBER_GROUP, n_members))
        for start in range(0, n_members, MEMBER_GROUP)
    ]


@dataclass(frozen=True)
class GroupPart:
    """One block of one group of members: their payments and write-offs added in member
    order, (n, NL+1), and each member's total write-off, (n, members in the group)."""

    block: int
    group: int
    paid: FloatArray
    write_off: FloatArray
    member_loss: FloatArray


def group_part(
    model: PoolModel,
    seed: int,
    block: int,
    paths: int,
    group: int,
    sampler: Sampler = "random",
) -> GroupPart:
    """Block ``block`` (of a run of ``paths`` paths) of member group ``group``, each member's
    own inputs drawn by ``sampler`` (the common factors always by the random sampler)."""
    start, stop = block_bounds(block, paths)
    n = stop - start
    common = common_normals(seed, block, n, model.factor_root)
    shocks = (
        common_shocks(seed, block, n, model.shock_years, model.factor_root)
        if model.shock_years
        else None
    )
    members = member_groups(model.n_members)[group]
    width = model.n_legal + 1
    paid = np.zeros((n, width))
    write_off = np.zeros((n, width))
    member_loss = np.empty((n, len(members)))
    for j, i in enumerate(members):
        mb = model.member_block(i, seed, block, paths, common, shocks, sampler)
        paid += mb.paid
        write_off += mb.write_off
        member_loss[:, j] = mb.loss
    return GroupPart(block, group, paid, write_off, member_loss)


@dataclass(frozen=True)
class BlockPaths:
    """One block's per-path results (for tests and small runs; a run keeps only summaries).

    ``member_loss`` (n, M) each member's write-off; ``gross`` (n,) their sum; ``flows`` the
    pool's waterfall."""

    member_loss: FloatArray
    gross: FloatArray
    flows: PoolFlows


def combine(structure: Structure, parts: list[GroupPart]) -> BlockPaths:
    """A block's group parts (in group order) added, and the pool's waterfall run on them."""
    paid = parts[0].paid.copy()
    write_off = parts[0].write_off.copy()
    for part in parts[1:]:
        paid += part.paid
        write_off += part.write_off
    member_loss = np.concatenate([p.member_loss for p in parts], axis=1)
    flows = run_pool_waterfall(structure, paid, write_off, member_loss)
    return BlockPaths(member_loss, member_loss.sum(axis=1), flows)


def block_paths(
    model: PoolModel,
    structure: Structure,
    seed: int,
    block: int,
    paths: int,
    sampler: Sampler = "random",
) -> BlockPaths:
    """Block ``block`` of a run of ``paths`` paths: every member, then the pool."""
    groups = range(len(member_groups(model.n_members)))
    parts = [group_part(model, seed, block, paths, g, sampler) for g in groups]
    return combine(structure, parts)


@dataclass
class BlockSummary:
    """What one block returns: sums, counts, histograms and its largest losses."""

    block: int
    n: int
    sums: dict[str, FloatArray]
    counts: dict[str, IntArray]
    #: the block's K largest pool (gross) losses, their path numbers and member losses
    tail_loss: FloatArray
    tail_path: IntArray
    tail_members: FloatArray
    #: the block's K largest investor (net) losses
    tail_net: FloatArray
    #: each member's K largest losses, (K', M)
    member_top: FloatArray
    irr_low: FloatArray
    irr_high: FloatArray


@dataclass
class Tails:
    """The run's K largest losses so far, folded in as blocks arrive (in any order).

    Each tail is ordered by loss, largest first (the pool's gross losses with ties by path
    number), so the result does not depend on the order the blocks are folded in; the parent
    holds K x members values, not a block's tails for every block.
    """

    k: int
    loss: FloatArray
    path: IntArray
    members: FloatArray
    net: FloatArray
    member_top: FloatArray

    @classmethod
    def empty(cls, k: int, n_members: int) -> Tails:
        """No paths yet."""
        none = np.empty(0)
        return cls(k, none, np.empty(0, np.int64), np.empty((0, n_members)), none, none[:, None])

    def add(self, s: BlockSummary) -> None:
        """Fold in block ``s``'s tails, and free them from ``s``."""
        loss = np.concatenate([self.loss, s.tail_loss])
        path = np.concatenate([self.path, s.tail_path])
        order = np.lexsort((path, -loss))[: self.k]
        self.loss, self.path = loss[order], path[order]
        self.members = np.concatenate([self.members, s.tail_members])[order]
        self.net = -np.sort(-np.concatenate([self.net, s.tail_net]))[: self.k]
        top = (
            s.member_top
            if self.member_top.size == 0
            else np.concatenate([self.member_top, s.member_top])
        )
        self.member_top = -np.sort(-top, axis=0)[: self.k]
        s.tail_loss = s.tail_net = np.empty(0)
        s.tail_path = np.empty(0, np.int64)
        s.tail_members = s.member_top = np.empty((0, 0))


def _top(values: FloatArray, k: int) -> IntArray:
    """Indices of the k largest values, largest first, ties by position (deterministic)."""
    order = np.lexsort((np.arange(values.size), -values))
    result: IntArray = order[:k]
    return result


def summarise(
    model: PoolModel, structure: Structure, bp: BlockPaths, block: int, paths: int
) -> BlockSummary:
    """Reduce block ``block``'s paths to a :class:`BlockSummary`."""
    start, _ = block_bounds(block, paths)
    k = tail_count(paths)
    flows = bp.flows
    net = flows.investor_loss
    edges = np.linspace(0.0, model.principal, LOSS_BINS + 1)
    wal, irr_annual = tranche_wal_irr(structure, flows)
    sums = {
        "gross": np.array([bp.gross.sum(), (bp.gross**2).sum()]),
        "net": np.array([net.sum(), (net**2).sum()]),
        "member_loss": bp.member_loss.sum(axis=0),
        "tranche_loss": flows.loss.sum(axis=1),
        "wal": np.nansum(wal, axis=1),
        "irr": np.nansum(irr_annual, axis=1),
        "contributions": flows.contributions.sum(axis=0),
        "guarantee": np.array([flows.guarantee_paid.sum()]),
        "reserve_draw": np.array([flows.reserve_draw.sum()]),
    }
    tol = 1e-6
    counts = {
        "gross_positive": np.array([(bp.gross > tol).sum()]),
        "net_positive": np.array([(net > tol).sum()]),
        "member_positive": (bp.member_loss > tol).sum(axis=0),
        "tranche_positive": (flows.loss > tol).sum(axis=1),
        "wal_n": np.isfinite(wal).sum(axis=1),
        "irr_n": np.isfinite(irr_annual).sum(axis=1),
        "called": (flows.contributions > tol).sum(axis=0),
        "guarantee_positive": np.array([(flows.guarantee_paid.sum(axis=1) > tol).sum()]),
        "reserve_used": np.array([(flows.reserve_draw.sum(axis=1) > tol).sum()]),
        "gross_hist": _histogram(bp.gross, edges),
        "net_hist": _histogram(net, edges),
        "irr_hist": np.stack([_histogram(r, IRR_EDGES) for r in irr_annual]),
    }
    top = _top(bp.gross, k)
    member_top = -np.sort(-bp.member_loss, axis=0)[:k]
    finite = np.where(np.isfinite(irr_annual), irr_annual, np.nan)
    with np.errstate(invalid="ignore"):
        low = np.nanmin(finite, axis=1, initial=np.inf)
        high = np.nanmax(finite, axis=1, initial=-np.inf)
    return BlockSummary(
        block=block,
        n=bp.gross.size,
        sums=sums,
        counts=counts,
        tail_loss=bp.gross[top],
        tail_path=start + top,
        tail_members=bp.member_loss[top],
        tail_net=net[_top(net, k)],
        member_top=member_top,
        irr_low=low,
        irr_high=high,
    )


def tranche_wal_irr(structure: Structure, flows: PoolFlows) -> tuple[FloatArray, FloatArray]:
    """(K, n) each tranche's weighted average life (years; NaN with no principal repaid) and
    its investors' IRR (annual effective; NaN where it does not exist)."""
    years = np.arange(flows.principal_paid.shape[2]) / structure.g
    repaid = flows.principal_paid.sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        wal = np.where(repaid > 0.0, (flows.principal_paid * years).sum(axis=2) / repaid, np.nan)
    irr_annual = np.stack(
        [irr(f, periods_per_year=structure.g).annual for f in flows.investor_flow]
    )
    return wal, irr_annual


def _histogram(values: FloatArray, edges: FloatArray) -> IntArray:
    """Counts of ``values`` in [edges[0], edges[-1]] by bin, with an underflow bin first and
    an overflow bin last; NaN is not counted."""
    finite = values[np.isfinite(values)]
    idx = np.searchsorted(edges, finite, side="right")
    idx[finite == edges[-1]] = len(edges) - 1  # the last edge belongs to the last bin
    result: IntArray = np.bincount(idx, minlength=len(edges) + 1)
    return result


# ---------------------------------------------------------------------------
# Chunks and executors
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolContext:
    """What every worker needs: the portfolio, the seed, the path count, and the key that
    identifies the portfolio (:func:`portfolio_key`, computed once by the parent)."""

    portfolio: Portfolio
    seed: int
    paths: int
    key: str
    sampler: Sampler = "random"


def portfolio_key(portfolio: Portfolio) -> str:
    """SHA-256 of the portfolio file's settings and every member scenario's SHA-256."""
    text = portfolio.spec.model_dump_json() + "".join(s.sha256() for s in portfolio.scenarios)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: The pool compiled in this process (one portfolio at a time).
_COMPILED: dict[str, tuple[PoolModel, Structure]] = {}


def compiled(context: PoolContext) -> tuple[PoolModel, Structure]:
    """The context's pool model and structure, compiled once per process."""
    key = context.key
    if key not in _COMPILED:
        _COMPILED.clear()
        model = PoolModel(context.portfolio)
        _COMPILED[key] = (model, structure_of(model))
    return _COMPILED[key]


def run_group(context: PoolContext, block: int, group: int) -> GroupPart:
    """One unit of work: a block of one member group (BLAS on one thread, as in the
    scenario's simulation)."""
    with single_threaded_blas():
        model, _ = compiled(context)
        return group_part(model, context.seed, block, context.paths, group, context.sampler)


def summarise_parts(context: PoolContext, block: int, *parts: GroupPart) -> BlockSummary:
    """A block's summary from its group parts (in group order)."""
    with single_threaded_blas():
        model, structure = compiled(context)
        bp = combine(structure, list(parts))
        return summarise(model, structure, bp, block, context.paths)


def execute(
    context: PoolContext, n_groups: int, workers: int, scheduler: str | None
) -> Iterator[BlockSummary]:
    """Each block's summary (in any order): serially, on local processes (``workers`` > 1;
    the parent combines each block's groups) or on a Dask cluster (``scheduler``; a task per
    block combines its groups on a worker, and only the summaries come back)."""
    n_blocks = block_count(context.paths)
    if scheduler is not None:
        yield from _execute_dask(context, n_blocks, n_groups, scheduler)
    elif workers == 1:
        for b in range(n_blocks):
            yield summarise_parts(context, b, *(run_group(context, b, g) for g in range(n_groups)))
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        futures = {
            pool.submit(run_group, context, b, g): (b, g)
            for b in range(n_blocks)
            for g in range(n_groups)
        }
        # a block's parts wait here until its last group is done; a finished future is
        # dropped at once (it holds its part), so the parent holds only unfinished blocks
        waiting: dict[int, dict[int, GroupPart]] = {}
        try:
            for future in as_completed(futures):
                del futures[future]
                part = future.result()
                parts = waiting.setdefault(part.block, {})
                parts[part.group] = part
                if len(parts) == n_groups:
                    del waiting[part.block]
                    yield summarise_parts(context, part.block, *(parts[g] for g in range(n_groups)))
        except BaseException:
            stop_pool(pool)
            raise
        pool.shutdown(wait=True)


def _execute_dask(
    context: PoolContext, n_blocks: int, n_groups: int, scheduler: str
) -> Iterator[BlockSummary]:
    client = dask_client(scheduler)
    try:
        ctx = client.scatter(context, broadcast=True)
        summaries = []
        for b in range(n_blocks):
            parts = [
                client.submit(run_group, ctx, b, g, pure=False, retries=2) for g in range(n_groups)
            ]
            summaries.append(client.submit(summarise_parts, ctx, b, *parts, pure=False, retries=2))
        for b in range(n_blocks):
            future, summaries[b] = summaries[b], None
            try:
                result = future.result()
            except Exception as exc:
                raise ModelError(
                    f"a Dask worker failed on block {b} and its retries "
                    f"({type(exc).__name__}: {exc}); no partial results are returned"
                ) from None
            yield result
    finally:
        client.close()


def tail_bytes(paths: int, members: int) -> int:
    """Bytes the parent holds for the run's tails while it folds a block in: the K worst
    paths' losses, path numbers and investors' losses, and two K x members tables (each
    member's loss on those paths and its own K largest), held twice during the merge."""
    return 2 * tail_count(paths) * (2 * members + 3) * 8


def check_tail_memory(paths: int, members: int) -> None:
    """Refuse a pool run whose tails (kept for the expected shortfall and the Euler
    allocation) could not fit in this process's memory, before anything runs: the blocks'
    work is bounded by the block, but the tails grow with the paths."""
    need = tail_bytes(paths, members)
    limit = memory_limit()
    if need > limit.bytes:
        raise ScenarioError(
            f"paths: {paths:,} paths of {members} members need {need / 2**30:.1f} GiB for the "
            f"tails of the loss distribution (the worst {1 - TAIL_LEVEL:.0%} of paths, each "
            f"member's loss on them), more than this machine can allocate (at most "
            f"{limit.describe()}); use fewer paths"
        )


def simulate_pool(
    portfolio: Portfolio,
    paths: int,
    seed: int,
    workers: int = 1,
    scheduler: str | None = None,
    sampler: Sampler = "random",
) -> tuple[PoolModel, Structure, list[BlockSummary], Tails]:
    """Run ``paths`` paths of the pool: the block summaries in block order (their tails
    folded into the run's :class:`Tails`)."""
    if paths < 1:
        raise ScenarioError(f"paths: {paths} must be >= 1 for a pool simulation")
    check_run_flags(paths=paths, seed=seed, sampler=sampler, workers=workers, scheduler=scheduler)
    check_tail_memory(paths, len(portfolio.scenarios))
    context = PoolContext(portfolio, seed, paths, portfolio_key(portfolio), sampler)
    model, structure = compiled(context)
    n_groups = len(member_groups(model.n_members))
    tails = Tails.empty(tail_count(paths), model.n_members)
    summaries = {}
    for summary in execute(context, n_groups, workers, scheduler):
        tails.add(summary)
        summaries[summary.block] = summary
    return model, structure, [summaries[b] for b in range(block_count(paths))], tails
