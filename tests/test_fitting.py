"""Fitting distributions to data (bondmodel.risk.fitting and ``bondmodel fit``).

Maximum likelihood recovers known parameters from data sampled from each family, within
the standard errors the fit reports (and those errors are the textbook ones where they are
known); AIC picks the true family on clear cases; the bootstrap p-value is a function of
the seed; the printed TOML validates and reproduces the fitted distribution's quantiles;
bad data files are refused by ``bondmodel fit`` as a scenario refuses them; and a scenario
whose risk input names its data runs, and verify reruns it bit for bit.
"""

from __future__ import annotations

import json
import math
import shutil
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

import bondmodel
from bondmodel import cli
from bondmodel.risk import fitting
from bondmodel.risk.distributions import ppf
from bondmodel.scenario.risk import RiskInput

from .bad_input_classes import bad_data_files

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "templates" / "pilot-savings-realisation.csv"

LN_MEAN = 0.8 * math.exp(0.25**2 / 2)
LN_SD = LN_MEAN * math.sqrt(math.expm1(0.25**2))
#: (family, true scipy distribution, true schema parameters) for the recovery test.
TRUTH: list[tuple[str, Any, dict[str, float]]] = [
    ("normal", stats.norm(0.9, 0.2), {"mean": 0.9, "sd": 0.2}),
    ("lognormal", stats.lognorm(0.25, scale=0.8), {"mean": LN_MEAN, "sd": LN_SD}),
    ("gamma", stats.gamma(3.0, scale=0.4), {"shape": 3.0, "scale": 0.4}),
    ("weibull", stats.weibull_min(2.5, scale=1.1), {"shape": 2.5, "scale": 1.1}),
    ("student_t", stats.t(5.0, 1.0, 0.3), {"df": 5.0, "location": 1.0, "scale": 0.3}),
    ("beta", stats.beta(2.0, 5.0), {"alpha": 2.0, "beta": 5.0}),
]
SAMPLE = 2000


def _data(tmp_path: Path, values: np.ndarray, name: str = "data.csv") -> fitting.FitData:
    path = tmp_path / name
    path.write_text(
        "# test data\nvalue\n" + "".join(f"{v!r}\n" for v in values.tolist()), encoding="utf-8"
    )
    return fitting.read_column(path)


def _sample(dist: Any, n: int, seed: int) -> np.ndarray:
    return np.asarray(dist.rvs(size=n, random_state=np.random.default_rng(seed)))


@pytest.mark.parametrize(("family", "truth", "params"), TRUTH, ids=[t[0] for t in TRUTH])
def test_fitting_recovers_known_parameters_within_the_reported_errors(
    family: str, truth: Any, params: dict[str, float], tmp_path: Path
) -> None:
    data = _data(tmp_path, _sample(truth, SAMPLE, 2026))
    fit = fitting.fit_family(data, fitting.FAMILIES[family])
    assert fit.problem is None
    estimate = fit.distribution()
    for key, true in params.items():
        se = fit.se[key]
        assert se is not None and 0 < se < abs(true), (key, se)
        # four standard errors: a 1-in-16,000 miss for each parameter, were the errors exact
        assert abs(estimate[key] - true) < 4 * se, (key, estimate[key], true, se)


def test_the_reported_errors_are_the_textbook_ones_for_the_normal(tmp_path: Path) -> None:
    """For the normal, the observed information gives sd/sqrt(n) for the mean and
    sd/sqrt(2n) for the sd (the MLE's own sd, n in the denominator)."""
    data = _data(tmp_path, _sample(stats.norm(5.0, 2.0), 500, 1))
    fit = fitting.fit_family(data, fitting.FAMILIES["normal"])
    sd = fit.distribution()["sd"]
    assert fit.se["mean"] == pytest.approx(sd / math.sqrt(500), rel=1e-4)
    assert fit.se["sd"] == pytest.approx(sd / math.sqrt(1000), rel=1e-4)


def test_the_reported_errors_match_the_spread_of_refits() -> None:
    """Across 200 independent samples of 400 from a gamma, each parameter's estimates
    spread as the reported standard error says (within 20%)."""
    truth = stats.gamma(3.0, scale=0.4)
    family = fitting.FAMILIES["gamma"]
    rng = np.random.default_rng(7)
    estimates = np.array(
        [
            family.schema(family.estimate(truth.rvs(400, random_state=rng)))["shape"]
            for _ in range(200)
        ]
    )
    data = fitting.FitData(Path("x.csv"), "x", truth.rvs(400, random_state=rng), (), "", 0)
    se = fitting.fit_family(data, family).se["shape"]
    assert se is not None
    assert estimates.std(ddof=1) == pytest.approx(se, rel=0.2)


