"""The pool's results: block summaries merged in block order into tables and JSON.

Every float is summed block by block in block order, and every tail is the merge of
each block's largest losses (ordered by loss, then path number), so the results are the
same on any executor and chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bondmodel.pool.loader import Portfolio
from bondmodel.pool.model import PoolModel
from bondmodel.pool.simulate import (
    IRR_EDGES,
    LOSS_BINS,
    TAIL_LEVEL,
    BlockSummary,
    Tails,
    simulate_pool,
)
from bondmodel.pool.waterfall import Structure
from bondmodel.risk.sampling import Sampler
from bondmodel.risk.simulate import histogram_quantiles
from bondmodel.types import FloatArray


@dataclass(frozen=True)
class PoolResults:
    """A pool's simulated metrics.

    Attributes
    ----------
    settings : paths, seed, tail level and count, workers.
    pool : the pool's gross loss (the members' write-offs added) and its investors' loss
        (the tranches' losses added): mean, standard deviation, probability, VaR, ES.
    tranches : per tranche: size, coupon, expected loss, probability of loss, mean WAL,
        mean IRR and IRR percentiles.
    members : per member: key, seed, loan, stand-alone expected loss, probability of loss,
        P95 loss, Euler contribution to the pool's ES, guarantee calls.
    diversification : the pool's P95 loss against the sum of the members' stand-alone P95.
    loss_histogram : counts of the gross and investor losses in fixed bins.
    """

    settings: dict[str, Any]
    pool: pd.DataFrame
    tranches: pd.DataFrame
    members: pd.DataFrame
    diversification: dict[str, float]
    loss_histogram: pd.DataFrame

    def to_json(self) -> dict[str, Any]:
        """Everything as JSON-ready data (NaN as null)."""

        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            if isinstance(x, np.generic):
                return clean(x.item())
            return x

        result: dict[str, Any] = clean(
            {
                "settings": self.settings,
                "pool": self.pool.to_dict(orient="index"),
                "tranches": self.tranches.to_dict(orient="records"),
                "members": self.members.to_dict(orient="records"),
                "diversification": self.diversification,
                "loss_histogram": self.loss_histogram.to_dict(orient="list"),
            }
        )
        return result


def run_pool(
    portfolio: Portfolio,
    paths: int,
    seed: int,
    workers: int = 1,
    scheduler: str | None = None,
    sampler: Sampler = "random",
) -> PoolResults:
    """Simulate the pool and summarise it (the results do not depend on ``workers``,
    or ``scheduler``; ``sampler`` draws each member's own inputs)."""
    model, structure, summaries, tails = simulate_pool(
        portfolio, paths, seed, workers, scheduler, sampler
    )
    results = merge(model, structure, summaries, tails, seed)
    results.settings.update(
        {
            "seed": seed,
            "sampler": sampler,
            "workers": workers,
            "executor": "dask" if scheduler else ("processes" if workers > 1 else "serial"),
        }
    )
    return results


def _total(summaries: list[BlockSummary], part: str, name: str) -> FloatArray:
    """A sum or count added over blocks, in block order."""
    out: FloatArray | None = None
    for s in summaries:
        value = (s.sums if part == "sums" else s.counts)[name]
        out = value.astype(np.float64) if out is None else out + value
    assert out is not None
    return out


def _moments(s: FloatArray, n: int) -> tuple[float, float]:
    mean = float(s[0] / n)
    var = float(max(s[1] - s[0] * s[0] / n, 0.0) / (n - 1)) if n > 1 else math.nan
    return mean, math.sqrt(var)


def merge(
    model: PoolModel,
    structure: Structure,
    summaries: list[BlockSummary],
    tails: Tails,
    seed: int,
) -> PoolResults:
    """Merge the block summaries (in block order) and the run's tails into
    :class:`PoolResults`."""
    n = sum(s.n for s in summaries)
    k = tails.k
    tail_loss, tail_members, net_tail = tails.loss, tails.members, tails.net
    member_top = tails.member_top
    var_members = member_top[k - 1]
    es = float(tail_loss.mean())
    euler = tail_members.mean(axis=0)

    rows = {}
    for name, tail in (("gross", tail_loss), ("net", net_tail)):
        mean, sd = _moments(_total(summaries, "sums", name), n)
        rows["members' write-offs" if name == "gross" else "investors' loss"] = {
            "mean": mean,
            "sd": sd,
            "probability": float(_total(summaries, "counts", f"{name}_positive")[0] / n),
            "var": float(tail[k - 1]),
            "es": float(tail.mean()),
        }
    pool = pd.DataFrame.from_dict(rows, orient="index")

    tranche_loss = _total(summaries, "sums", "tranche_loss") / n
    irr_hist = _total(summaries, "counts", "irr_hist").astype(np.int64)
    k_count = len(structure.names)
    low = np.min(np.stack([s.irr_low for s in summaries]), axis=0)
    high = np.max(np.stack([s.irr_high for s in summaries]), axis=0)
    edges = np.repeat(IRR_EDGES[None, :], k_count, axis=0)
    irr_q = histogram_quantiles(irr_hist, edges, low, high, [0.05, 0.5, 0.95])
    wal_n = _total(summaries, "counts", "wal_n")
    irr_n = _total(summaries, "counts", "irr_n")
    with np.errstate(divide="ignore", invalid="ignore"):
        tranches = pd.DataFrame(
            {
                "tranche": structure.names,
                "size": structure.sizes,
                "coupon": structure.coupons,
                "expected_loss": tranche_loss,
                "expected_loss_share": tranche_loss / structure.sizes,
                "probability_of_loss": _total(summaries, "counts", "tranche_positive") / n,
                "wal_years": _total(summaries, "sums", "wal") / wal_n,
                "irr_mean": _total(summaries, "sums", "irr") / irr_n,
                "irr_p5": irr_q[:, 0],
                "irr_p50": irr_q[:, 1],
                "irr_p95": irr_q[:, 2],
            }
        )
    members_spec = model.portfolio.members
    members = pd.DataFrame(
        {
            "member": [m.name for m in members_spec],
            "key": [m.stream_key for m in members_spec],
            "seed": [str(x) for x in model.member_seeds(seed)],
            "loan": model.loans,
            "expected_loss": _total(summaries, "sums", "member_loss") / n,
            "probability_of_loss": _total(summaries, "counts", "member_positive") / n,
            "p95_loss": var_members,
            "es_contribution": euler,
            "es_share": euler / es if es > 0 else np.full(model.n_members, np.nan),
            "guarantee_paid_in": _total(summaries, "sums", "contributions") / n,
            "probability_called": _total(summaries, "counts", "called") / n,
        }
    )
    pool_var = float(tail_loss[k - 1])
    standalone = float(var_members.sum())
    diversification = {
        "pool_p95_loss": pool_var,
        "sum_member_p95_loss": standalone,
        "benefit": 1.0 - pool_var / standalone if standalone > 0 else math.nan,
    }
    loss_edges = np.linspace(0.0, model.principal, LOSS_BINS + 1)
    histogram = pd.DataFrame(
        {
            "from": np.concatenate([[-np.inf], loss_edges]),
            "to": np.concatenate([loss_edges, [np.inf]]),
            "members_write_offs": _total(summaries, "counts", "gross_hist").astype(np.int64),
            "investors_loss": _total(summaries, "counts", "net_hist").astype(np.int64),
        }
    )
    settings = {
        "paths": n,
        "members": model.n_members,
        "principal": model.principal,
        "tail_level": TAIL_LEVEL,
        "tail_paths": k,
        "guarantee_mean": float(_total(summaries, "sums", "guarantee")[0] / n),
        "guarantee_probability": float(_total(summaries, "counts", "guarantee_positive")[0] / n),
        "reserve_draw_mean": float(_total(summaries, "sums", "reserve_draw")[0] / n),
        "reserve_probability": float(_total(summaries, "counts", "reserve_used")[0] / n),
    }
    return PoolResults(settings, pool, tranches, members, diversification, histogram)
