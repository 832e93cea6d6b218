"""Every risk distribution against scipy.stats or its exact values, and the parameter checks.

Samples are drawn as the simulation draws them, by inversion (``ppf(u)``), from
two sources of uniforms at fixed seeds: numpy's PCG64 directly, and the
project's own samplers (:func:`bondmodel.risk.sampling.block_uniforms`:
``random``, ``lhs`` and ``sobol``), 25 blocks of 8192, that is N = 204,800
draws from each.

Tolerances are K = 5 standard errors of the statistic checked, never a
hand-picked number:

* mean: sigma / sqrt(N);
* standard deviation: sigma sqrt(kappa + 2) / (2 sqrt(N)), with kappa the excess
  kurtosis (the delta method applied to the variance of s^2);
* q-quantile of a continuous distribution: sqrt(q (1 - q) / N) / f(x_q), with f
  the density (the asymptotic normality of sample quantiles);
* a frequency p: sqrt(p (1 - p) / N), and a chi-square test at the tail
  probability of K standard errors.

These are the errors of independent draws. Latin hypercube and Sobol samples
have smaller errors, so the same bounds are conservative for them. The
continuous families are compared with :func:`bondmodel.risk.distributions.frozen`
(scipy.stats); discrete, Bernoulli and empirical distributions with their exact
probabilities, computed here from the parameters.
"""

from __future__ import annotations

import copy
import functools
import math
import tomllib
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats

from bondmodel import ScenarioError, parse_scenario
from bondmodel.model import Model
from bondmodel.risk.correlation import nearest_correlation
from bondmodel.risk.distributions import frozen, ppf
from bondmodel.risk.results import simulate
from bondmodel.risk.sampling import BLOCK_SIZE, block_uniforms
from bondmodel.risk.simulate import RunSettings
from bondmodel.scenario.risk import Distribution

from .conftest import ROOT

TEMPLATE = ROOT / "templates" / "shared-services.toml"

#: Tolerance in standard errors.
K = 5.0
#: Blocks of draws per source: 25 x 8192 = 204,800 >= 200,000.
BLOCKS = 25
N = BLOCKS * BLOCK_SIZE
SEED = 20260401
SOURCES = ("pcg64", "random", "lhs", "sobol")
QUANTILES = (0.05, 0.50, 0.95)

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Distribution)


def make(**spec: Any) -> Any:
    """A validated distribution from its TOML fields."""
    return _ADAPTER.validate_python(spec)


#: Continuous families, compared with scipy.stats through ``frozen``.
CONTINUOUS: dict[str, dict[str, Any]] = {
    "uniform": {"type": "uniform", "min": 0.5, "max": 2.0},
    "triangular": {"type": "triangular", "min": 0.0, "mode": 0.5, "max": 2.0},
    "triangular_mode_at_min": {"type": "triangular", "min": 0.0, "mode": 0.0, "max": 2.0},
    "triangular_mode_at_max": {"type": "triangular", "min": -1.0, "mode": 3.0, "max": 3.0},
    "pert_4": {"type": "pert", "min": 0.5, "mode": 1.0, "max": 2.0},
    "pert_1.5": {"type": "pert", "min": 0.5, "mode": 1.0, "max": 2.0, "shape": 1.5},
    "pert_10_skewed": {"type": "pert", "min": 0.9, "mode": 1.0, "max": 1.6, "shape": 10.0},
    "normal": {"type": "normal", "mean": 1.0, "sd": 0.2},
    "normal_truncated": {"type": "normal", "mean": 1.0, "sd": 0.2, "min": 0.7, "max": 1.2},
    "normal_min_only": {"type": "normal", "mean": 0.02, "sd": 0.01, "min": 0.0},
    "normal_max_only": {"type": "normal", "mean": 0.0, "sd": 1.0, "max": -1.0},
    "lognormal_moments": {"type": "lognormal", "mean": 1.1, "sd": 0.25},
    "lognormal_quantiles": {"type": "lognormal", "p10": 0.9, "p90": 1.3},
    "beta": {"type": "beta", "alpha": 2.0, "beta": 5.0, "min": 0.5, "max": 1.5},
    "beta_u_shaped": {"type": "beta", "alpha": 0.5, "beta": 0.5},
    "gamma": {"type": "gamma", "shape": 2.5, "scale": 0.3, "shift": 0.2},
    "gamma_shape_below_1": {"type": "gamma", "shape": 0.8, "scale": 1.0},
    "weibull": {"type": "weibull", "shape": 1.5, "scale": 1.0},
    "weibull_shifted_shape_below_1": {"type": "weibull", "shape": 0.7, "scale": 1.5, "shift": 0.5},
    "student_t_5": {"type": "student_t", "df": 5.0, "location": 1.0, "scale": 0.1},
    "student_t_30": {"type": "student_t", "df": 30.0},
    "general": {"type": "general", "values": [0.5, 0.8, 1.0, 1.5], "cumulative": [0, 0.2, 0.7, 1]},
}

