"""Stress analysis and scenario analysis of a simulation, as @RISK offers them.

- **Stress analysis** (``run --stress INPUT=P5:P25``): the simulation again, on the same
  seed, with one input drawn only between two percentiles of its distribution. Sampling
  works on uniforms, so the stressed input's (rank-correlated) uniform u becomes
  ``low + u (high - low)`` before its quantile function: the draws are those of the
  distribution truncated to [F^-1(low), F^-1(high)], and every other input's draws are the
  baseline's, path for path (common random numbers). The output's statistics under each
  stress are set beside the baseline's.
- **Scenario analysis** (``run --scenario-analysis "min_dscr<1.0"``): which inputs drive an
  output into a region. On the baseline's paths in the region, each input's median is set
  against its median on all paths, in standard deviations of the input; an input whose
  median moves by at least :data:`SIGNIFICANT_SD` standard deviations is significant
  (@RISK's rule).

Equations and sources: docs/methodology.md, section 20.12.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from bondmodel.errors import ScenarioError
from bondmodel.labels import finite_or_none
from bondmodel.risk.events import Condition, parse_condition
from bondmodel.risk.summary import describe
from bondmodel.types import FloatArray

#: A scenario analysis calls an input significant when its median in the region differs
#: from its median on all paths by at least this many of its standard deviations (@RISK's
#: default).
SIGNIFICANT_SD: Final = 0.5
#: The output statistics a stress analysis compares (rows of ``Simulation.stress``).
STRESS_STATISTICS: Final = ("mean", "p5", "p10", "p50", "p90", "p95")

_STRESS = re.compile(
    r"^\s*(?P<name>[^=]+?)\s*=\s*[Pp](?P<low>\d+(?:\.\d+)?)\s*:\s*[Pp](?P<high>\d+(?:\.\d+)?)\s*$"
)


@dataclass(frozen=True)
class Stress:
    """One risk input drawn only between percentiles ``low`` and ``high`` (0-100)."""

    name: str
    low: float
    high: float

    @property
    def text(self) -> str:
        """As written on the command line: ``savings_realisation=P5:P25``."""
        return f"{self.name}=P{self.low:g}:P{self.high:g}"


#: The paths a scenario analysis looks at: a condition on a per-path metric, in the grammar
#: (and with the meaning of an undefined value) of the design tools' ``P(...)`` measures.
Region = Condition


@dataclass(frozen=True)
class Analyses:
    """The stress and scenario analyses a run asks for (none by default)."""

    stresses: tuple[Stress, ...] = ()
    regions: tuple[Region, ...] = ()


def parse_stress(text: str) -> Stress:
    """``INPUT=P5:P25``: the input's name and two percentiles, 0 <= low < high <= 100."""
    match = _STRESS.match(text)
    if match is None:
        raise ScenarioError(
            f"--stress: {text!r} is not INPUT=PLOW:PHIGH; write a risk input's name and two "
            "percentiles, such as savings_realisation=P5:P25"
        )
    low, high = float(match.group("low")), float(match.group("high"))
    if not 0.0 <= low < high <= 100.0:
        raise ScenarioError(
            f"--stress: {text!r}: P{low:g}:P{high:g} is not a range of percentiles; allowed: "
            "0 <= low < high <= 100"
        )
    return Stress(match.group("name"), low, high)


def parse_region(text: str) -> Region:
    """``METRIC<LEVEL`` or ``METRIC>LEVEL``: the paths a scenario analysis looks at."""
    region = parse_condition(text)
    if region is None:
        raise ScenarioError(
            f"--scenario-analysis: {text!r} is not METRIC<LEVEL or METRIC>LEVEL with a finite "
            "number, such as min_dscr<1.0"
        )
    return region


