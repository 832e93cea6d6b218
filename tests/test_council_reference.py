"""Council finance worked by hand (issue 17): MRP by each method on a £10m, 25-year example,
a certainty-rate PWLB annuity's interest and MRP by year, a budget effect and its Band D
equivalent, and the Prudential Code indicators.

Each figure below is written out as the arithmetic a treasury accountant would do on paper;
the engine must agree to 1e-12 (relative) or to the penny.
"""

from __future__ import annotations

import numpy as np
import numpy_financial as npf
import pytest

from bondmodel.bond.pwlb import amortise
from bondmodel.conventions import CAPITALISATION_DIRECTION_LIFE_YEARS, PWLB_MARGINS
from bondmodel.council.budget import BudgetEffect
from bondmodel.council.mrp import mrp_by_year, mrp_schedule
from bondmodel.council.prudential import Indicators, cfr_path
from bondmodel.errors import ModelError

AMOUNT = 10_000_000.0
LIFE = 25
#: PWLB certainty rate on a 4.5% gilt: 4.5% + 0.8% = 5.3%.
GILT = 0.045
RATE = GILT + PWLB_MARGINS["certainty"]


def test_the_certainty_rate_is_the_gilt_yield_plus_80bp() -> None:
    assert PWLB_MARGINS == {
        "standard": 0.010,
        "certainty": 0.008,
        "local_infrastructure": 0.006,
        "hra": 0.004,
    }
    assert abs(RATE - 0.053) < 1e-15


def test_mrp_by_equal_instalments() -> None:
    # 10,000,000 / 25 = 400,000 a year for 25 years
    mrp = mrp_schedule(AMOUNT, LIFE, "equal_instalment")
    assert mrp.shape == (25,)
    assert np.all(mrp == 400_000.0)


def test_mrp_as_an_annuity() -> None:
    # (1.053)^25 = 3.6367150987305896
    # year 1: 10,000,000 x 0.053 / (3.6367150987305896 - 1) = 530,000 / 2.6367150987305896
    #       = 201,007.68575837463
    # year t: year 1 x 1.053^(t-1); year 25: 201,007.68575837463 x 1.053^24 = 694,214.32645619...
    mrp = mrp_schedule(AMOUNT, LIFE, "annuity", RATE)
    assert mrp[0] == pytest.approx(201_007.68575837463, rel=1e-12)
    assert mrp[24] == pytest.approx(201_007.68575837463 * 1.053**24, rel=1e-12)
    assert mrp[24] == pytest.approx(694_214.3264561961, rel=1e-12)
    assert np.allclose(mrp[1:] / mrp[:-1], 1.053, rtol=1e-13)
    assert mrp.sum() == pytest.approx(AMOUNT, rel=1e-13)  # the whole debt is provided for


def test_mrp_for_expenditure_capitalised_under_a_direction() -> None:
    # deemed life 20 years whatever the asset life: 10,000,000 / 20 = 500,000 a year
    assert CAPITALISATION_DIRECTION_LIFE_YEARS == 20
    mrp = mrp_schedule(AMOUNT, LIFE, "capitalisation_direction")
    assert mrp.shape == (20,) and np.all(mrp == 500_000.0)


def test_mrp_starts_the_year_after_the_spend_and_schedules_add_up() -> None:
    # 1,000,000 spent in year 1 and 500,000 in year 2, equal instalments over 4 years:
    # year 1: 0; year 2: 250,000; year 3: 250,000 + 125,000; ... year 6: 125,000
    mrp = mrp_by_year(np.array([1e6, 5e5, 0, 0, 0, 0, 0]), 4, "equal_instalment")
    assert mrp.tolist() == [0.0, 250_000.0, 375_000.0, 375_000.0, 375_000.0, 125_000.0, 0.0]