#: Distributions with a finite set of values, compared with their exact probabilities.
DISCRETE: dict[str, dict[str, Any]] = {
    "discrete": {"type": "discrete", "values": [0.6, 1.0, 1.4], "probabilities": [0.2, 0.5, 0.3]},
    "discrete_unsorted_with_repeat": {
        "type": "discrete",
        "values": [1.4, 0.6, 1.0, 0.6],
        "probabilities": [0.3, 0.1, 0.5, 0.1],
    },
    "bernoulli": {"type": "bernoulli", "p": 0.3, "impact": 2.0},
    "bernoulli_impact_below_base": {"type": "bernoulli", "p": 0.15, "impact": 0.4, "base": 1.0},
    "empirical": {"type": "empirical", "samples": [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]},
    "binomial": {"type": "binomial", "n": 5, "p": 0.3},
    "binomial_cohort_share": {"type": "binomial", "n": 10, "p": 0.6, "scale": 0.1},
}

FIXED: dict[str, Any] = {"type": "fixed", "value": 1.25}

ALL: dict[str, dict[str, Any]] = {**CONTINUOUS, **DISCRETE, "fixed": FIXED}


@functools.cache
def uniforms(source: str) -> np.ndarray:
    """N uniforms from one source (read-only, shared by the tests)."""
    if source == "pcg64":
        u = np.random.Generator(np.random.PCG64(SEED)).random(N)
    else:
        u = np.concatenate(
            [block_uniforms(SEED, source, b, N, 1)[:, 0] for b in range(BLOCKS)]  # type: ignore[arg-type]
        )
    assert u.shape == (N,) and (u > 0).all() and (u < 1).all()
    u.setflags(write=False)
    return u


def within(actual: float, expected: float, se: float, what: str) -> None:
    """|actual - expected| <= K standard errors, with the z-score in the failure."""
    z = abs(actual - expected) / se if se > 0 else (0.0 if actual == expected else math.inf)
    assert z <= K, f"{what}: {actual!r} vs {expected!r}, {z:.2f} standard errors ({se:.3g})"


def sd_se(sd: float, excess_kurtosis: float, n: int) -> float:
    """Standard error of the sample standard deviation."""
    return sd * math.sqrt(max(excess_kurtosis + 2.0, 0.0)) / (2.0 * math.sqrt(n))


# ---------------------------------------------------------------------------
# Exact values of the discrete distributions, from their parameters
# ---------------------------------------------------------------------------


