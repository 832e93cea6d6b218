"""Property tests: invariants of the programme engine on random valid scenarios.

A hypothesis strategy builds valid scenario mappings across every feature of the
schema (partners with and without explicit shares, every frequency, both
financial-year settings, both discounting and appraisal bases, every cost
category and timing, optimism bias given or derived, running costs with every
indexation kind, savings streams with every ramp, delays, end years and
erosion). Each test runs :func:`bondmodel.run` and checks one family of
invariants, computing the expected values independently of the engine where it
can.

``BONDMODEL_HYPOTHESIS_EXAMPLES=2000 pytest tests/test_properties.py`` searches
harder; the default is 200 examples a test.
"""

from __future__ import annotations

import dataclasses
import math
import os
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import bondmodel
from bondmodel.conventions import (
    CATEGORY_DEFAULT_BAND,
    FREQUENCIES,
    GREEN_BOOK_STPR,
    OPTIMISM_BIAS_BANDS,
)
from bondmodel.dates import financial_year_start
from bondmodel.labels import PARTNER_COLUMNS, PERIOD_COLUMNS
from bondmodel.programme import Draws, programme_flows, ramp_fraction
from bondmodel.scenario.fieldtypes import BIDI_AND_INVISIBLE, EXCEL_ESCAPE
from bondmodel.scenario.schema import ExplicitRamp, LinearRamp, SCurveRamp
from bondmodel.timeline import build_timeline, years_between

EXAMPLES = max(200, int(os.environ.get("BONDMODEL_HYPOTHESIS_EXAMPLES", "200")))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: Relative tolerance of the accounting identities.
REL = 1e-9

FINITE: dict[str, Any] = {"allow_nan": False, "allow_infinity": False}
CATEGORIES = ["it", "redundancy", "programme", "property", "other"]
BANDS = sorted(OPTIMISM_BIAS_BANDS)

# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------


#: Any character a name may hold (docs/scenario-reference.md, "Field types"): no control
#: characters, surrogates, separators, noncharacters (unassigned, Cn) or bidi controls.
NAME_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Cn"),
    blacklist_characters=sorted(BIDI_AND_INVISIBLE),
)


def name_text(max_size: int) -> st.SearchStrategy[str]:
    """A valid name: NAME_CHARS without surrounding spaces or Excel's escape form."""
    return (
        st.text(NAME_CHARS, min_size=1, max_size=max_size)
        .map(str.strip)
        .filter(lambda s: bool(s) and EXCEL_ESCAPE.search(s) is None)
    )


def money(max_value: float = 1e9) -> st.SearchStrategy[float | int]:
    """Pounds: zero, whole pounds (ints are valid floats) or pence and up."""
    return st.one_of(
        st.just(0),
        st.integers(1, int(max_value)),
        st.floats(0.01, max_value, **FINITE),
    )


def fraction() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0, **FINITE))


def indexation() -> st.SearchStrategy[str | float | int]:
    return st.one_of(
        st.sampled_from(["inflation", "none"]),
        st.floats(-0.5, 1.0, **FINITE),
        st.integers(0, 1),
    )


@st.composite
def fractions_summing_to_one(draw: st.DrawFn, n: int) -> list[float]:
    """n fractions in [0, 1] whose fsum is 1: the last is 1 - sum(rest)."""
    raw = draw(
        st.one_of(
            st.lists(st.integers(0, 20), min_size=n, max_size=n),
            st.lists(st.floats(0.0, 1.0, **FINITE), min_size=n, max_size=n),
        )
    )
    total = math.fsum(raw)
    assume(total > 0)
    rest = [float(x) / total for x in raw[:-1]]
    last = 1.0 - math.fsum(rest)
    assume(0.0 <= last <= 1.0)
    shares = [*rest, last]
    assume(abs(math.fsum(shares) - 1.0) <= 1e-12)
    return shares


@st.composite
def cost_item(draw: st.DrawFn, name: str, n_periods: int, indexed: bool | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": name,
        "amount": draw(money()),
        "category": draw(st.sampled_from(CATEGORIES)),
    }
    timing = draw(st.sampled_from(["at_close", "spread", "profile", "default"]))
    if timing == "spread":
        item["timing"] = "spread"
        start = draw(st.none() | st.integers(0, n_periods))
        first = 1 if start is None else start
        assume(first <= n_periods)
        if start is not None:
            item["start_period"] = start
        item["periods"] = draw(st.integers(1, n_periods - first + 1))
    elif timing == "profile":
        item["timing"] = "profile"
        start = draw(st.none() | st.integers(0, n_periods))
        first = 0 if start is None else start
        if start is not None:
            item["start_period"] = start
        length = draw(st.integers(1, min(n_periods - first + 1, 8)))
        item["profile"] = draw(fractions_summing_to_one(length))
    elif timing == "at_close":
        item["timing"] = "at_close"
    ob = draw(st.sampled_from(["explicit", "band", "band_mitigated", "default"]))
    if ob == "explicit":
        item["optimism_bias"] = draw(st.floats(0.0, 5.0, **FINITE))
    elif ob in ("band", "band_mitigated"):
        if draw(st.booleans()):
            item["ob_band"] = draw(st.sampled_from(BANDS))
        if ob == "band_mitigated":
            item["ob_mitigation"] = draw(fraction())
    if draw(st.booleans()):
        item["contingency"] = draw(st.floats(0.0, 5.0, **FINITE))
    if indexed is not None:
        item["indexed"] = indexed
    elif draw(st.booleans()):
        item["indexed"] = draw(st.booleans())
    return item


