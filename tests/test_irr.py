"""The vectorised IRR against pyxirr and numpy_financial, and its explicit flags."""

from __future__ import annotations

import numpy as np
import numpy_financial as npf
import pytest
import pyxirr

from bondmodel.irr import MULTIPLE_SIGN_CHANGES, NO_SIGN_CHANGE, NOT_UNIQUE, OK, irr, npv_at


def _ordinary(n_paths: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flows = np.empty((n_paths, n))
    flows[:, 0] = -rng.uniform(50, 150, n_paths)
    flows[:, 1:] = rng.uniform(-2, 15, (n_paths, n - 1)).clip(0, None)
    flows[:, -1] += rng.uniform(0, 120, n_paths)
    return flows


@pytest.mark.parametrize("n", [2, 6, 26, 101])
def test_matches_pyxirr_and_numpy_financial(n: int) -> None:
    flows = _ordinary(400, n, seed=n)
    result = irr(flows)
    assert (result.flag == OK).all()
    expected = np.array([pyxirr.irr(row) for row in flows], dtype=np.float64)
    np.testing.assert_allclose(result.periodic, expected, rtol=0, atol=1e-9)
    expected_npf = np.array([npf.irr(row) for row in flows[:100]])
    np.testing.assert_allclose(result.periodic[:100], expected_npf, rtol=0, atol=1e-9)


def test_annual_effective_from_periodic() -> None:
    # Quarterly flows: -100 then 2 a quarter for 4 quarters and 100 back:
    # 2% a quarter exactly, so (1.02)^4 - 1 a year.
    flows = np.array([[-100.0, 2.0, 2.0, 2.0, 102.0]])
    result = irr(flows, periods_per_year=4)
    assert result.periodic[0] == pytest.approx(0.02, abs=1e-14)
    assert result.annual[0] == pytest.approx(1.02**4 - 1, abs=1e-13)


def test_flags_are_explicit() -> None:
    flows = np.array(
        [
            [100.0, 10.0, 10.0, 0.0],  # all positive: no IRR
            [0.0, 0.0, 0.0, 0.0],  # nothing at all: no IRR
            [-100.0, 230.0, -132.0, 0.0],  # roots at 10% and 20%: not unique
            [-100.0, 50.0, -1.0, 80.0],  # two sign changes but one root
            [-100.0, 0.0, 0.0, 121.0],  # zeros do not count as sign changes
        ]
    )
    result = irr(flows)
    assert list(result.flag) == [
        NO_SIGN_CHANGE,
        NO_SIGN_CHANGE,
        NOT_UNIQUE,
        MULTIPLE_SIGN_CHANGES,
        OK,
    ]
    assert np.isnan(result.periodic[:3]).all()
    assert abs(npv_at(result.periodic[3:4], flows[3:4])[0]) < 1e-9
    assert result.periodic[4] == pytest.approx(121 ** (1 / 3) / 100 ** (1 / 3) - 1, abs=1e-12)


def test_negative_irr_and_total_loss() -> None:
    # Half the money back after one year: -50%; almost nothing back: close to -100%.
    result = irr(np.array([[-100.0, 50.0], [-100.0, 1e-6]]))
    assert result.periodic[0] == pytest.approx(-0.5, abs=1e-12)
    assert result.flag[1] == OK
    assert result.periodic[1] == pytest.approx(1e-8 - 1, abs=1e-12)
