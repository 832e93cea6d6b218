"""The pool's base case: every member's deterministic base case through the pool's waterfall.

Each member's payments and write-offs are those of its own base case (its scenario's
:meth:`~bondmodel.model.Model.base_case`, no draws), added in member order on the pool's
grid; the waterfall is :func:`~bondmodel.pool.waterfall.run_pool_waterfall` on that one
path, with its trace: what the pool workbook's Waterfall sheet shows and recalculates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bondmodel.pool.model import PoolModel
from bondmodel.pool.waterfall import PoolFlows, Structure, run_pool_waterfall
from bondmodel.types import FloatArray


@dataclass(frozen=True)
class PoolBase:
    """The pool's base case.

    Attributes
    ----------
    paid : (NL+1,) the members' payments into the pool, added (column 0 is zero).
    write_off : (NL+1,) the members' write-offs, added.
    member_paid, member_loss : (M,) each member's payments in all and total write-off.
    flows : the waterfall on the one path.
    trace : every step of the waterfall (:data:`~bondmodel.pool.waterfall.TRACE_POOL_STEPS`
        (1, NL+1), :data:`~bondmodel.pool.waterfall.TRACE_TRANCHE_STEPS` (K, 1, NL+1)).
    """

    paid: FloatArray
    write_off: FloatArray
    member_paid: FloatArray
    member_loss: FloatArray
    flows: PoolFlows
    trace: dict[str, FloatArray]


def pool_base_case(model: PoolModel, structure: Structure) -> PoolBase:
    """Run the members' base cases through the pool's waterfall."""
    width = model.n_legal + 1
    paid = np.zeros((1, width))
    write_off = np.zeros((1, width))
    member_paid = np.zeros(model.n_members)
    member_loss = np.zeros((1, model.n_members))
    for i, member in enumerate(model.models):
        bond = member.base_case().bond
        assert bond is not None  # every member has a bond (checked by the loader)
        w = bond.investor_flow.shape[1]
        paid[:, 1:w] += bond.investor_flow[:, 1:]
        write_off[:, 1:w] += bond.write_off[:, 1:]
        member_paid[i] = float(bond.investor_flow[0, 1:].sum())
        member_loss[:, i] = bond.write_off.sum(axis=1)
    trace: dict[str, FloatArray] = {}
    flows = run_pool_waterfall(structure, paid, write_off, member_loss, trace)
    return PoolBase(paid[0], write_off[0], member_paid, member_loss[0], flows, trace)