def check_tornado_output(tornado_output: str | None, metrics: tuple[str, ...]) -> None:
    """The tornado's output, when one is named, is a per-path metric of the scenario."""
    if tornado_output is not None and tornado_output not in metrics:
        raise ScenarioError(
            f"tornado_output: {tornado_output!r} is not a per-path metric of this scenario; "
            f"allowed: {', '.join(metrics)}"
        )


def check_analyses(analyses: Analyses, inputs: list[str], metrics: tuple[str, ...]) -> None:
    """Every stressed input a risk input and every region's metric a per-path metric of the
    scenario, named with what is allowed, before anything runs."""
    for stress in analyses.stresses:
        if stress.name not in inputs:
            raise ScenarioError(
                f"--stress: {stress.name!r} is not a risk input of this scenario; allowed: "
                f"{', '.join(inputs)}"
            )
    for region in analyses.regions:
        if region.metric not in metrics:
            raise ScenarioError(
                f"--scenario-analysis: {region.metric!r} is not a per-path metric of this "
                f"scenario; allowed: {', '.join(metrics)}"
            )


def band(stress: Stress, inputs: list[str]) -> tuple[tuple[int, float, float], ...]:
    """The uniform band of a stressed input, as the sampler applies it: (index, low, high)
    with low and high as probabilities."""
    return ((inputs.index(stress.name), stress.low / 100.0, stress.high / 100.0),)


def output_statistics(values: FloatArray) -> dict[str, float]:
    """The compared statistics of one output's finite paths: the mean and the percentiles
    of :data:`STRESS_STATISTICS`, as the simulation's summary computes them
    (:func:`~bondmodel.risk.summary.describe`), so the baseline row is the Risk sheet's."""
    statistics = describe(values)
    return {key: statistics[key] for key in STRESS_STATISTICS}


def scenario_analysis(
    region: Region, output: FloatArray, inputs: FloatArray, names: list[str]
) -> pd.DataFrame:
    """Each input's median on all paths and on the region's, and the move in standard
    deviations of the input; sorted by the size of the move, largest first.

    Notes
    -----
    :math:`z_j = (\\tilde x_j^{R} - \\tilde x_j) / s_j`, with :math:`\\tilde x_j` the median of
    input j on all paths, :math:`\\tilde x_j^{R}` on the paths in the region and :math:`s_j`
    the input's standard deviation on all paths; significant when
    :math:`|z_j| \\ge` :data:`SIGNIFICANT_SD`. An input that does not vary has no z.
    """
    inside = region.holds(output)
    rows = []
    for j, name in enumerate(names):
        x = inputs[:, j]
        sd = float(x.std(ddof=1)) if x.size > 1 else math.nan
        median_all = float(np.median(x))
        median_in = float(np.median(x[inside])) if inside.any() else math.nan
        z = (median_in - median_all) / sd if sd > 0 else math.nan
        rows.append(
            {
                "input": name,
                "median_all": median_all,
                "median_region": median_in,
                "sd_all": sd,
                "z": z,
                "significant": bool(abs(z) >= SIGNIFICANT_SD) if math.isfinite(z) else False,
            }
        )
    frame = pd.DataFrame(rows)
    order = frame["z"].abs().fillna(-1.0).sort_values(ascending=False, kind="stable").index
    frame = frame.loc[order].reset_index(drop=True)
    frame.attrs["paths"] = int(inside.sum())
    frame.attrs["share"] = float(inside.mean()) if inside.size else math.nan
    return frame


def stress_json(frame: pd.DataFrame, output: str) -> dict[str, Any]:
    """A stress table as JSON: the output and one row per case (baseline first)."""
    return {
        "output": output,
        "rows": [
            {k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")
        ],
    }


def region_json(region: Region, frame: pd.DataFrame) -> dict[str, Any]:
    """A scenario analysis as JSON: the region, its paths and share, and each input's move."""
    return {
        "region": region.text,
        "paths": frame.attrs["paths"],
        "share": finite_or_none(frame.attrs["share"]),
        "inputs": [
            {k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")
        ],
    }