def exact_pmf(spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values (ascending) and their probabilities."""
    if spec["type"] == "discrete":
        pairs = list(zip(spec["values"], spec["probabilities"], strict=True))
    elif spec["type"] == "bernoulli":
        pairs = [(spec.get("base", 0.0), 1.0 - spec["p"]), (spec["impact"], spec["p"])]
    elif spec["type"] == "empirical":
        n = len(spec["samples"])
        pairs = [(s, 1.0 / n) for s in spec["samples"]]
    elif spec["type"] == "binomial":
        # the binomial probabilities by hand: C(n, k) p^k (1 - p)^(n - k)
        n, p = spec["n"], spec["p"]
        pairs = [
            (k * spec.get("scale", 1.0), math.comb(n, k) * p**k * (1.0 - p) ** (n - k))
            for k in range(n + 1)
        ]
    else:
        raise AssertionError(spec)
    table: dict[float, float] = {}
    for value, p in pairs:
        table[float(value)] = table.get(float(value), 0.0) + p
    values = np.array(sorted(table))
    return values, np.array([table[v] for v in values])


def pmf_moments(values: np.ndarray, probs: np.ndarray) -> tuple[float, float, float]:
    """Mean, sd and excess kurtosis of a finite distribution."""
    mean = float(probs @ values)
    var = float(probs @ (values - mean) ** 2)
    m4 = float(probs @ (values - mean) ** 4)
    return mean, math.sqrt(var), (m4 / var**2 - 3.0) if var > 0 else 0.0


def pmf_quantile(values: np.ndarray, probs: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative probability reaches q."""
    return float(values[np.searchsorted(np.cumsum(probs), q - 1e-15)])


# ---------------------------------------------------------------------------
# Moments and quantiles
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_continuous_matches_scipy(name: str, source: str) -> None:
    dist = make(**CONTINUOUS[name])
    ref = frozen(dist)
    assert ref is not None
    x = ppf(dist, uniforms(source))
    assert x.shape == (N,) and np.isfinite(x).all()
    mean, var, kurt = (float(v) for v in ref.stats(moments="mvk"))
    sd = math.sqrt(var)
    within(float(x.mean()), mean, sd / math.sqrt(N), f"{name} mean")
    within(float(x.std(ddof=1)), sd, sd_se(sd, kurt, N), f"{name} sd")
    sample_q = np.quantile(x, QUANTILES)
    for q, got in zip(QUANTILES, sample_q, strict=True):
        xq = float(ref.ppf(q))
        se = math.sqrt(q * (1.0 - q) / N) / float(ref.pdf(xq))
        within(float(got), xq, se, f"{name} {q:.0%} quantile")


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", list(DISCRETE))
def test_discrete_matches_exact_probabilities(name: str, source: str) -> None:
    spec = DISCRETE[name]
    values, probs = exact_pmf(spec)
    x = ppf(make(**spec), uniforms(source))
    assert np.isin(x, values).all(), f"{name}: a value outside {values}"
    counts = np.array([(x == v).sum() for v in values])
    for v, p, c in zip(values, probs, counts, strict=True):
        within(c / N, p, math.sqrt(p * (1.0 - p) / N), f"{name} frequency of {v}")
    if values.size > 1:
        chi2 = float(((counts - N * probs) ** 2 / (N * probs)).sum())
        p_value = float(stats.chi2.sf(chi2, values.size - 1))
        assert p_value > 2.0 * stats.norm.sf(K), f"{name}: chi-square {chi2:.2f}, p {p_value:.2g}"
    mean, sd, kurt = pmf_moments(values, probs)
    within(float(x.mean()), mean, sd / math.sqrt(N), f"{name} mean")
    within(float(x.std(ddof=1)), sd, sd_se(sd, kurt, N), f"{name} sd")
    cumulative = np.cumsum(probs)
    for q in QUANTILES:
        # the parameters keep every step of the CDF well away from q, so the
        # sample quantile is the exact one (not a coin toss between two values)
        assert np.abs(cumulative - q).min() > K * math.sqrt(q * (1 - q) / N)
        got = float(np.quantile(x, q, method="inverted_cdf"))
        assert got == pmf_quantile(values, probs, q), f"{name} {q:.0%} quantile"


@pytest.mark.parametrize("source", SOURCES)
def test_fixed_is_always_its_value(source: str) -> None:
    x = ppf(make(**FIXED), uniforms(source))
    assert (x == FIXED["value"]).all()
    assert ppf(make(**FIXED), np.array([2.0**-53, 0.5, 1 - 2.0**-53])).tolist() == [1.25] * 3


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_ppf_is_the_scipy_quantile_function(name: str) -> None:
    """The closed forms in ppf agree with scipy.stats at every u, not just on average."""
    dist = make(**CONTINUOUS[name])
    ref = frozen(dist)
    assert ref is not None
    u = np.concatenate(
        [
            np.geomspace(1e-9, 1e-3, 200),
            np.linspace(1e-3, 1 - 1e-3, 2001),
            1 - np.geomspace(1e-9, 1e-3, 200),
        ]
    )
    scale = float(ref.ppf(0.99) - ref.ppf(0.01))
    np.testing.assert_allclose(ppf(dist, u), ref.ppf(u), rtol=1e-9, atol=1e-12 * scale)


#: The families added for @RISK's users (issue 18): each inverse CDF against scipy's at 1e-12.
NEW_FAMILIES = [
    name
    for name in CONTINUOUS
    if CONTINUOUS[name]["type"] in ("gamma", "weibull", "student_t", "general")
]


@pytest.mark.parametrize("name", NEW_FAMILIES)
def test_new_families_inverse_cdf_is_scipys_to_1e_12(name: str) -> None:
    dist = make(**CONTINUOUS[name])
    ref = frozen(dist)
    assert ref is not None
    u = np.concatenate(
        [
            np.geomspace(2.0**-53, 1e-3, 400),
            np.linspace(1e-3, 1 - 1e-3, 4001),
            1 - np.geomspace(1e-3, 1e-15, 400),
        ]
    )
    expected = ref.ppf(u)
    got = ppf(dist, u)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_general_by_hand_including_a_flat_segment() -> None:
    # F: 0 at 0, 0.5 at 1, still 0.5 at 2 (no probability between 1 and 2), 1 at 3.
    dist = make(type="general", values=[0.0, 1.0, 2.0, 3.0], cumulative=[0.0, 0.5, 0.5, 1.0])
    u = np.array([2.0**-53, 0.25, 0.5, 0.5 + 2.0**-40, 0.75, 1.0 - 2.0**-53])
    # u = 0.25: half-way along the first segment, 0.5; u = 0.5: the smallest
    # x with F(x) = 0.5 is 1; just above 0.5 the draw jumps past the flat part to 2; u = 0.75:
    # half-way along [2, 3], 2.5
    np.testing.assert_allclose(
        ppf(dist, u), [2.0**-52, 0.5, 1.0, 2.0 + 2.0**-39, 2.5, 3.0 - 2.0**-52], rtol=0, atol=1e-15
    )
    assert dist.value_range() == (0.0, 3.0)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "binomial", "n": 5, "p": 0.3},
        {"type": "binomial", "n": 10, "p": 0.6, "scale": 0.1},
        {"type": "binomial", "n": 400, "p": 0.02},
        {"type": "binomial", "n": 100_000, "p": 0.5},
    ],
)
def test_binomial_is_scipys_binomial_quantile(spec: dict[str, Any]) -> None:
    dist = make(**spec)
    u = np.random.Generator(np.random.PCG64(7)).random(100_000)
    ref = stats.binom(spec["n"], spec["p"])
    k = ref.ppf(u)
    # away from the steps of the CDF, where the two computations of the same CDF may round
    # differently, the quantile is the same whole number of successes
    steps = ref.cdf(np.arange(spec["n"] + 1))
    clear = (
        np.abs(u[:, None] - steps[None, :]).min(axis=1) > 1e-12
        if spec["n"] < 1000
        else (np.abs(u - ref.cdf(k)) > 1e-12)
    )
    assert clear.mean() > 0.99
    got = ppf(dist, u)
    np.testing.assert_array_equal(got[clear], spec.get("scale", 1.0) * k[clear])
    assert dist.value_range() == (0.0, spec["n"] * spec.get("scale", 1.0))


@pytest.mark.parametrize(("p", "successes"), [(0.0, 0), (1.0, 8)])
def test_binomial_certain_outcomes(p: float, successes: int) -> None:
    x = ppf(make(type="binomial", n=8, p=p), uniforms("random"))
    assert (x == successes).all()