@pytest.mark.parametrize(
    ("truth", "family"),
    [
        (stats.norm(1.0, 0.2), "normal"),
        (stats.gamma(6.0, scale=0.5), "gamma"),
        (stats.lognorm(0.8, scale=1.0), "lognormal"),
        (stats.weibull_min(4.0, scale=1.0), "weibull"),
        (stats.t(2.0, 0.0, 1.0), "student_t"),
    ],
    ids=["normal", "gamma", "lognormal", "weibull", "student_t"],
)
def test_aic_picks_the_true_family_on_a_clear_case(truth: Any, family: str, tmp_path: Path) -> None:
    data = _data(tmp_path, _sample(truth, 1000, 11))
    fits, _ = fitting.fit_all(
        data, fitting.family_names(None), seed=1, replicates=1, strict_support=False
    )
    assert fits[0].family.name == family, [(f.family.name, round(f.aic, 1)) for f in fits]


def test_the_bootstrap_p_value_is_a_function_of_the_seed(tmp_path: Path) -> None:
    data = _data(tmp_path, _sample(stats.gamma(2.0, scale=0.5), 60, 3))
    fit = fitting.fit_family(data, fitting.FAMILIES["normal"])
    first = fitting.bootstrap_p_value(fit, seed=42, replicates=99, index=0)
    again = fitting.bootstrap_p_value(fit, seed=42, replicates=99, index=0)
    other = [fitting.bootstrap_p_value(fit, seed=s, replicates=99, index=0) for s in (1, 2, 3)]
    assert first.p_value == again.p_value and first.replicates == 99
    assert any(o.p_value != first.p_value for o in other)
    # the p-value is (1 + exceedances) / (B + 1): a multiple of 1/100 here
    assert first.p_value is not None and round(first.p_value * 100, 9) % 1 == 0


@pytest.mark.parametrize(
    ("truth", "known"),
    [
        (stats.norm(1.0, 0.2), {"loc": 1.0, "scale": 0.2}),
        (stats.gamma(2.1, 0.0, 0.45), {"a": 2.1, "loc": 0.0, "scale": 0.45}),
        (stats.weibull_min(1.5, 0.0, 2.0), {"c": 1.5, "loc": 0.0, "scale": 2.0}),
    ],
    ids=["normal", "gamma", "weibull"],
)
def test_the_anderson_darling_statistic_is_scipys(truth: Any, known: dict[str, float]) -> None:
    """A^2 against a fully specified distribution equals scipy.stats.goodness_of_fit's."""
    x = _sample(truth, 80, 1)
    dist = {"norm": stats.norm, "gamma": stats.gamma, "weibull_min": stats.weibull_min}[
        truth.dist.name
    ]
    expected = stats.goodness_of_fit(
        dist, x, known_params=known, statistic="ad", n_mc_samples=9, rng=0
    ).statistic
    ours = float(fitting.ad_statistics(np.sort(x)[None, :], truth)[0])
    assert ours == pytest.approx(expected, rel=1e-12)
    # a value outside the support is the worst fit, not a NaN
    outside = fitting.ad_statistics(np.array([[-1.0, 0.5, 1.0]]), stats.gamma(2.0))
    assert outside[0] == math.inf


def test_the_anderson_darling_p_value_rejects_a_wrong_family_and_keeps_a_right_one(
    tmp_path: Path,
) -> None:
    """The AD p-value comes from the same replicates as the KS one: exponential data fitted
    by a normal get the least p-value 1/(B+1); data drawn from a gamma fitted by a gamma do
    not (for this seed, p well above 0.05)."""
    data = _data(tmp_path, _sample(stats.expon(scale=1.0), 300, 5))
    wrong = fitting.bootstrap_p_value(
        fitting.fit_family(data, fitting.FAMILIES["normal"]), 1, 99, 0
    )
    assert wrong.ad_p_value == pytest.approx(0.01) and wrong.ad > 1.0
    right_data = _data(tmp_path, _sample(stats.gamma(2.0, scale=0.5), 300, 5))
    right = fitting.fit_family(right_data, fitting.FAMILIES["gamma"])
    right = fitting.bootstrap_p_value(right, 1, 99, 0)
    assert right.ad_p_value is not None and right.ad_p_value > 0.05
    assert right.ad < wrong.ad


def test_the_bootstrap_rejects_a_wrong_family(tmp_path: Path) -> None:
    data = _data(tmp_path, _sample(stats.expon(scale=1.0), 300, 5))
    wrong = fitting.fit_family(data, fitting.FAMILIES["normal"])
    # no replicate's D* reaches the data's: the least p-value 99 replicates can give
    assert fitting.bootstrap_p_value(wrong, 1, 99, 0).p_value == pytest.approx(0.01)