@st.composite
def running_cost(draw: st.DrawFn, name: str, horizon: int) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name, "annual_amount": draw(money(1e8))}
    start = draw(st.none() | st.integers(1, horizon))
    if start is not None:
        item["start_year"] = start
    if draw(st.booleans()):
        item["end_year"] = draw(st.integers(start or 1, horizon))
    if draw(st.booleans()):
        item["indexation"] = draw(indexation())
    return item


@st.composite
def ramp(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["linear", "explicit", "s_curve"]))
    if kind == "linear":
        years = draw(st.one_of(st.just(0.0), st.integers(0, 10), st.floats(0.0, 50.0, **FINITE)))
        return {"type": "linear", "years": years}
    if kind == "explicit":
        return {"type": "explicit", "fractions": draw(st.lists(fraction(), min_size=1, max_size=8))}
    out: dict[str, Any] = {
        "type": "s_curve",
        "years": draw(st.floats(0.0, 50.0, exclude_min=True, **FINITE)),
    }
    if draw(st.booleans()):
        # Below about 1e-15 the engine divides 0 by 0: see
        # test_ramp_fraction_is_finite_and_bounded, which covers the full range.
        out["steepness"] = draw(st.floats(1e-6, 100.0, **FINITE))
    return out


@st.composite
def savings_stream(
    draw: st.DrawFn, name: str, horizon: int, partner_names: list[str]
) -> dict[str, Any]:
    stream: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        stream["annual_amount"] = draw(money())
    else:
        stream["pct_of_expenditure"] = draw(fraction())
    if draw(st.booleans()):
        stream["partners"] = draw(st.lists(st.sampled_from(partner_names), min_size=1, unique=True))
    if draw(st.booleans()):
        stream["allocation"] = draw(st.sampled_from(["shares", "expenditure"]))
    if draw(st.booleans()):
        stream["ramp"] = draw(ramp())
    delay = draw(
        st.one_of(
            st.just(0.0),
            st.integers(0, horizon + 2).map(float),
            st.floats(0.0, horizon * 1.2, **FINITE),
            st.floats(0.0, 150.0, **FINITE),
        )
    )
    if delay or draw(st.booleans()):
        stream["start_delay_years"] = delay
    if draw(st.booleans()):
        stream["end_year"] = delay + draw(
            st.one_of(st.integers(1, horizon + 5).map(float), st.floats(0.01, 100.0, **FINITE))
        )
    if draw(st.booleans()):
        stream["erosion"] = draw(st.floats(0.0, 1.0, exclude_max=True, **FINITE))
    if draw(st.booleans()):
        stream["indexation"] = draw(indexation())
    return stream


@st.composite
def scenarios(
    draw: st.DrawFn, *, zero_inflation: bool = False, all_indexed: bool = False
) -> dict[str, Any]:
    """A valid scenario mapping, as parsed TOML would give it."""
    frequency = draw(st.sampled_from(sorted(FREQUENCIES)))
    horizon = draw(st.integers(1, 60))
    n_periods = horizon * FREQUENCIES[frequency]
    start = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2070, 12, 31)))
    base = start - timedelta(days=draw(st.integers(0, 3650)))
    timeline: dict[str, Any] = {"start_date": start, "horizon_years": horizon}
    if frequency != "annual" or draw(st.booleans()):
        timeline["frequency"] = frequency
    if draw(st.booleans()):
        timeline["align_to_financial_year"] = draw(st.booleans())

    economics: dict[str, Any] = {}
    if zero_inflation:
        economics["inflation"] = draw(st.sampled_from([0.0, 0]))
    elif draw(st.booleans()):
        economics["inflation"] = draw(
            st.one_of(st.floats(-0.2, 1.0, **FINITE), st.floats(0.0, 0.06, **FINITE))
        )
    if draw(st.booleans()):
        economics["discount_basis"] = "flat"
        economics["discount_rate"] = draw(
            st.one_of(st.floats(-0.49, 1.0, **FINITE), st.floats(0.0, 0.1, **FINITE))
        )
    elif draw(st.booleans()):
        economics["discount_basis"] = "green_book"
    if draw(st.booleans()):
        economics["appraisal_basis"] = draw(st.sampled_from(["real", "nominal"]))

    n_partners = draw(st.integers(1, 6))
    names = draw(
        st.lists(
            name_text(12),
            min_size=n_partners,
            max_size=n_partners,
            unique=True,
        )
    )
    partners: list[dict[str, Any]] = [
        {
            "name": name,
            "baseline_expenditure": draw(
                st.one_of(st.integers(1, 10**10), st.floats(1e-3, 1e10, **FINITE))
            ),
        }
        for name in names
    ]
    for kind in ("cost_share", "savings_share"):
        if draw(st.booleans()):
            for partner, share in zip(
                partners, draw(fractions_summing_to_one(n_partners)), strict=True
            ):
                partner[kind] = share

    indexed = True if all_indexed else None
    data: dict[str, Any] = {
        "meta": {"name": draw(name_text(20)), "base_date": base},
        "timeline": timeline,
        "partners": partners,
        "costs": [
            draw(cost_item(f"cost {i}", n_periods, indexed)) for i in range(draw(st.integers(0, 4)))
        ],
        "running_costs": [
            draw(running_cost(f"running {i}", horizon)) for i in range(draw(st.integers(0, 3)))
        ],
        "savings": [
            draw(savings_stream(f"saving {i}", horizon, names))
            for i in range(draw(st.integers(0, 3)))
        ],
    }
    if economics or draw(st.booleans()):
        data["economics"] = economics
    return data