def test_student_t_with_very_few_degrees_of_freedom_is_refused_on_a_rate() -> None:
    data = one_input({"type": "student_t", "df": 0.2, "location": 0.02, "scale": 0.01})
    data["risk"]["inputs"][0]["target"] = "economics.inflation"
    message = rejected(data)
    assert "risk.inputs[0] ('x').distribution" in message
    assert "outside the range of an annual rate" in message


# ---------------------------------------------------------------------------
# Parameterisations
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [4.0, 1.5, 10.0])
def test_pert_mean_variance_and_mode(shape: float) -> None:
    lo, mode, hi = 0.5, 0.8, 2.0
    dist = make(type="pert", min=lo, mode=mode, max=hi, shape=shape)
    mean = (lo + shape * mode + hi) / (shape + 2.0)
    var = (mean - lo) * (hi - mean) / (shape + 3.0)
    ref = frozen(dist)
    assert ref is not None
    assert float(ref.mean()) == pytest.approx(mean, rel=1e-12)
    assert float(ref.var()) == pytest.approx(var, rel=1e-12)
    assert float(ref.pdf(mode)) > float(ref.pdf(mode - 1e-3))
    assert float(ref.pdf(mode)) > float(ref.pdf(mode + 1e-3))
    x = ppf(dist, uniforms("pcg64"))
    within(float(x.mean()), mean, math.sqrt(var / N), f"PERT shape {shape} mean")
    assert x.min() >= lo and x.max() <= hi


def test_pert_default_shape_is_4() -> None:
    assert make(type="pert", min=0.0, mode=1.0, max=3.0).shape == 4.0


@pytest.mark.parametrize("source", SOURCES)
def test_lognormal_by_mean_and_sd_reproduces_them(source: str) -> None:
    dist = make(type="lognormal", mean=1.1, sd=0.25)
    ref = frozen(dist)
    assert ref is not None
    assert float(ref.mean()) == pytest.approx(1.1, rel=1e-12)
    assert float(ref.std()) == pytest.approx(0.25, rel=1e-12)
    kurt = float(ref.stats(moments="k"))
    x = ppf(dist, uniforms(source))
    within(float(x.mean()), 1.1, 0.25 / math.sqrt(N), "lognormal mean")
    within(float(x.std(ddof=1)), 0.25, sd_se(0.25, kurt, N), "lognormal sd")


@pytest.mark.parametrize("source", SOURCES)
def test_lognormal_by_p10_p90_reproduces_them(source: str) -> None:
    dist = make(type="lognormal", p10=0.9, p90=1.3)
    ref = frozen(dist)
    assert ref is not None
    np.testing.assert_allclose(ref.ppf([0.1, 0.9]), [0.9, 1.3], rtol=1e-12)
    np.testing.assert_allclose(ppf(dist, np.array([0.1, 0.9])), [0.9, 1.3], rtol=1e-12)
    x = ppf(dist, uniforms(source))
    for q, target in ((0.1, 0.9), (0.9, 1.3)):
        se = math.sqrt(q * (1 - q) / N) / float(ref.pdf(target))
        within(float(np.quantile(x, q)), target, se, f"lognormal P{q * 100:.0f}")


TRUNCATED = [
    {"type": "normal", "mean": 1.0, "sd": 0.2, "min": 0.7, "max": 1.2},
    {"type": "normal", "mean": 0.02, "sd": 0.01, "min": 0.0},
    {"type": "normal", "mean": 0.0, "sd": 1.0, "max": -1.0},
    {"type": "normal", "mean": 0.0, "sd": 1.0, "min": 8.0, "max": 9.0},  # far in the tail
    {"type": "normal", "mean": 0.0, "sd": 1.0, "min": -0.01, "max": 0.01},  # narrow
]


#: The uniforms a sampler can produce: bondmodel.risk.sampling keeps them in [2^-53, 1 - 2^-53].
EXTREMES = np.array([2.0**-53, 1e-15, 1e-12, 1e-6, 0.5, 1 - 1e-6, 1 - 1e-12, 1 - 2.0**-53])


@pytest.mark.parametrize("spec", TRUNCATED, ids=lambda s: f"{s.get('min')}..{s.get('max')}")
def test_truncated_normal_stays_inside_its_bounds(spec: dict[str, Any]) -> None:
    dist = make(**spec)
    lo, hi = spec.get("min", -math.inf), spec.get("max", math.inf)
    for u in [*(uniforms(s) for s in SOURCES), EXTREMES]:
        x = ppf(dist, u)
        assert np.isfinite(x).all()
        assert x.min() >= lo and x.max() <= hi, (x.min(), x.max())
    ref = frozen(dist)
    assert ref is not None
    x = ppf(dist, uniforms("pcg64"))
    within(float(x.mean()), float(ref.mean()), float(ref.std()) / math.sqrt(N), "mean")


def test_truncated_normal_stays_inside_its_bounds_to_the_last_bit() -> None:
    dist = make(type="normal", mean=0.5, sd=0.3, min=0.285, max=0.969)
    x = ppf(dist, EXTREMES)
    assert x.min() >= 0.285 and x.max() <= 0.969, (x.min() - 0.285, x.max() - 0.969)