def test_a_certainty_rate_pwlb_annuity_by_year() -> None:
    # level payment: 10,000,000 x 0.053 / (1 - 1.053^-25) = 530,000 / (1 - 1/3.6367150987305896)
    #              = 731,007.6857583746 (numpy_financial.pmt agrees)
    # year 1: interest 10,000,000 x 0.053 = 530,000; principal 731,007.69 - 530,000 = 201,007.69
    # year 2: interest (10,000,000 - 201,007.68575837463) x 0.053 = 519,346.5926548061
    interest, principal, balance = amortise(AMOUNT, RATE, LIFE, "annuity", LIFE + 1)
    payment = interest[1:] + principal[1:]
    assert np.allclose(payment, 731_007.6857583746, rtol=1e-12)
    assert payment[0] == pytest.approx(float(npf.pmt(RATE, LIFE, -AMOUNT)), rel=1e-12)
    assert interest[1] == pytest.approx(530_000.0, rel=1e-15)
    assert interest[2] == pytest.approx(519_346.5926548061, rel=1e-12)
    assert balance[-1] == pytest.approx(0.0, abs=1e-6)
    # The annuity MRP at the loan's own rate is the loan's principal, year by year: the
    # budget bears interest + MRP = the level payment each year.
    mrp = mrp_schedule(AMOUNT, LIFE, "annuity", RATE)
    assert np.allclose(mrp, principal[1:], rtol=1e-11)
    assert np.allclose(interest[1:] + mrp, 731_007.6857583746, rtol=1e-11)


def test_a_budget_effect_and_its_band_d_equivalent() -> None:
    # year 1: savings 0, running costs 150,000, interest 530,000, MRP 0 (it starts in year 2)
    #   net = 150,000 + 530,000 - 0 = 680,000; Band D: 680,000 / 60,000 = 11.3333...
    # year 2: savings 1,200,000, interest 519,346.59, MRP 400,000
    #   net = 150,000 + 919,346.59 - 1,200,000 = -130,653.41 (a saving)
    # year 3: savings 2,000,000, interest 508,130, MRP 400,000: net -941,870
    # reserves to hold: the peak of the running total, 680,000 (year 1)
    effect = BudgetEffect(
        savings=np.array([0.0, 1_200_000.0, 2_000_000.0]),
        running_costs=np.full(3, 150_000.0),
        interest=np.array([530_000.0, 519_346.59, 508_130.0]),
        mrp=np.array([0.0, 400_000.0, 400_000.0]),
    )
    assert effect.net.tolist() == pytest.approx([680_000.0, -130_653.41, -941_870.0], abs=1e-6)
    assert effect.band_d(60_000.0)[0] == pytest.approx(11.333333333333334, rel=1e-15)
    assert effect.band_d(60_000.0)[2] == pytest.approx(-15.697833333333333, rel=1e-13)
    assert effect.share_of_budget(200_000_000.0)[0] == pytest.approx(0.0034, rel=1e-13)
    assert effect.reserves_needed == pytest.approx(680_000.0, abs=1e-9)
    saving_from_the_start = BudgetEffect(
        savings=np.full(2, 1e6), running_costs=np.zeros(2), interest=np.zeros(2), mrp=np.zeros(2)
    )
    assert saving_from_the_start.reserves_needed == 0.0


def test_prudential_indicators_and_their_breaches() -> None:
    # CFR: 200m opening; 10m borrowed in year 1; MRP 0, 400,000, 400,000
    #   year ends: 210,000,000; 209,600,000; 209,200,000
    cfr = cfr_path(200e6, np.array([10e6, 0.0, 0.0]), np.array([0.0, 4e5, 4e5]))
    assert cfr.tolist() == [210e6, 209.6e6, 209.2e6]
    ind = Indicators(
        cfr=cfr,
        gross_debt=np.array([205e6, 209.8e6, 209e6]),
        financing_costs=np.array([9e6, 9.4e6, 9.3e6]),
        net_revenue_stream=np.full(3, 200e6),
        operational_boundary=np.full(3, 209.5e6),
        authorised_limit=np.full(3, 215e6),
    )
    # financing costs / net revenue stream: 9m / 200m = 4.5%
    assert ind.financing_ratio[0] == pytest.approx(0.045, rel=1e-15)
    assert ind.debt_over_cfr.tolist() == pytest.approx([-5e6, 0.2e6, -0.2e6], abs=1e-6)
    assert ind.boundary_headroom.tolist() == pytest.approx([4.5e6, -0.3e6, 0.5e6], abs=1e-6)
    assert ind.limit_headroom.min() == pytest.approx(5.2e6, abs=1e-6)
    assert ind.breaches() == [
        "crosses the operational boundary in year 2",
        "gross debt exceeds the CFR in year 2",
    ]


@pytest.mark.parametrize(
    ("life", "method", "words"),
    [(0, "equal_instalment", "mrp.life_years = 0"), (25, "straight", "mrp.method = 'straight'")],
)
def test_a_bad_mrp_setting_is_named(life: int, method: str, words: str) -> None:
    with pytest.raises(ModelError, match=words):
        mrp_schedule(AMOUNT, life, method)  # type: ignore[arg-type]