def test_the_bootstrap_p_value_is_uniform_when_the_family_is_right() -> None:
    """Under the null hypothesis (normal data, normal fit, parameters estimated) the
    p-value is uniform: of 100 data sets about 10 have p <= 0.1 (binomial sd 3), and the
    mean p is about 0.5 (sd 0.03). The KS table's p-value, which ignores the estimation
    (Lilliefors 1967), would put almost none below 0.1."""
    family = fitting.FAMILIES["normal"]
    rng = np.random.default_rng(17)
    p_values = []
    for k in range(100):
        x = rng.normal(0.0, 1.0, 50)
        fit = fitting.fit_family(fitting.FitData(Path("x.csv"), "x", x, (), "", 0), family)
        p = fitting.bootstrap_p_value(fit, seed=k, replicates=19, index=0).p_value
        assert p is not None
        p_values.append(p)
    share = float(np.mean(np.asarray(p_values) <= 0.1))
    assert 0.02 <= share <= 0.2, share
    assert 0.4 <= float(np.mean(p_values)) <= 0.6


@pytest.mark.parametrize("family", list(fitting.FAMILIES))
def test_the_printed_toml_validates_and_reproduces_the_fitted_quantiles(
    family: str, tmp_path: Path
) -> None:
    truth = stats.beta(2.0, 3.0) if family == "beta" else stats.gamma(4.0, scale=0.25)
    data = _data(tmp_path, _sample(truth, 200, 9))
    fit = fitting.fit_family(data, fitting.FAMILIES[family])
    line = fitting.distribution_toml(fit.distribution())
    table = tomllib.loads(line)
    item = RiskInput.model_validate(
        {"name": "fitted", "target": "savings.realisation", **table}, strict=False
    )
    assert item.distribution.type == family
    u = np.linspace(0.001, 0.999, 999)
    np.testing.assert_allclose(ppf(item.distribution, u), fit.frozen().ppf(u), rtol=1e-9)


def test_fit_on_the_shipped_data_prints_a_table_chart_and_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "fit.png"
    args = ["fit", str(SHIPPED), "--seed", "1", "--bootstrap", "10"]
    assert cli.main([*args, "--png", str(png)]) == 0
    first = capsys.readouterr()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {png}" in first.err
    lines = first.out.splitlines()
    assert "30 values from 0.51 to 1.24" in lines[0]
    assert "seed 1 (repeat with --seed 1)" in lines[1]
    pasted = next(line for line in lines if line.startswith("distribution = "))
    table = tomllib.loads(pasted)["distribution"]
    data = fitting.read_column(SHIPPED)
    best = fitting.fit_family(data, fitting.FAMILIES[table["type"]])
    assert table == best.distribution()
    # the chosen family has the lowest AIC of the default families
    aics = {f: fitting.fit_family(data, fitting.FAMILIES[f]).aic for f in fitting.DEFAULT_FAMILIES}
    assert table["type"] == min(aics, key=aics.__getitem__)
    assert cli.main([*args, "--no-png"]) == 0
    assert capsys.readouterr().out == first.out  # the same seed, the same output