def test_bernoulli_with_impact_below_base() -> None:
    """A bad event (impact 0.4 of the central 1.0) with probability 0.15."""
    dist = make(type="bernoulli", p=0.15, impact=0.4, base=1.0)
    x = ppf(dist, uniforms("pcg64"))
    assert set(np.unique(x).tolist()) == {0.4, 1.0}
    within(float((x == 0.4).mean()), 0.15, math.sqrt(0.15 * 0.85 / N), "P(impact)")
    within(float(x.mean()), 1.0 - 0.15 * 0.6, 0.6 * math.sqrt(0.15 * 0.85 / N), "mean")
    # low u gives the low value, so ranks (and Iman-Conover's correlation) carry through
    assert ppf(dist, np.array([0.01, 0.15, 0.1500001, 0.99])).tolist() == [0.4, 0.4, 1.0, 1.0]
    # and the other way round: an event above the base comes at high u
    up = make(type="bernoulli", p=0.15, impact=3.0, base=1.0)
    assert ppf(up, np.array([0.01, 0.85, 0.8500001, 0.99])).tolist() == [1.0, 1.0, 3.0, 3.0]


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_bernoulli_certain_events(p: float) -> None:
    x = ppf(make(type="bernoulli", p=p, impact=0.5, base=1.0), uniforms("random"))
    assert (x == (0.5 if p == 1.0 else 1.0)).all()


# ---------------------------------------------------------------------------
# Monotone in u: what makes rank correlation of the uniforms that of the values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ALL))
def test_every_ppf_is_non_decreasing_in_u(name: str) -> None:
    dist = make(**ALL[name])
    tail = np.geomspace(1e-12, 1e-3, 5000)
    grid = np.unique(np.concatenate([tail, np.linspace(0.0, 1.0, 200_001)[1:-1], 1.0 - tail]))
    x = ppf(dist, grid)
    assert np.isfinite(x).all()
    steps = np.diff(x)
    assert (steps >= 0).all(), f"{name}: decreases at u = {grid[:-1][steps < 0][:5]}"
    # the samplers' own uniforms, sorted
    for source in SOURCES:
        u = np.sort(uniforms(source))
        assert (np.diff(ppf(dist, u)) >= 0).all(), source
    # down to the samplers' extreme uniforms, 2^-53 from 0 and 1: finite, and monotone
    # to within a few units in the last place of the distribution's scale
    edges = np.concatenate(
        [np.geomspace(2.0**-53, 1e-12, 400), 1.0 - np.geomspace(1e-12, 2.0**-53, 400)]
    )
    y = ppf(dist, edges)
    assert np.isfinite(y).all()
    scale = max(1.0, float(np.abs(x).max()))
    assert (np.diff(y) >= -4 * np.finfo(float).eps * scale).all()


# ---------------------------------------------------------------------------
# Parameter validation, through the scenario loader as a user meets it
# ---------------------------------------------------------------------------


@functools.cache
def _template() -> dict[str, Any]:
    with open(TEMPLATE, "rb") as handle:
        return tomllib.load(handle)


def scenario_with(risk: dict[str, Any]) -> dict[str, Any]:
    """The template with its [risk] section replaced."""
    data = copy.deepcopy(_template())
    data["risk"] = risk
    return data


def one_input(distribution: dict[str, Any]) -> dict[str, Any]:
    return scenario_with(
        {"inputs": [{"name": "x", "target": "savings.realisation", "distribution": distribution}]}
    )


def three_correlated(matrix: list[list[float]], **extra: Any) -> dict[str, Any]:
    names = ["realisation", "delay", "overrun"]
    return scenario_with(
        {
            "default_paths": 300,
            "inputs": [
                {
                    "name": "realisation",
                    "target": "savings.realisation",
                    "distribution": {"type": "pert", "min": 0.5, "mode": 1.0, "max": 2.0},
                },
                {
                    "name": "delay",
                    "target": "savings.start_delay",
                    "distribution": {"type": "triangular", "min": 0.0, "mode": 0.0, "max": 2.0},
                },
                {
                    "name": "overrun",
                    "target": "costs.overrun",
                    "distribution": {"type": "lognormal", "p10": 0.9, "p90": 1.3},
                },
            ],
            "correlation": {"names": extra.pop("names", names), "matrix": matrix, **extra},
        }
    )