# ---------------------------------------------------------------------------
# Helpers: independent recomputations from the scenario mapping
# ---------------------------------------------------------------------------


def run(data: dict[str, Any]) -> bondmodel.Results:
    return bondmodel.run(bondmodel.parse_scenario(data))


def assert_close(actual: Any, expected: Any, scale: float = 0.0, rel: float = REL) -> None:
    """|actual - expected| <= rel |expected| + 1e-12 scale, elementwise."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape
    tol = rel * np.abs(e) + 1e-12 * scale + 1e-300
    bad = np.abs(a - e) > tol
    assert not bad.any(), (
        f"mismatch at {np.flatnonzero(bad)[:5]}: actual {a[bad][:5]}, expected {e[bad][:5]}"
    )


def close_date(data: dict[str, Any]) -> date:
    tl = data["timeline"]
    start: date = tl["start_date"]
    return financial_year_start(start) if tl.get("align_to_financial_year") else start


def price_offset(data: dict[str, Any]) -> float:
    base: date = data["meta"]["base_date"]
    close = close_date(data)
    return years_between(base, close) if base <= close else -years_between(close, base)


def inflation_of(data: dict[str, Any]) -> float:
    return float(data.get("economics", {}).get("inflation", 0.02))


def year_grid(data: dict[str, Any]) -> tuple[np.ndarray, int]:
    f = FREQUENCIES[data["timeline"].get("frequency", "annual")]
    n = data["timeline"]["horizon_years"] * f
    return np.arange(n + 1) / f, f


def index_for(data: dict[str, Any], indexation: str | float) -> np.ndarray:
    """(T+1,) nominal multiplier on base-date amounts, computed from the scenario."""
    years, _ = year_grid(data)
    if indexation == "none":
        return np.ones_like(years)
    rate = inflation_of(data) if indexation == "inflation" else float(indexation)
    return np.power(1.0 + rate, price_offset(data) + years)


def weights_for(item: dict[str, Any], n_periods: int) -> np.ndarray:
    w = np.zeros(n_periods + 1)
    timing = item.get("timing", "at_close")
    if timing == "at_close":
        w[0] = 1.0
    elif timing == "spread":
        first = item.get("start_period", 1)
        w[first : first + item["periods"]] = 1.0 / item["periods"]
    else:
        first = item.get("start_period", 0)
        w[first : first + len(item["profile"])] = item["profile"]
    return w


def optimism_bias_for(item: dict[str, Any]) -> float:
    if "optimism_bias" in item:
        return float(item["optimism_bias"])
    band = item.get("ob_band") or CATEGORY_DEFAULT_BAND[item["category"]]
    if band is None:
        return 0.0
    return OPTIMISM_BIAS_BANDS[band].upper * (1.0 - float(item.get("ob_mitigation", 0.0)))


def steady_state(data: dict[str, Any], stream: dict[str, Any]) -> float:
    if "annual_amount" in stream:
        return float(stream["annual_amount"])
    members = set(stream.get("partners") or [p["name"] for p in data["partners"]])
    spend = math.fsum(
        float(p["baseline_expenditure"]) for p in data["partners"] if p["name"] in members
    )
    return float(stream["pct_of_expenditure"]) * spend


def numeric(frame: pd.DataFrame, columns: dict[str, Any]) -> list[str]:
    return [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]


def scale_of(results: bondmodel.Results) -> float:
    cols = numeric(results.periods, PERIOD_COLUMNS)
    return float(np.abs(results.periods[cols].to_numpy(dtype=np.float64)).max())


def pv_scale(metrics: dict[str, float | None]) -> float:
    return abs(metrics["pv_savings"] or 0.0) + abs(metrics["pv_costs"] or 0.0)


# ---------------------------------------------------------------------------
# (a) partners add up
# ---------------------------------------------------------------------------


def partner_blocks(results: bondmodel.Results) -> list[tuple[str, pd.DataFrame]]:
    """The partner table split by partner, positionally (partner-major, T+1 rows each).

    Positional, because pandas' string comparisons mishandle some valid names
    (``'\\x00' == '\\x00'`` is False on a pandas 3 string column).
    """
    n = len(results.periods)
    names = results.scenario.partner_names
    blocks = []
    for i, name in enumerate(names):
        frame = results.partners.iloc[i * n : (i + 1) * n]
        assert all(value == name for value in frame["partner"].tolist())
        assert frame["period"].tolist() == list(range(n))
        blocks.append((name, frame))
    return blocks


@PROPERTY
@given(scenarios())
def test_partner_flows_sum_to_totals(data: dict[str, Any]) -> None:
    results = run(data)
    periods, partners = results.periods, results.partners
    scale = scale_of(results)
    assert len(partners) == len(data["partners"]) * len(periods)
    blocks = partner_blocks(results)
    for column in ("capex", "running_costs", "gross_savings", "net_savings", "net_cash_flow"):
        summed = np.sum([frame[column].to_numpy() for _, frame in blocks], axis=0)
        assert_close(summed, periods[column].to_numpy(), scale)
    # Every stream's savings reach some partner: allocation rows sum to 1.
    streams = results.flows.stream_savings[0].sum(axis=0)
    assert_close(periods["gross_savings"].to_numpy(), streams, scale)
    # Explicit cost shares are honoured.
    if "cost_share" in data["partners"][0]:
        for p, (_, frame) in zip(data["partners"], blocks, strict=True):
            assert_close(frame["capex"], periods["capex"].to_numpy() * p["cost_share"], scale)
    # Partners named by no stream get none of the savings, when every stream names some.
    if data["savings"] and all("partners" in s for s in data["savings"]):
        named = {name for s in data["savings"] for name in s["partners"]}
        for name, frame in blocks:
            if name not in named:
                assert (frame["gross_savings"] == 0.0).all(), name


# ---------------------------------------------------------------------------
# (b) cost weights and (c) the build-up of one-off costs
# ---------------------------------------------------------------------------


def expected_capex(data: dict[str, Any]) -> dict[str, np.ndarray]:
    years, _ = year_grid(data)
    n = len(years) - 1
    parts = {k: np.zeros(n + 1) for k in ("base", "contingency", "optimism_bias")}
    for item in data["costs"]:
        index = index_for(data, "inflation") if item.get("indexed", True) else np.ones(n + 1)
        base = float(item["amount"]) * weights_for(item, n) * index
        cont = base * float(item.get("contingency", 0.0))
        parts["base"] += base
        parts["contingency"] += cont
        parts["optimism_bias"] += (base + cont) * optimism_bias_for(item)
    return parts


@PROPERTY
@given(scenarios())
def test_base_capex_follows_the_cost_weights(data: dict[str, Any]) -> None:
    results = run(data)
    years, _ = year_grid(data)
    n = len(years) - 1
    expected_total = math.fsum(
        float(item["amount"])
        * float(
            np.sum(
                weights_for(item, n)
                * (index_for(data, "inflation") if item.get("indexed", True) else 1.0)
            )
        )
        for item in data["costs"]
    )
    total = results.metrics["total_capex_base"]
    assert total is not None
    assert total == pytest.approx(expected_total, rel=REL, abs=1e-300)
    for item in data["costs"]:
        w = weights_for(item, n)
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        assert w.min() >= 0.0


@PROPERTY
@given(scenarios(zero_inflation=True, all_indexed=True))
def test_base_capex_is_the_sum_of_amounts_without_inflation(data: dict[str, Any]) -> None:
    results = run(data)
    expected = math.fsum(float(item["amount"]) for item in data["costs"])
    assert results.metrics["total_capex_base"] == pytest.approx(expected, rel=REL, abs=1e-300)
    assert results.periods["price_index"].to_numpy() == pytest.approx(1.0, abs=0.0)


@PROPERTY
@given(scenarios())
def test_capex_builds_up_from_base_contingency_and_optimism_bias(data: dict[str, Any]) -> None:
    results = run(data)
    p = results.periods
    scale = scale_of(results)
    assert (p["capex_overrun"] == 0.0).all()
    assert_close(
        p["capex"],
        p["capex_base"] + p["capex_contingency"] + p["capex_optimism_bias"] + p["capex_overrun"],
        scale,
    )
    expected = expected_capex(data)
    assert_close(p["capex_base"], expected["base"], scale)
    assert_close(p["capex_contingency"], expected["contingency"], scale)
    assert_close(p["capex_optimism_bias"], expected["optimism_bias"], scale)
    for column in ("capex_base", "capex_contingency", "capex_optimism_bias", "capex"):
        assert (p[column] >= 0.0).all()


@PROPERTY
@given(scenarios())
def test_running_costs_follow_their_years_and_indexation(data: dict[str, Any]) -> None:
    results = run(data)
    years, f = year_grid(data)
    horizon = data["timeline"]["horizon_years"]
    programme_year = np.ceil(np.arange(len(years)) / f)
    expected = np.zeros(len(years))
    for rc in data["running_costs"]:
        first, last = rc.get("start_year", 1), rc.get("end_year", horizon)
        active = (programme_year >= first) & (programme_year <= last)
        index = index_for(data, rc.get("indexation", "inflation"))
        expected += float(rc["annual_amount"]) / f * active * index
    assert_close(results.periods["running_costs"], expected, scale_of(results))
    assert results.periods["running_costs"].iloc[0] == 0.0
    if all(rc.get("indexation") == "none" for rc in data["running_costs"]):
        # Flat in cash terms: each item costs its annual amount in each active year.
        flat_total = math.fsum(
            float(rc["annual_amount"]) * (rc.get("end_year", horizon) - rc.get("start_year", 1) + 1)
            for rc in data["running_costs"]
        )
        assert results.metrics["total_running_costs"] == pytest.approx(flat_total, rel=1e-12)


# ---------------------------------------------------------------------------
# (d) everything finite; metrics None only where undefined
# ---------------------------------------------------------------------------


@PROPERTY
@given(scenarios())
def test_results_are_finite_and_metrics_undefined_only_where_allowed(
    data: dict[str, Any],
) -> None:
    results = run(data)
    for frame, columns in ((results.periods, PERIOD_COLUMNS), (results.partners, PARTNER_COLUMNS)):
        cols = numeric(frame, columns)
        values = frame[cols].to_numpy(dtype=np.float64)
        assert np.isfinite(values).all(), [c for c in cols if not np.isfinite(frame[c]).all()]
    m = results.metrics
    for key, value in m.items():
        assert value is None or (isinstance(value, float) and math.isfinite(value)), (key, value)
    assert m["pv_costs"] is not None and m["pv_costs"] >= 0.0
    assert (m["bcr"] is None) == (m["pv_costs"] == 0.0)
    flows = results.flows
    final = float(np.cumsum(flows.on_basis(flows.net_cash_flow)[0])[-1])
    final_discounted = float(results.periods["cumulative_discounted_net_cash_flow"].iloc[-1])
    assert (m["payback_years"] is None) == (final < 0.0)
    assert (m["discounted_payback_years"] is None) == (final_discounted < 0.0)
    allowed_none = {"bcr", "payback_years", "discounted_payback_years"}
    assert all(m[k] is not None for k in m if k not in allowed_none)
    for name, pm in results.partner_metrics.items():
        for key, value in pm.items():
            assert value is None or math.isfinite(value), (name, key, value)
            assert value is not None or key == "payback_years", (name, key)


# ---------------------------------------------------------------------------
# (e) cash-flow identities and (f) real = nominal / index
# ---------------------------------------------------------------------------


@PROPERTY
@given(scenarios())
def test_cash_flow_identities_and_cumulative_columns(data: dict[str, Any]) -> None:
    results = run(data)
    p = results.periods
    scale = scale_of(results)
    assert_close(p["net_savings"], p["gross_savings"] - p["running_costs"], scale)
    assert_close(p["net_cash_flow"], p["gross_savings"] - p["running_costs"] - p["capex"], scale)
    for cumulative, flow in (
        ("cumulative_net_cash_flow", "net_cash_flow"),
        ("cumulative_net_cash_flow_real", "net_cash_flow_real"),
        ("cumulative_discounted_net_cash_flow", "discounted_net_cash_flow"),
    ):
        assert_close(p[cumulative], np.cumsum(p[flow].to_numpy()), scale)
    for _, frame in partner_blocks(results):
        assert_close(
            frame["net_cash_flow"],
            frame["gross_savings"] - frame["running_costs"] - frame["capex"],
            scale,
        )
        assert_close(
            frame["cumulative_net_cash_flow"], np.cumsum(frame["net_cash_flow"].to_numpy()), scale
        )
    m = results.metrics
    assert m["total_capex"] == pytest.approx(float(p["capex"].sum()), rel=REL, abs=1e-12 * scale)
    assert m["total_net_cash_flow"] == pytest.approx(
        float(p["net_cash_flow"].sum()), rel=REL, abs=1e-9 * scale
    )
    # Peak funding need: the deepest cumulative (nominal) deficit.
    deficit = -p["cumulative_net_cash_flow"].to_numpy()
    assert m["peak_funding_need"] == pytest.approx(
        max(0.0, float(deficit.max())), rel=REL, abs=1e-12 * scale
    )


@PROPERTY
@given(scenarios())
def test_real_is_nominal_over_the_price_index(data: dict[str, Any]) -> None:
    results = run(data)
    p = results.periods
    scale = float(np.abs(p[["capex_real", "gross_savings_real", "running_costs_real"]]).max().max())
    years, _ = year_grid(data)
    expected_index = np.power(1.0 + inflation_of(data), price_offset(data) + years)
    assert_close(p["price_index"], expected_index, rel=1e-11)
    assert_close(p["years"], years, rel=0.0)
    index = p["price_index"].to_numpy()
    for column in ("capex", "running_costs", "gross_savings", "net_savings", "net_cash_flow"):
        assert_close(p[f"{column}_real"], p[column].to_numpy() / index, scale)
    partners = results.partners
    per_partner_index = np.tile(index, len(data["partners"]))
    assert_close(
        partners["net_cash_flow_real"],
        partners["net_cash_flow"].to_numpy() / per_partner_index,
        scale,
    )


# ---------------------------------------------------------------------------
# (g) discount factors
# ---------------------------------------------------------------------------


def expected_discount_factors(data: dict[str, Any]) -> np.ndarray:
    years, _ = year_grid(data)
    economics = data.get("economics", {})
    nominal = economics.get("appraisal_basis", "real") == "nominal"
    if economics.get("discount_basis", "green_book") == "flat":
        return np.power(1.0 + float(economics["discount_rate"]), -years)
    df = np.ones_like(years)
    for band in GREEN_BOOK_STPR:
        span = np.clip(np.minimum(years, band.end_year) - band.start_year, 0.0, None)
        df = df * np.power(1.0 + band.rate, -span)
    if nominal:
        df = df / np.power(1.0 + inflation_of(data), years)
    return df


def rates_positive(data: dict[str, Any]) -> bool:
    economics = data.get("economics", {})
    if economics.get("discount_basis", "green_book") == "flat":
        return float(economics["discount_rate"]) >= 0.0
    if economics.get("appraisal_basis", "real") == "real":
        return True
    # Nominal Green Book: (1 + real band rate)(1 + inflation) - 1; bands within
    # 60 years are 3.5% and 3.0%.
    return (1.0 + 0.030) * (1.0 + inflation_of(data)) >= 1.0


@PROPERTY
@given(scenarios())
def test_discount_factors(data: dict[str, Any]) -> None:
    results = run(data)
    df = results.periods["discount_factor"].to_numpy()
    assert df[0] == pytest.approx(1.0, abs=1e-15)
    assert (df > 0.0).all()
    assert_close(df, expected_discount_factors(data), rel=1e-10)
    if rates_positive(data):
        assert (df <= 1.0 + 1e-15).all()
        assert (df[1:] <= df[:-1] * (1.0 + 1e-14)).all()


# ---------------------------------------------------------------------------
# (h) NPV and (j) partner NPVs
# ---------------------------------------------------------------------------


@PROPERTY
@given(scenarios())
def test_npv_is_pv_savings_less_pv_costs_and_the_discounted_sum(data: dict[str, Any]) -> None:
    results = run(data)
    m = results.metrics
    p = results.periods
    npv, pv_s, pv_c = m["npv"], m["pv_savings"], m["pv_costs"]
    assert npv is not None and pv_s is not None and pv_c is not None
    tol = REL * pv_scale(m) + 1e-6
    assert npv == pytest.approx(pv_s - pv_c, rel=REL, abs=tol)
    assert npv == pytest.approx(float(p["discounted_net_cash_flow"].sum()), rel=REL, abs=tol)
    suffix = "_real" if results.flows.appraisal_basis == "real" else ""
    df = p["discount_factor"].to_numpy()
    expected_pv_s = math.fsum(p[f"gross_savings{suffix}"].to_numpy() * df)
    expected_pv_c = math.fsum((p[f"capex{suffix}"] + p[f"running_costs{suffix}"]).to_numpy() * df)
    assert pv_s == pytest.approx(expected_pv_s, rel=REL, abs=tol)
    assert pv_c == pytest.approx(expected_pv_c, rel=REL, abs=tol)
    if m["bcr"] is not None:
        assert m["bcr"] == pytest.approx(pv_s / pv_c, rel=REL)


@PROPERTY
@given(scenarios())
def test_partner_npvs_sum_to_the_programme_npv(data: dict[str, Any]) -> None:
    results = run(data)
    m = results.metrics
    pm = results.partner_metrics
    assert list(pm) == [p["name"] for p in data["partners"]]
    tol = REL * pv_scale(m) + 1e-6
    for key in ("npv", "pv_savings", "pv_costs"):
        total = math.fsum(v[key] or 0.0 for v in pm.values())
        assert total == pytest.approx(m[key], rel=REL, abs=tol), key
    # The partner table's discounted flows add up to each partner's NPV.
    for name, frame in partner_blocks(results):
        assert float(frame["discounted_net_cash_flow"].sum()) == pytest.approx(
            pm[name]["npv"], rel=REL, abs=tol
        )


# ---------------------------------------------------------------------------
# (i) savings bounded by the steady state, zero before they start
# ---------------------------------------------------------------------------


@PROPERTY
@given(scenarios())
def test_savings_bounded_by_steady_state_and_zero_before_start(data: dict[str, Any]) -> None:
    results = run(data)
    years, f = year_grid(data)
    t = np.arange(len(years))
    streams = results.flows.stream_savings[0]
    assert streams.shape == (len(data["savings"]), len(years))
    bound_total = np.zeros(len(years))
    for s, stream in enumerate(data["savings"]):
        index = index_for(data, stream.get("indexation", "inflation"))
        bound = steady_state(data, stream) / f * index
        bound_total += bound
        got = streams[s]
        assert (got >= 0.0).all()
        assert (got <= bound * (1.0 + 1e-12) + 1e-300).all(), (stream, got - bound)
        assert got[0] == 0.0
        delay = float(stream.get("start_delay_years", 0.0))
        assert (got[years <= delay] == 0.0).all()
        if "end_year" in stream:
            assert (got[(t - 1) / f >= float(stream["end_year"])] == 0.0).all()
    gross = results.periods["gross_savings"].to_numpy()
    assert (gross <= bound_total * (1.0 + 1e-12) + 1e-300).all()


def steady_fraction(ramp_data: dict[str, Any] | None) -> tuple[float, float]:
    """(years after start from which the ramp is complete, its final fraction)."""
    if ramp_data is None:
        return 0.0, 1.0
    if ramp_data["type"] == "explicit":
        return float(len(ramp_data["fractions"]) - 1), float(ramp_data["fractions"][-1])
    return float(ramp_data["years"]), 1.0


@PROPERTY
@given(scenarios())
def test_savings_reach_the_steady_state_once_ramped(data: dict[str, Any]) -> None:
    """Periods wholly inside the savings window and past the ramp earn the steady
    state x the final ramp fraction x erosion x index (the bound is attained)."""
    results = run(data)
    years, f = year_grid(data)
    t = np.arange(len(years))
    streams = results.flows.stream_savings[0]
    for s, stream in enumerate(data["savings"]):
        delay = float(stream.get("start_delay_years", 0.0))
        ramp_done, final = steady_fraction(stream.get("ramp"))
        end = float(stream.get("end_year", math.inf))
        full = (t >= 1) & ((t - 1) / f >= delay + ramp_done) & (t / f <= end)
        full &= (t - 1) >= delay * f
        if not full.any():
            continue
        erosion = float(stream.get("erosion", 0.0))
        expected = (
            steady_state(data, stream)
            / f
            * final
            * np.power(1.0 - erosion, np.maximum(0.0, (t - 1) / f - delay))
            * index_for(data, stream.get("indexation", "inflation"))
        )
        assert_close(streams[s][full], expected[full], rel=1e-9)


# ---------------------------------------------------------------------------
# (k) payback
# ---------------------------------------------------------------------------


def check_payback(
    payback: float | None, cumulative: np.ndarray, years: np.ndarray, scale: float
) -> None:
    """Payback in [0, horizon], and the cumulative stays >= 0 once it is reached."""
    if payback is None:
        assert cumulative[-1] < 0.0
        return
    assert 0.0 <= payback <= years[-1] + 1e-12
    if payback == 0.0:
        # never behind, up to rounding: a deficit of 5e-324 pounds (a partner's share of
        # 5e-324) interpolates to a payback of 3e-324 years, which underflows to 0
        assert (cumulative >= -1e-12 * scale).all(), (payback, cumulative)
    else:
        assert (cumulative < 0.0).any(), (payback, cumulative)
    # Every period ending after the payback point is paid back; the period
    # ending at it may miss by rounding only.
    after = years > payback + 1e-12
    assert (cumulative[after] >= 0.0).all(), (payback, cumulative)
    at = np.abs(years - payback) <= 1e-12
    assert (cumulative[at] >= -1e-9 * scale).all(), (payback, cumulative)


@PROPERTY
@given(scenarios())
def test_payback_lies_in_the_horizon_and_stays_paid_back(data: dict[str, Any]) -> None:
    results = run(data)
    p = results.periods
    years = p["years"].to_numpy()
    horizon = float(data["timeline"]["horizon_years"])
    flows = results.flows
    cumulative = np.cumsum(flows.on_basis(flows.net_cash_flow)[0])
    scale = scale_of(results)
    m = results.metrics
    for key, cum in (
        ("payback_years", cumulative),
        ("discounted_payback_years", p["cumulative_discounted_net_cash_flow"].to_numpy()),
    ):
        value = m[key]
        if value is not None:
            assert 0.0 <= value <= horizon
        check_payback(value, cum, years, scale)
    basis = results.flows.on_basis(results.flows.partner_net_cash_flow)[0]
    for i, name in enumerate(results.scenario.partner_names):
        check_payback(
            results.partner_metrics[name]["payback_years"], np.cumsum(basis[i]), years, scale
        )


# ---------------------------------------------------------------------------
# Ramps over their whole valid domain
# ---------------------------------------------------------------------------


def any_ramp(min_steepness: float) -> st.SearchStrategy[LinearRamp | ExplicitRamp | SCurveRamp]:
    linear = st.builds(LinearRamp, type=st.just("linear"), years=st.floats(0.0, 50.0, **FINITE))
    explicit = st.builds(
        ExplicitRamp,
        type=st.just("explicit"),
        fractions=st.lists(fraction(), min_size=1, max_size=8),
    )
    s_curve = st.builds(
        SCurveRamp,
        type=st.just("s_curve"),
        years=st.floats(0.0, 50.0, exclude_min=True, **FINITE),
        steepness=st.floats(min_steepness, 100.0, exclude_min=True, **FINITE),
    )
    return st.one_of(linear, explicit, s_curve)


TAUS = st.lists(st.floats(-5.0, 120.0, **FINITE), min_size=1, max_size=20)


def check_ramp(ramp_model: LinearRamp | ExplicitRamp | SCurveRamp, taus: list[float]) -> None:
    tau = np.sort(np.asarray(taus, dtype=np.float64))
    with np.errstate(all="ignore"):
        r = ramp_fraction(ramp_model, tau)
    assert r.shape == tau.shape
    assert np.isfinite(r).all(), r
    assert ((r >= 0.0) & (r <= 1.0)).all(), r
    assert (r[tau <= 0.0] == 0.0).all()
    if isinstance(ramp_model, ExplicitRamp):
        k = np.clip(np.ceil(tau), 1, len(ramp_model.fractions)).astype(int)
        expected = np.where(tau > 0.0, np.asarray(ramp_model.fractions)[k - 1], 0.0)
        assert (r == expected).all()
    else:
        assert (np.diff(r) >= -1e-12).all(), r
        done = (tau >= ramp_model.years) & (tau > 0.0)
        assert r[done] == pytest.approx(1.0, abs=1e-12)


@PROPERTY
@given(any_ramp(min_steepness=1e-6), TAUS)
def test_ramp_fraction_is_finite_bounded_and_monotone(
    ramp_model: LinearRamp | ExplicitRamp | SCurveRamp, taus: list[float]
) -> None:
    check_ramp(ramp_model, taus)


@PROPERTY
@given(any_ramp(min_steepness=0.0), TAUS)
@example(SCurveRamp(type="s_curve", years=3.0, steepness=1e-17), [0.0, 1.5, 3.0])
def test_ramp_fraction_is_finite_for_every_valid_steepness(
    ramp_model: LinearRamp | ExplicitRamp | SCurveRamp, taus: list[float]
) -> None:
    check_ramp(ramp_model, taus)


# ---------------------------------------------------------------------------
# Paths: the base case is one path; other paths do not leak into it
# ---------------------------------------------------------------------------


@PROPERTY
@given(
    scenarios(),
    st.floats(0.0, 2.0, **FINITE),
    st.floats(0.5, 3.0, **FINITE),
    st.floats(0.0, 2.0, **FINITE),
)
def test_paths_are_independent_and_scale_as_drawn(
    data: dict[str, Any], realisation: float, cost_factor: float, running_factor: float
) -> None:
    scenario = bondmodel.parse_scenario(data)
    timeline = build_timeline(scenario)
    one = programme_flows(scenario, timeline, Draws.central(scenario, paths=1))
    draws = Draws.central(scenario, paths=3)
    savings_realisation = draws.savings_realisation.copy()
    savings_realisation[1] = realisation
    cost = draws.cost_factor.copy()
    cost[1] = cost_factor
    running = draws.running_cost_factor.copy()
    running[1] = running_factor
    flows = programme_flows(
        scenario,
        timeline,
        dataclasses.replace(
            draws,
            savings_realisation=savings_realisation,
            cost_factor=cost,
            running_cost_factor=running,
        ),
    )
    scale = float(np.abs(one.net_cash_flow).max() + np.abs(one.gross_savings).max())
    scale += float(np.abs(one.capex).max() + np.abs(one.running_costs).max()) * 3.0
    for name in ("gross_savings", "capex", "running_costs", "net_cash_flow", "price_index"):
        # Two central paths of one batch are bit-identical ...
        np.testing.assert_array_equal(getattr(flows, name)[2], getattr(flows, name)[0], name)
        # ... and match the one-path run (to the last few bits: see
        # tests/test_engine.py::test_batch_size_does_not_change_a_path_by_one_ulp).
        assert_close(getattr(flows, name)[0], getattr(one, name)[0], scale, rel=1e-14)
    assert_close(flows.gross_savings[1], realisation * one.gross_savings[0], scale)
    planned = one.capex_base[0] + one.capex_contingency[0] + one.capex_optimism_bias[0]
    assert_close(flows.capex_overrun[1], (cost_factor - 1.0) * planned, scale)
    assert_close(flows.capex[1], cost_factor * planned, scale)
    assert_close(flows.running_costs[1], running_factor * one.running_costs[0], scale)