def test_fit_json_gives_the_text_outputs_choice_and_every_test(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["fit", str(SHIPPED), "--seed", "1", "--bootstrap", "10", "--no-png"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert cli.main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    pasted = next(line for line in text.splitlines() if line.startswith("distribution = "))
    assert report["toml"] == pasted
    chosen = next(f for f in report["fits"] if f["family"] == report["chosen"])
    assert chosen["distribution"] == tomllib.loads(pasted)["distribution"]
    assert report["data"]["sha256"] == fitting.read_column(SHIPPED).sha256
    assert report["seed"] == 1 and report["bootstrap_replicates"] == 10
    # ranked by AIC, and each p-value is (1 + exceedances) / 11
    aics = [f["aic"] for f in report["fits"] if f["usable"]]
    assert aics == sorted(aics)
    for f in report["fits"]:
        for test in ("ks", "ad"):
            assert round(f[test]["p_value"] * 11, 9) % 1 == 0
            assert f[test]["statistic"] > 0


def test_fit_refuses_a_family_the_data_leave(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fit", str(SHIPPED), "--families", "beta", "--no-png"]) == 2
    err = capsys.readouterr().err
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    line, value = next(
        (i, cell.split(",")[1])
        for i, cell in enumerate(lines, start=1)
        if cell[:1] != "#" and cell[0].isalpha() and cell.split(",")[1][0].isdigit()
        and float(cell.split(",")[1]) >= 1.0
    )  # fmt: skip
    assert f"line {line}: {float(value):g} is outside the beta distribution's support" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--families", "pareto"], ["'pareto' cannot be fitted", "allowed: normal"]),
        (["--bootstrap", "0"], ["--bootstrap: 0", "1 to 10,000"]),
        (["--png", "chart.jpg"], ["--png", "must end in .png"]),
        (["--column", "pilot"], ["line 8", "'Pilot 01' is not a number"]),
    ],
)
def test_fit_refuses_bad_flags(
    flags: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["fit", str(SHIPPED), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bondmodel: error: ") and len(err.splitlines()) == 1
    for word in words:
        assert word in err


@pytest.mark.parametrize("bad", bad_data_files(), ids=lambda b: b.name)
def test_fit_refuses_each_bad_data_file_in_one_line(
    bad: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"data{bad.suffix}"
    bad.write(path)
    code = cli.main(["fit", str(path), "--column", "realisation", "--families", bad.family])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith(f"bondmodel: error: {path}")
    assert len(captured.err.splitlines()) == 1 and "Traceback" not in captured.err
    for word in bad.words:
        assert word in captured.err
    assert not list(tmp_path.glob("*.png"))


def _fitted_scenario(folder: Path) -> Path:
    shutil.copy(SHIPPED, folder / SHIPPED.name)
    text = (ROOT / "templates" / "shared-services.toml").read_text(encoding="utf-8")
    old = 'distribution = { type = "pert", min = 0.5, mode = 1.0, max = 2.0 }'
    assert old in text
    new = f'fit = {{ data = "{SHIPPED.name}", column = "realisation", family = "lognormal" }}'
    scenario = folder / "fitted.toml"
    scenario.write_text(text.replace(old, new, 1), encoding="utf-8")
    return scenario


def test_a_scenario_fitted_to_data_runs_and_verify_reruns_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario_path = _fitted_scenario(tmp_path)
    scenario = bondmodel.load_scenario(scenario_path)
    item = scenario.risk.inputs[0] if scenario.risk else None
    assert item is not None and item.fit is not None
    expected = fitting.fit_distribution(fitting.read_column(SHIPPED, "realisation"), "lognormal")
    assert item.distribution.model_dump(exclude_none=True) == expected
    assert item.fit.sha256 == fitting.read_column(SHIPPED).sha256
    book = tmp_path / "fitted.xlsx"
    assert cli.main(["run", str(scenario_path), "-o", str(book), "--paths", "100",
                     "--seed", "3", "--quiet"]) == 0  # fmt: skip
    assert cli.main(["verify", str(book)]) == 0
    assert "MATCH" in capsys.readouterr().out
    data = tmp_path / SHIPPED.name
    # changed data beside the workbook: refused before the rerun
    data.write_text(data.read_text(encoding="utf-8") + "Pilot 31,0.99\n", encoding="utf-8")
    assert cli.main(["verify", str(book)]) == 2
    err = capsys.readouterr().err
    assert "fit.sha256" in err and "not the data the run used" in err
    data.unlink()
    assert cli.main(["verify", str(book)]) == 2
    err = capsys.readouterr().err
    assert "fit.data" in err and "does not exist" in err and "Traceback" not in err


def test_a_workbook_records_the_fit_on_inputs_and_audit(tmp_path: Path) -> None:
    import openpyxl

    scenario_path = _fitted_scenario(tmp_path)
    book = tmp_path / "fitted.xlsx"
    assert cli.main(["run", str(scenario_path), "-o", str(book), "--paths", "0"]) == 0
    wb = openpyxl.load_workbook(book, read_only=True)
    inputs = {
        row[0]: [c for c in row if c is not None][-1]
        for row in wb["Inputs"].iter_rows(values_only=True)
        if row and row[0] is not None
    }
    digest = fitting.read_column(SHIPPED).sha256
    assert inputs["risk.inputs[0].fit.data"] == SHIPPED.name
    assert inputs["risk.inputs[0].fit.sha256"] == digest
    assert inputs["risk.inputs[0].distribution.type"] == "lognormal"
    audit = "\n".join(str(c) for row in wb["Audit"].iter_rows(values_only=True) for c in row)
    assert f'sha256 = "{digest}"' in audit


def _edit_inputs(book: Path, edits: dict[str, Any]) -> None:
    """Set the Inputs sheet's value cells (column E) of the rows whose path is a key."""
    import openpyxl

    wb = openpyxl.load_workbook(book)
    for row in wb["Inputs"].iter_rows():
        if row[0].value in edits:
            row[4].value = edits[row[0].value]
    wb.save(book)


def test_the_inputs_sheet_s_fit_is_refitted_when_the_workbook_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reading a workbook refits from the data beside it: an edited fitted parameter is
    refused (it is no longer the fit); another data file, with the parameters cleared, is
    fitted and run."""
    from bondmodel.workbook.reader import read_scenario

    scenario_path = _fitted_scenario(tmp_path)
    book = tmp_path / "fitted.xlsx"
    assert cli.main(["run", str(scenario_path), "-o", str(book), "--paths", "0"]) == 0
    edited = tmp_path / "edited.xlsx"
    shutil.copy(book, edited)
    _edit_inputs(edited, {"risk.inputs[0].distribution.mean": 0.9})
    with pytest.raises(bondmodel.ScenarioError) as info:
        read_scenario(edited)
    assert "distribution" in str(info.value) and "not the lognormal fitted" in str(info.value)
    other = tmp_path / "other.csv"
    other.write_text("r\n" + "".join(f"{0.5 + 0.05 * i}\n" for i in range(12)), "utf-8")
    _edit_inputs(
        edited,
        {
            "risk.inputs[0].fit.data": "other.csv",
            "risk.inputs[0].fit.column": "r",
            "risk.inputs[0].fit.sha256": None,
            "risk.inputs[0].distribution.mean": None,
            "risk.inputs[0].distribution.sd": None,
        },
    )
    scenario = read_scenario(edited)
    item = scenario.risk.inputs[0] if scenario.risk else None
    assert item is not None and item.fit is not None
    expected = fitting.fit_distribution(fitting.read_column(other), "lognormal")
    assert item.distribution.model_dump(exclude_none=True) == expected
    assert item.fit.sha256 == fitting.read_column(other).sha256


def test_a_fit_scipy_cannot_make_is_shown_as_unusable_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data(tmp_path, _sample(stats.gamma(3.0, scale=0.4), 50, 4))
    family = fitting.FAMILIES["weibull"]
    original = fitting.Family.estimate

    def failing(self: fitting.Family, x: np.ndarray) -> tuple[float, ...]:
        if self.name == "weibull":
            raise ValueError("f(a) and f(b) must have different signs")
        return original(self, x)

    monkeypatch.setattr(fitting.Family, "estimate", failing)
    fit = fitting.fit_family(data, family)
    assert fit.problem == "the fit did not converge (ValueError)"
    fits, _ = fitting.fit_all(data, fitting.family_names(None), seed=1, replicates=3)
    assert fits[-1].family.name == "weibull" and fits[-1].p_value is None
    assert all(f.problem is None for f in fits[:-1])


#: Data at the ends of the float range: the moments or the fitted parameters overflow.
EXTREME_DATA = {
    "huge_positive": [1e308, 1e307, 1e306, *range(2, 11)],
    "huge_both_signs": [1e308, -1e308, 1e308, *range(2, 11)],
    "tiny_positive": [1e-308, 1e-307, 1e-306, *(k * 1e-300 for k in range(2, 11))],
}


@pytest.mark.parametrize("values", list(EXTREME_DATA.values()), ids=list(EXTREME_DATA))
def test_data_at_the_ends_of_the_float_range_give_a_line_or_a_fit_and_no_warning(
    values: list[float], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fit whose lognormal mean overflowed was a traceback (OverflowError, exit 1), and
    numpy's overflow warnings reached the screen: now each family that cannot be fitted says
    so, and nothing else is printed. Warnings are errors here, so a leaked one fails."""
    import warnings

    path = tmp_path / "data.csv"
    path.write_text("x\n" + "\n".join(repr(float(v)) for v in values) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = cli.main(["fit", str(path), "--seed", "3", "--png", str(tmp_path / "fit.png")])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Warning" not in err, err
    if code == 2:
        assert err.count("\n") == 1 and err.startswith(f"bondmodel: error: {path}: column 'x': ")
        assert "no family fits" in err
    else:
        assert code == 0 and (tmp_path / "fit.png").exists(), err


def test_a_malformed_fit_is_one_line_not_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fit naming no family the tool fits left the input without a distribution, and a
    second line said the distribution was missing: a knock-on of the first."""
    scenario = _fitted_scenario(tmp_path)
    text = scenario.read_text(encoding="utf-8").replace('family = "lognormal"', 'family = "gama"')
    scenario.write_text(text, encoding="utf-8")
    assert cli.main(["validate", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert ".fit.family:" in err and "'gama'" in err and "distribution" not in err, err