def rejected(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    return str(info.value)


BAD_DISTRIBUTIONS = [
    (
        "pert_min_above_mode",
        {"type": "pert", "min": 1.2, "mode": 1.0, "max": 2.0},
        ".distribution",
        ["min <= mode <= max", "1.2"],
    ),
    (
        "pert_mode_above_max",
        {"type": "pert", "min": 0.5, "mode": 2.5, "max": 2.0},
        ".distribution",
        ["min <= mode <= max", "2.5"],
    ),
    (
        "pert_min_equals_max",
        {"type": "pert", "min": 1.0, "mode": 1.0, "max": 1.0},
        ".distribution",
        ["min < max"],
    ),
    (
        "pert_shape_zero",
        {"type": "pert", "min": 0.5, "mode": 1.0, "max": 2.0, "shape": 0.0},
        ".distribution.shape",
        ["greater than 0"],
    ),
    (
        "pert_shape_too_big",
        {"type": "pert", "min": 0.5, "mode": 1.0, "max": 2.0, "shape": 101.0},
        ".distribution.shape",
        ["100", "101"],
    ),
    (
        "triangular_min_above_mode",
        {"type": "triangular", "min": 1.0, "mode": 0.0, "max": 2.0},
        ".distribution",
        ["min <= mode <= max"],
    ),
    (
        "uniform_min_above_max",
        {"type": "uniform", "min": 2.0, "max": 0.5},
        ".distribution",
        ["min = 2.0", "max = 0.5"],
    ),
    (
        "uniform_min_equals_max",
        {"type": "uniform", "min": 1.0, "max": 1.0},
        ".distribution",
        ["must be below"],
    ),
    (
        "normal_sd_zero",
        {"type": "normal", "mean": 1.0, "sd": 0.0},
        ".distribution.sd",
        ["greater than 0"],
    ),
    (
        "normal_bounds_reversed",
        {"type": "normal", "mean": 1.0, "sd": 0.2, "min": 1.5, "max": 0.5},
        ".distribution",
        ["min = 1.5", "max = 0.5"],
    ),
    (
        "lognormal_both",
        {"type": "lognormal", "mean": 1.1, "sd": 0.2, "p10": 0.9, "p90": 1.3},
        ".distribution",
        ["mean and sd", "p10 and p90"],
    ),
    ("lognormal_neither", {"type": "lognormal"}, ".distribution", ["mean and sd", "p10 and p90"]),
    (
        "lognormal_mean_only",
        {"type": "lognormal", "mean": 1.1},
        ".distribution",
        ["mean and sd", "p10 and p90"],
    ),
    (
        "lognormal_p10_above_p90",
        {"type": "lognormal", "p10": 1.3, "p90": 0.9},
        ".distribution",
        ["p10 = 1.3", "p90 = 0.9"],
    ),
    (
        "lognormal_negative_mean",
        {"type": "lognormal", "mean": -1.1, "sd": 0.2},
        ".distribution.mean",
        ["greater than 0", "-1.1"],
    ),
    (
        "beta_alpha_zero",
        {"type": "beta", "alpha": 0.0, "beta": 2.0},
        ".distribution.alpha",
        ["greater than 0"],
    ),
    (
        "beta_bounds_reversed",
        {"type": "beta", "alpha": 2.0, "beta": 2.0, "min": 2.0, "max": 0.5},
        ".distribution",
        ["min = 2.0", "max = 0.5"],
    ),
    (
        "discrete_sum_not_1",
        {"type": "discrete", "values": [0.8, 1.0, 1.2], "probabilities": [0.3, 0.3, 0.3]},
        ".distribution",
        ["sum to 1", "0.89999"],
    ),
    (
        "discrete_lengths_differ",
        {"type": "discrete", "values": [0.8, 1.0, 1.2], "probabilities": [0.5, 0.5]},
        ".distribution",
        ["3 entries", "2"],
    ),
    (
        "discrete_negative_probability",
        {"type": "discrete", "values": [0.8, 1.0], "probabilities": [1.2, -0.2]},
        ".distribution.probabilities[1]",
        ["greater than or equal to 0", "-0.2"],
    ),
    (
        "bernoulli_p_above_1",
        {"type": "bernoulli", "p": 1.5, "impact": 0.5},
        ".distribution.p",
        ["less than or equal to 1", "1.5"],
    ),
    (
        "empirical_one_sample",
        {"type": "empirical", "samples": [1.0]},
        ".distribution.samples",
        ["at least 2"],
    ),
    ("fixed_nan", {"type": "fixed", "value": math.nan}, ".distribution.value", ["finite"]),
    (
        "general_values_not_ascending",
        {"type": "general", "values": [0.5, 1.0, 0.9], "cumulative": [0.0, 0.5, 1.0]},
        ".distribution.values[2]",
        ["0.9", "values[1] = 1.0", "strictly ascending"],
    ),
    (
        "general_lengths_differ",
        {"type": "general", "values": [0.5, 1.0, 1.5], "cumulative": [0.0, 0.6, 0.4, 1.0]},
        ".distribution",
        ["values has 3 entries", "cumulative has 4"],
    ),
    (
        "general_cumulative_decreasing",
        {"type": "general", "values": [0.5, 1.0, 1.5, 2.0], "cumulative": [0.0, 0.6, 0.4, 1.0]},
        ".distribution.cumulative[2]",
        ["0.4", "cumulative[1] = 0.6", "never fall"],
    ),
    (
        "general_cumulative_not_from_0",
        {"type": "general", "values": [0.5, 1.0], "cumulative": [0.1, 1.0]},
        ".distribution.cumulative[0]",
        ["0.1", "must be 0"],
    ),
    (
        "general_cumulative_not_to_1",
        {"type": "general", "values": [0.5, 1.0], "cumulative": [0.0, 0.99]},
        ".distribution.cumulative[1]",
        ["0.99", "must be 1"],
    ),
    (
        "general_one_point",
        {"type": "general", "values": [0.5], "cumulative": [1.0]},
        ".distribution.values",
        ["at least 2"],
    ),
    (
        "binomial_no_trials",
        {"type": "binomial", "n": 0, "p": 0.5},
        ".distribution.n",
        ["greater than or equal to 1"],
    ),
    (
        "binomial_fractional_trials",
        {"type": "binomial", "n": 2.5, "p": 0.5},
        ".distribution.n",
        ["integer"],
    ),
    (
        "binomial_p_above_1",
        {"type": "binomial", "n": 10, "p": 1.5},
        ".distribution.p",
        ["less than or equal to 1"],
    ),
    (
        "gamma_shape_negative",
        {"type": "gamma", "shape": -1.0, "scale": 1.0},
        ".distribution.shape",
        ["greater than 0"],
    ),
    (
        "weibull_tail_overflows",
        {"type": "weibull", "shape": 0.001, "scale": 1.0},
        ".distribution",
        ["overflow", "inf"],
    ),
    (
        "student_t_without_df",
        {"type": "student_t", "location": 1.0},
        ".distribution.df",
        ["missing"],
    ),
    (
        "unknown_type",
        {"type": "cauchy", "location": 2.0},
        ".distribution.type",
        ["'cauchy'", "'pert'", "'lognormal'", "'gamma'", "'general'"],
    ),
]


@pytest.mark.parametrize(
    ("distribution", "field", "words"),
    [pytest.param(d, f, w, id=i) for i, d, f, w in BAD_DISTRIBUTIONS],
)
def test_distribution_parameters_are_checked(
    distribution: dict[str, Any], field: str, words: list[str]
) -> None:
    message = rejected(one_input(distribution))
    assert f"risk.inputs[0] ('x'){field}" in message, message
    for word in words:
        assert word in message, (word, message)


def test_every_good_distribution_is_accepted() -> None:
    for spec in ALL.values():
        parse_scenario(one_input(spec))


GOOD = [[1.0, -0.4, -0.3], [-0.4, 1.0, 0.5], [-0.3, 0.5, 1.0]]
NOT_PSD = [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]

BAD_CORRELATIONS = [
    (
        "not_symmetric",
        {"matrix": [[1.0, -0.4, -0.3], [-0.2, 1.0, 0.5], [-0.3, 0.5, 1.0]]},
        "risk.correlation",
        ["symmetric", "-0.4", "-0.2"],
    ),
    (
        "diagonal_not_1",
        {"matrix": [[0.9, -0.4, -0.3], [-0.4, 1.0, 0.5], [-0.3, 0.5, 1.0]]},
        "risk.correlation",
        ["diagonal", "0.9"],
    ),
    (
        "not_psd",
        {"matrix": NOT_PSD},
        "risk.correlation",
        ["positive semi-definite", "repair = true"],
    ),
    (
        "entry_above_1",
        {"matrix": [[1.0, -0.4, 1.3], [-0.4, 1.0, 0.5], [1.3, 0.5, 1.0]]},
        "risk.correlation.matrix[0][2]",
        ["less than or equal to 1", "1.3"],
    ),
    ("wrong_size", {"matrix": GOOD[:2]}, "risk.correlation", ["3 x 3"]),
    (
        "unknown_name",
        {"matrix": GOOD, "names": ["realisation", "delay", "overruns"]},
        "risk",
        ["'overruns'", "'overrun'"],
    ),
    (
        "repeated_name",
        {"matrix": GOOD, "names": ["realisation", "delay", "delay"]},
        "risk.correlation",
        ["unique", "'delay'"],
    ),
]


@pytest.mark.parametrize(
    ("change", "field", "words"), [pytest.param(c, f, w, id=i) for i, c, f, w in BAD_CORRELATIONS]
)
def test_correlation_is_checked(change: dict[str, Any], field: str, words: list[str]) -> None:
    change = dict(change)
    message = rejected(three_correlated(change.pop("matrix"), **change))
    assert f"{field}" in message, message
    for word in words:
        assert word in message, (word, message)


def test_repair_accepts_a_matrix_that_is_not_psd_and_flags_it() -> None:
    assert np.linalg.eigvalsh(np.array(NOT_PSD)).min() < 0
    scenario = parse_scenario(three_correlated(NOT_PSD, repair=True))
    model = Model.compile(scenario).risk
    assert model.repaired
    assert model.correlation is not None
    np.testing.assert_allclose(model.correlation, nearest_correlation(np.array(NOT_PSD)))
    assert np.linalg.eigvalsh(model.correlation).min() > -1e-10
    # Iman-Conover then reaches the repaired matrix, within K standard errors of a
    # Spearman coefficient on one block (sqrt(1.06 / (n - 3)), its largest, at rho = 0)
    u = model.correlated_uniforms(SEED, "random", 0, BLOCK_SIZE)
    achieved = stats.spearmanr(u).statistic
    tolerance = K * math.sqrt(1.06 / (BLOCK_SIZE - 3))
    assert np.abs(achieved - model.correlation).max() <= tolerance
    sim = simulate(scenario, RunSettings(300, seed=1))
    assert sim.settings.correlation_repaired is True


def test_a_valid_matrix_is_not_flagged_as_repaired() -> None:
    scenario = parse_scenario(three_correlated(GOOD, repair=True))
    assert simulate(scenario, RunSettings(300, seed=1)).settings.correlation_repaired is False
    unrepaired = simulate(parse_scenario(three_correlated(GOOD)), RunSettings(300, seed=1))
    assert unrepaired.settings.correlation_repaired is False


def test_a_very_wide_lognormal_is_computed_without_overflow() -> None:
    # sd/mean = 1e200 (each within its bound of 1e6): (sd/mean)^2 overflows a float,
    # log(1 + (sd/mean)^2) does not.
    scenario = parse_scenario(one_input({"type": "lognormal", "mean": 1e-194, "sd": 1e6}))
    dist = scenario.risk.inputs[0].distribution  # type: ignore[union-attr]
    mu, sigma = dist.log_params()  # type: ignore[union-attr]
    assert sigma == pytest.approx(math.sqrt(2 * math.log(1e200)), rel=1e-12)
    assert mu == pytest.approx(math.log(1e-194) - math.log(1e200), rel=1e-12)
    assert np.isfinite(simulate(scenario, RunSettings(300, seed=1)).per_path["npv"]).all()


def test_a_distribution_that_overflows_is_rejected_when_loaded() -> None:
    # every parameter within its bounds, yet the upper tail is exp(2062)
    message = rejected(one_input({"type": "lognormal", "p10": 5e-324, "p90": 1e6}))
    assert "risk.inputs[0] ('x').distribution" in message
    assert "overflow" in message


def test_the_extreme_normal_quantile_is_scipys() -> None:
    from scipy import special

    from bondmodel.scenario.risk import U_LOW, Z_EXTREME

    assert Z_EXTREME == float(special.ndtri(1.0 - U_LOW)) == -float(special.ndtri(U_LOW))


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "fixed", "value": 0.3},
        {"type": "uniform", "min": -2.0, "max": 5.0},
        {"type": "triangular", "min": 0.5, "mode": 0.9, "max": 1.4},
        {"type": "triangular", "min": 0.5, "mode": 0.5, "max": 1.4},
        {"type": "pert", "min": 0.5, "mode": 0.9, "max": 1.4, "shape": 0.5},
        {"type": "beta", "alpha": 0.01, "beta": 3.0, "min": -1.0, "max": 2.0},
        {"type": "normal", "mean": 0.02, "sd": 0.01},
        {"type": "normal", "mean": 0.02, "sd": 0.01, "min": 0.0},
        {"type": "normal", "mean": 0.02, "sd": 0.01, "max": 0.025},
        {"type": "normal", "mean": 0.0, "sd": 1.0, "max": -12.0},
        {"type": "normal", "mean": 0.0, "sd": 1.0, "min": 12.0},
        {"type": "lognormal", "mean": 1.0, "sd": 0.3},
        {"type": "lognormal", "p10": 0.8, "p90": 1.5},
        {"type": "discrete", "values": [3.0, -1.0, 2.0], "probabilities": [0.2, 0.0, 0.8]},
        {"type": "discrete", "values": [1.0, 2.0], "probabilities": [1.0, 0.0]},
        {"type": "bernoulli", "p": 0.1, "impact": -4.0, "base": 1.0},
        {"type": "bernoulli", "p": 1.0, "impact": 2.0},
        {"type": "empirical", "samples": [4.0, 1.0, 9.0]},
        {"type": "gamma", "shape": 0.05, "scale": 2.0, "shift": -1.0},
        {"type": "gamma", "shape": 500.0, "scale": 0.01},
        {"type": "weibull", "shape": 0.3, "scale": 2.0, "shift": 0.5},
        {"type": "weibull", "shape": 40.0, "scale": 1.0},
        {"type": "student_t", "df": 1.0, "location": 1.0, "scale": 0.1},
        {"type": "student_t", "df": 200.0},
        {"type": "general", "values": [0.2, 0.9, 1.1, 1.6], "cumulative": [0.0, 0.0, 0.8, 1.0]},
        {"type": "binomial", "n": 30, "p": 0.999},
    ],
)
def test_a_distributions_value_range_holds_the_engines_extreme_draws(
    spec: dict[str, Any],
) -> None:
    # the schema checks a distribution on its own parameters (value_range), never through the
    # engine: the range it states must hold the engine's draws at the extreme uniforms, and
    # equal them where the family's quantile function is elementary
    dist: Any = TypeAdapter(Distribution).validate_python(spec)
    low, high = dist.value_range()
    drawn = ppf(dist, np.array([2.0**-53, 0.5, 1.0 - 2.0**-53]))
    assert low <= drawn.min() and drawn.max() <= high
    if spec["type"] in (
        "fixed",
        "uniform",
        "triangular",
        "discrete",
        "bernoulli",
        "empirical",
        "weibull",
        "gamma",
        "student_t",
    ):
        assert (low, high) == (drawn[0], drawn[-1])
    if spec["type"] == "lognormal" or (spec["type"] == "normal" and len(spec) == 3):
        assert (low, high) == pytest.approx((drawn[0], drawn[-1]), rel=1e-14)


