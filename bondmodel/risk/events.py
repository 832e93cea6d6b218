"""The probability events, defined once for every command.

``run`` (the Risk sheet and the JSON ``risk.probabilities``) and the design tools
(``P(...)`` measures of ``compare``, ``sweep`` and ``solve``) both count an event
with :func:`event_probability`, and ``run``'s named events are this module's
:data:`EVENTS`; so ``p_investor_loss`` in a run and ``P(investor_loss)`` in a
comparison are the same number on the same draws (``tests/test_one_definition.py``).

Every threshold is exactly zero. A money total that is only floating-point
residue of a fully settled bond is made exactly zero where it is computed
(``bond.waterfall``'s write-off, ``bond.metrics``' total top-up: below the
balance tolerance, 1e-9 of the principal), so "a loss" means a loss, and no
event needs a threshold of its own (methodology, "Probabilities").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final, Literal, cast

import numpy as np

from bondmodel.types import BoolArray, FloatArray

Comparison = Literal[">", "<"]

#: ``METRIC<LEVEL`` or ``METRIC>LEVEL``: the one grammar of a condition on a per-path metric,
#: read by ``run --scenario-analysis`` and inside the design tools' ``P(...)`` measures.
_CONDITION: Final = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*(?P<op><|>)\s*(?P<level>[^\s<>()]+)\s*$"
)


@dataclass(frozen=True)
class Condition:
    """``metric op level`` on each path."""

    metric: str
    op: Comparison
    level: float

    @property
    def text(self) -> str:
        """As written on the command line: ``min_dscr<1``."""
        return f"{self.metric}{self.op}{self.level:g}"

    def holds(self, values: FloatArray) -> BoolArray:
        """Whether each path meets the condition; an undefined (non-finite) value neither
        meets nor misses it, as :func:`event_probability` counts."""
        return meets(values, self.op, self.level)


def parse_condition(text: str) -> Condition | None:
    """``METRIC<LEVEL`` or ``METRIC>LEVEL`` with a finite number, else None (the caller
    says what was expected, naming its own flag)."""
    match = _CONDITION.match(text)
    if match is None:
        return None
    try:
        level = float(match.group("level"))
    except ValueError:
        return None
    if not math.isfinite(level):
        return None
    return Condition(match.group("metric"), cast(Comparison, match.group("op")), level)


def meets(values: FloatArray, op: Comparison, level: float) -> BoolArray:
    """``value op level`` on each path, False where the value is not finite."""
    with np.errstate(invalid="ignore"):
        hits = values > level if op == ">" else values < level
    result: BoolArray = hits & np.isfinite(values)
    return result


@dataclass(frozen=True)
class Event:
    """``metric op level`` on a path, or ``metric`` undefined when ``op`` is None."""

    key: str
    metric: str
    op: Comparison | None = ">"
    level: float = 0.0

    def probability(self, values: FloatArray) -> tuple[float, float]:
        """The event's probability over ``values`` (one per path) and its standard error."""
        if self.op is None:
            undefined = ~np.isfinite(values)
            return _share(int(undefined.sum()), int(values.size))
        return event_probability(values, self.op, self.level)


#: run's probabilities, in display order (labels in bondmodel.labels); each partner's
#: ``p_partner_npv_K_negative`` is :func:`partner_event`.
EVENTS: Final = (
    Event("p_any_shortfall", "shortfall", ">"),
    Event("p_investor_loss", "investor_loss", ">"),
    Event("p_council_npv_negative", "council_npv", "<"),
    Event("p_council_topup", "total_topup", ">"),
    Event("p_bond_worse_than_pwlb", "council_npv_vs_pwlb", "<"),
    Event("p_programme_npv_negative", "npv", "<"),
)

#: The last of run's probabilities: the programme never pays back within the horizon.
NO_PAYBACK: Final = Event("p_no_payback", "payback_years", None)


def partner_event(metric: str) -> Event:
    """``p_partner_npv_K_negative``: partner K's NPV below zero (who carries the risk)."""
    return Event(f"p_{metric}_negative", metric, "<")


def event_probability(values: FloatArray, op: Comparison, level: float) -> tuple[float, float]:
    r"""The share of paths with ``value op level``, among the paths where the value is defined.

    Notes
    -----
    :math:`\hat p = k/n` over the :math:`n` paths whose value is finite (an undefined value,
    NaN, neither meets nor misses a threshold), with standard error
    :math:`\sqrt{\hat p(1-\hat p)/n}`; NaN when no path has a value.
    """
    return _share(int(meets(values, op, level).sum()), int(np.isfinite(values).sum()))


def _share(hits: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = hits / n
    return p, math.sqrt(p * (1.0 - p) / n)