# ---------------------------------------------------------------------------
# The beta and PERT quantile table: within its documented bound of the exact quantile
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (7 / 3, 11 / 3),
        (3.0, 3.0),
        (1.0, 1.0),
        (0.5, 0.5),
        (2.43, 9.57),
        (50.0, 2.0),
        (0.3, 5.0),
        (200.0, 200.0),
        (1.0001, 40.0),
    ],
)
def test_beta_quantile_table_is_within_its_bound_of_the_exact_quantile(a: float, b: float) -> None:
    from scipy import special

    from bondmodel.risk.distributions import BETA_QUANTILE_BOUND, BetaQuantile

    table = BetaQuantile(a, b)
    u = np.concatenate(
        [
            np.random.default_rng(7).random(250_000),
            np.geomspace(2.0**-53, 1e-3, 2000),
            1.0 - np.geomspace(2.0**-53, 1e-3, 2000),
        ]
    )
    error = np.abs(table(u) - special.betaincinv(a, b, u))
    assert error.max() <= BETA_QUANTILE_BOUND
    # most values come from the table (else it would not be faster), and it is monotone
    k = np.clip(np.searchsorted(table.u, u[:250_000], side="right") - 1, 0, table.inv_h.size - 1)
    assert table.interpolated[k].mean() > 0.9
    assert (np.diff(table(np.sort(u))) >= 0).all()
