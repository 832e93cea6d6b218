"""The generated part of the bad-input corpus: each class of hostile input, case by case.

tests/bad_inputs/ holds hand-written cases; this module generates the classes
that are large, each case a real file written to disk and run through the real
CLI by tests/test_bad_input_classes.py:

* **numeric extremes by field type**: every bounded number field of a scenario
  that uses every section (found from the schema through the Inputs sheet's
  rows, so a new field joins automatically) just past each bound, at 1e308,
  and as inf and nan;
* **dates** the workbook cannot hold, or whose horizon runs past 9999;
* **distribution parameters** whose values overflow or leave a rate's range;
* **Unicode classes** in every kind of name and in the description;
* **nesting depth** of arrays, inline tables, dotted keys and table headers;
* **sizes**: lists longer than any scenario needs;
* **workbook damage**: duplicate archive entries, bad shared-string indexes,
  non-numbers, cells outside the grid, a cell far away, too many cells.

Each case names the field path its message must contain and words it must
also contain, worked out here from the rule (not copied from the output).
"""

from __future__ import annotations

import copy
import functools
import math
import re
import sys
import tomllib
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import tomli_w

from bondmodel.scenario.fieldtypes import MAX_LIST_ITEMS, MAX_MONEY
from bondmodel.scenario.loader import MAX_DEPTH
from bondmodel.workbook.inputs import flatten
from bondmodel.workbook.untrusted import MAX_SHEET_CELLS

ROOT = Path(__file__).resolve().parents[1]
BASE_TEMPLATE = ROOT / "templates" / "shared-services.toml"
#: The council's figures and one route of each type (added to the base by :func:`base_data`).
ROUTES_SCENARIO = ROOT / "tests" / "scenarios" / "council-routes.toml"


@dataclass(frozen=True)
class Case:
    """One generated bad input: its file name, what its message must say, and how to write it."""

    file: str
    description: str
    field: str
    words: list[str]
    write: Callable[[Path], None] = field(compare=False, repr=False)


def base_data() -> dict[str, Any]:
    """The default template with a numeric principal, a performance payment, the council's
    figures and every kind of funding route: every section."""
    data = tomllib.loads(BASE_TEMPLATE.read_text(encoding="utf-8"))
    data["bond"]["principal"] = 5_000_000.0
    data["bond"]["performance"] = {"share": 0.2, "threshold": 100_000.0, "cap_total_return": 0.1}
    routes = tomllib.loads(ROUTES_SCENARIO.read_text(encoding="utf-8"))
    data["council"] = routes["council"]
    data["routes"] = routes["routes"]
    return data


def _toml_case(
    file: str, description: str, field_: str, words: list[str], data: dict[str, Any]
) -> Case:
    text = tomli_w.dumps(data)
    return Case(file, description, field_, words, lambda p: p.write_text(text, encoding="utf-8"))


def _text_case(file: str, description: str, field_: str, words: list[str], text: str) -> Case:
    return Case(file, description, field_, words, lambda p: p.write_text(text, encoding="utf-8"))


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[a-z_]+|\d+", path)]
    node: Any = out
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return out


def shown(path: str, data: dict[str, Any]) -> str:
    """The field as a message names it: a list item with its (printable) name."""
    out = ""
    node: Any = data
    for part in re.findall(r"[a-z_]+|\[\d+\]", path):
        if part.startswith("["):
            node = node[int(part[1:-1])]
            out += part
            name = node.get("name") if isinstance(node, dict) else None
            if isinstance(name, str) and name and name.isprintable():
                out += f" ('{name}')"
        else:
            out += ("." if out else "") + part
            node = node.get(part) if isinstance(node, dict) else None
    return out


# ---------------------------------------------------------------------------
# Numbers and dates
# ---------------------------------------------------------------------------


def numeric_cases() -> list[Case]:
    """Every bounded number field, first item of each list: past each bound, huge, inf, nan."""
    from bondmodel import parse_scenario

    data = base_data()
    scenario = parse_scenario(data)
    cases: list[Case] = []
    seen: set[str] = set()
    for row in flatten(scenario):
        if row.low is None and row.high is None:
            continue
        kind = re.sub(r"\[\d+\]", "[i]", row.path)
        if kind in seen or isinstance(row.value, bool | str | tuple):
            continue
        seen.add(kind)
        is_int = isinstance(row.value, int) or (
            row.path.endswith(
                (
                    "horizon_years",
                    "default_paths",
                    "periods",
                    "start_period",
                    "start_year",
                    "end_year",
                )
            )
            and not row.path.startswith(("savings", "partners"))
        )
        values: list[tuple[str, Any, list[str]]] = []
        if row.high is not None:
            above = row.high * 2 if row.high > 0 else row.high + 1
            values.append(("above", int(above) if is_int else above, ["less than"]))
            if not is_int:
                values.append(("huge", 1e308, ["less than", "1e+308"]))
        if row.low is not None:
            below = row.low - max(1.0, abs(row.low))
            values.append(("below", int(below) if is_int else below, ["greater than"]))
        if not is_int:
            values.append(("inf", math.inf, ["finite"]))
            values.append(("nan", math.nan, ["finite"]))
        name = kind.replace("[i]", "").replace(".", "_")
        for label, value, words in values:
            bad = _set(data, row.path, value)
            got = [repr(value)] if label in ("above", "below") else []
            cases.append(
                _toml_case(
                    f"gen_num_{name}_{label}.toml",
                    f"{row.path} = {value!r} ({label} its bounds)",
                    shown(row.path, bad),
                    words + got,
                    bad,
                )
            )
    return cases


def date_cases() -> list[Case]:
    data = base_data()
    cases = []
    for path in ("meta.base_date", "timeline.start_date", "bond.issue_date"):
        for day in (date(1, 1, 1), date(1900, 2, 28)):
            cases.append(
                _toml_case(
                    f"gen_date_{path.replace('.', '_')}_{day.year}.toml",
                    f"{path} in {day.year}, before the dates a workbook holds",
                    path,
                    [day.isoformat(), "1901-01-01", "9999-12-31"],
                    _set(data, path, day),
                )
            )
    late = _set(
        _set(data, "meta.base_date", date(9990, 4, 1)), "timeline.start_date", date(9990, 4, 1)
    )
    cases.append(
        _toml_case(
            "gen_date_horizon_past_9999.toml",
            "a 25-year horizon from 9990 ends in 10015",
            "timeline.horizon_years",
            ["10015", "9999-12-31", "at most 9 years"],
            late,
        )
    )
    last = _set(
        _set(data, "meta.base_date", date(9999, 12, 31)), "timeline.start_date", date(9999, 12, 31)
    )
    cases.append(
        _toml_case(
            "gen_date_start_9999.toml",
            "a start on the last representable day",
            "timeline.horizon_years",
            ["10024", "9999-12-31"],
            last,
        )
    )
    old_base = _set(data, "meta.base_date", date(1901, 1, 1))
    cases.append(
        _toml_case(
            "gen_date_price_base_125_years.toml",
            "the price base 125 years before the start",
            "meta.base_date",
            ["1901-01-01", "more than 100 years"],
            old_base,
        )
    )
    return cases


def distribution_cases() -> list[Case]:
    data = base_data()
    inputs = "risk.inputs[0].distribution"
    cases = []
    shapes: list[tuple[str, dict[str, Any], str, list[str]]] = [
        (
            "normal_sd_1e200",
            {"type": "normal", "mean": 1.0, "sd": 1e200},
            "sd",
            ["less than or equal to 1000000", "1e+200"],
        ),
        (
            "normal_mean_1e300",
            {"type": "normal", "mean": 1e300, "sd": 1.0},
            "mean",
            ["less than or equal to 1000000"],
        ),
        (
            "lognormal_mean_1e300",
            {"type": "lognormal", "mean": 1e300, "sd": 1.0},
            "mean",
            ["less than or equal to 1000000"],
        ),
        (
            "lognormal_p90_huge",
            {"type": "lognormal", "p10": 1.0, "p90": 1e7},
            "p90",
            ["less than or equal to 1000000"],
        ),
        (
            "beta_alpha_huge",
            {"type": "beta", "alpha": 1e7, "beta": 1.0},
            "alpha",
            ["less than or equal to 1000000"],
        ),
        (
            "uniform_max_huge",
            {"type": "uniform", "min": 0.0, "max": 1e300},
            "max",
            ["less than or equal to 1000000"],
        ),
        (
            "fixed_negative_huge",
            {"type": "fixed", "value": -1e300},
            "value",
            ["greater than or equal to -1000000"],
        ),
        (
            "bernoulli_impact_huge",
            {"type": "bernoulli", "p": 0.5, "impact": 1e9},
            "impact",
            ["less than or equal to 1000000"],
        ),
        (
            "empirical_sample_huge",
            {"type": "empirical", "samples": [1.0, 1e308]},
            "samples[1]",
            ["less than or equal to 1000000"],
        ),
        (
            "discrete_value_huge",
            {"type": "discrete", "values": [1.0, -1e10], "probabilities": [0.5, 0.5]},
            "values[1]",
            ["greater than or equal to -1000000"],
        ),
        (
            "gamma_scale_1e300",
            {"type": "gamma", "shape": 2.0, "scale": 1e300},
            "scale",
            ["less than or equal to 1000000"],
        ),
        (
            "weibull_shape_zero",
            {"type": "weibull", "shape": 0.0, "scale": 1.0},
            "shape",
            ["greater than 0"],
        ),
        (
            "student_t_df_inf",
            {"type": "student_t", "df": math.inf},
            "df",
            ["finite"],
        ),
        (
            "general_value_huge",
            {"type": "general", "values": [0.0, 1e12], "cumulative": [0.0, 1.0]},
            "values[1]",
            ["less than or equal to 1000000"],
        ),
        (
            "binomial_trials_1e9",
            {"type": "binomial", "n": 1_000_000_000, "p": 0.5},
            "n",
            ["less than or equal to 100000"],
        ),
    ]
    for name, dist, key, words in shapes:
        bad = _set(data, inputs, dist)
        cases.append(
            _toml_case(
                f"gen_dist_{name}.toml",
                f"a {dist['type']} distribution with {key} out of bounds",
                f"{shown('risk.inputs[0]', bad)}.distribution.{key}",
                words,
                bad,
            )
        )
    rate = copy.deepcopy(data)
    rate["risk"]["inputs"].append(
        {
            "name": "Inflation",
            "target": "economics.inflation",
            "distribution": {"type": "normal", "mean": 0.02, "sd": 0.5},
        }
    )
    cases.append(
        _toml_case(
            "gen_dist_inflation_sd_wide.toml",
            "an untruncated inflation level that reaches -400%",
            f"risk.inputs[{len(rate['risk']['inputs']) - 1}] ('Inflation').distribution",
            ["outside the range of an annual rate", "-0.99", "truncate"],
            rate,
        )
    )
    return cases


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------

#: Characters a name may not hold, each with the words its message gives.
NAME_CHARACTERS: dict[str, tuple[str, str]] = {
    "c0_soh": ("\x01", "control character"),
    "nul": ("\x00", "control character"),
    "tab": ("\t", "control character"),
    "newline": ("\n", "control character"),
    "carriage_return": ("\r", "control character"),
    "del": ("\x7f", "control character"),
    "c1_nel": ("\x85", "control character"),
    "rlo": ("\u202e", "bidirectional"),
    "lri": ("\u2066", "bidirectional"),
    "alm": ("\u061c", "bidirectional"),
    "bom": ("\ufeff", "bidirectional or formatting"),
    "u_ffff": ("\uffff", "noncharacter"),
    "u_fdd0": ("\ufdd0", "noncharacter"),
    "u_1fffe": ("\U0001fffe", "noncharacter"),
    "line_separator": ("\u2028", "line or paragraph separator"),
    "paragraph_separator": ("\u2029", "line or paragraph separator"),
}

#: Characters a description may not hold (it may hold a tab and line breaks).
DESCRIPTION_CHARACTERS = (
    ("nul", "\x00"),
    ("c0_bel", "\x07"),
    ("vt", "\x0b"),
    ("del", "\x7f"),
    ("c1", "\x9b"),
    ("rlo", "\u202e"),
    ("u_ffff", "\uffff"),
    ("u_fdd0", "\ufdd0"),
    ("line_separator", "\u2028"),
)

#: Every kind of name in a scenario, by the path of its first instance.
NAME_FIELDS = (
    "meta.name",
    "partners[0].name",
    "costs[0].name",
    "running_costs[0].name",
    "savings[0].name",
    "risk.inputs[0].name",
    "routes[0].name",
)


def text_cases() -> list[Case]:
    data = base_data()
    cases = []
    for path in NAME_FIELDS:
        slug = re.sub(r"\W+", "_", path).strip("_")
        for label, (ch, words) in NAME_CHARACTERS.items():
            bad = _set(data, path, f"Ab{ch}cd")
            cases.append(
                _toml_case(
                    f"gen_text_{slug}_{label}.toml",
                    f"{path} holding U+{ord(ch):04X}",
                    shown(path, bad),
                    [words, f"U+{ord(ch):04X}"],
                    bad,
                )
            )
        bad = _set(data, path, "Ab_x000D_cd")
        cases.append(
            _toml_case(
                f"gen_text_{slug}_excel_escape.toml",
                f"{path} holding Excel's escape _x000D_",
                shown(path, bad),
                ["'_x000D_'", "escape a character"],
                bad,
            )
        )
        for label, name in (
            ("leading_space", " Abcd"),
            ("trailing_space", "Abcd "),
            ("only_spaces", "   "),
        ):
            bad = _set(data, path, name)
            cases.append(
                _toml_case(
                    f"gen_text_{slug}_{label}.toml",
                    f"{path} = {name!r}",
                    shown(path, bad),
                    ["start or end with a space", repr(name)],
                    bad,
                )
            )
    for label, ch in DESCRIPTION_CHARACTERS:
        bad = _set(data, "meta.description", f"Line one\r\nLine{ch}two")
        cases.append(
            _toml_case(
                f"gen_text_description_{label}.toml",
                f"a description holding U+{ord(ch):04X}",
                "meta.description",
                [f"U+{ord(ch):04X}", "line breaks and tabs allowed"],
                bad,
            )
        )
    for label, key in (("rlo", "ab\u202ecd"), ("nul", "ab\x00cd"), ("newline", "ab\ncd")):
        bad = copy.deepcopy(data)
        bad["meta"][key] = 1
        cases.append(
            _toml_case(
                f"gen_text_unknown_key_{label}.toml",
                f"an unknown key holding {key[2]!r}",
                f"meta.{key!r}",
                [f"unknown key {key!r}", "allowed keys"],
                bad,
            )
        )
    # a fitted input's data file: its path is refused by the schema, never read or shown raw
    for label, ch in (("newline", "\n"), ("nul", "\x00"), ("rlo", "\u202e")):
        bad = copy.deepcopy(data)
        item = bad["risk"]["inputs"][0]
        del item["distribution"]
        item["fit"] = {"data": f"pilot{ch}data.csv", "family": "lognormal"}
        cases.append(
            _toml_case(
                f"gen_text_fit_data_path_{label}.toml",
                f"a fitted input's data path holding U+{ord(ch):04X}",
                f"{shown('risk.inputs[0]', bad)}.fit.data",
                [f"U+{ord(ch):04X}", "a file's path in printable characters"],
                bad,
            )
        )
    bad = _set(data, "meta.description", "Overlapping _x0041_x0042_ escapes")
    cases.append(
        _toml_case(
            "gen_text_description_excel_escape.toml",
            "a description holding Excel's escape form",
            "meta.description",
            ["'_x0041_'", "would not read back"],
            bad,
        )
    )
    text = BASE_TEMPLATE.read_text(encoding="utf-8")
    bom = "\ufeff" + text.replace("rate = 0.0525", "rate = 7.5", 1)
    cases.append(
        _text_case(
            "gen_text_bom_then_bad_rate.toml",
            "a byte-order mark (read past), then a coupon of 750%",
            "bond.coupon.rate",
            ["7.5", "less than or equal to 1"],
            bom,
        )
    )
    return cases


# ---------------------------------------------------------------------------
# Nesting and sizes
# ---------------------------------------------------------------------------


def nesting_cases() -> list[Case]:
    text = BASE_TEMPLATE.read_text(encoding="utf-8")
    cases = []
    for depth in (MAX_DEPTH + 1, 50, 1_000, 100_000):
        kinds = {
            "array": "extra = " + "[" * depth + "1" + "]" * depth + "\n" + text,
            "inline_table": "extra = " + "{a = " * depth + "1" + "}" * depth + "\n" + text,
            "dotted_key": "extra." + ".".join(["a"] * depth) + " = 1\n" + text,
            "table_header": text + "\n[" + ".".join(["a"] * depth) + "]\nx = 1\n",
        }
        for kind, body in kinds.items():
            cases.append(
                _text_case(
                    f"gen_nest_{kind}_{depth}.toml",
                    f"{kind.replace('_', ' ')} nested {depth} deep",
                    f"gen_nest_{kind}_{depth}.toml",
                    [f"at most {MAX_DEPTH}"],
                    body,
                )
            )
    data = base_data()
    deep_profile = _set(data, "costs[1].profile", [[[[[[[[[[0.5]]]]]]]]], 0.5])
    cases.append(
        _toml_case(
            "gen_nest_inside_a_field.toml",
            "a cost profile nested ten deep",
            "costs[1]",
            [f"more than {MAX_DEPTH} levels"],
            deep_profile,
        )
    )
    return cases


def size_cases() -> list[Case]:
    data = base_data()
    n = MAX_LIST_ITEMS + 1
    cases = [
        _toml_case(
            "gen_size_empirical_samples.toml",
            f"{n} empirical samples",
            f"{shown('risk.inputs[0]', data)}.distribution.samples",
            [f"at most {MAX_LIST_ITEMS} items"],
            _set(data, "risk.inputs[0].distribution", {"type": "empirical", "samples": [1.0] * n}),
        ),
        _toml_case(
            "gen_size_ramp_fractions.toml",
            f"an explicit ramp of {n} fractions",
            f"{shown('savings[0]', data)}.ramp.fractions",
            [f"at most {MAX_LIST_ITEMS} items"],
            _set(data, "savings[0].ramp", {"type": "explicit", "fractions": [1.0] * n}),
        ),
        _toml_case(
            "gen_size_money_total.toml",
            "a partner spending ten times the limit",
            f"{shown('partners[0]', data)}.baseline_expenditure",
            ["less than or equal to", f"{MAX_MONEY * 10!r}"],
            _set(data, "partners[0].baseline_expenditure", MAX_MONEY * 10),
        ),
    ]
    # whole numbers past float64's range: shown short; past Python's limit, refused unread
    cases.append(
        _toml_case(
            "gen_size_integer_past_float.toml",
            "a cost of -10**400 pounds",
            f"{shown('costs[0]', data)}.amount",
            ["a whole number of 401 digits", "at most about 1.8e308"],
            _set(data, "costs[0].amount", -(10**400)),
        )
    )
    template = tomli_w.dumps(_set(data, "costs[0].amount", 987654321))
    for digits in (sys.get_int_max_str_digits() + 2, 100_000):  # 100,000 once took 146 s
        text = template.replace("987654321", "1" * digits)
        cases.append(
            _text_case(
                f"gen_size_integer_{digits}_digits.toml",
                f"a cost of {digits:,} digits, more than Python reads",
                f"line {text[: text.index('1' * digits)].count(chr(10)) + 1}",
                [f"a whole number of {digits:,} digits", "too long to read"],
                text,
            )
        )
    key = "k" * 250_000
    cases.append(
        _text_case(
            "gen_size_key_of_250000_characters.toml",
            "an unknown key of 250,000 characters, shown cut",
            f"{key[:40]}...{key[-8:]} (250,000 characters)",
            ["unknown key 'kkkk", "(250,000 characters); allowed keys:"],
            f"{key} = 1\n{template}",
        )
    )
    # a union field (an amount or 'sized') that the Inputs rows list without bounds
    for label, value in (("huge", 1e308), ("above", MAX_MONEY * 2), ("negative", -1.0)):
        cases.append(
            _toml_case(
                f"gen_size_principal_{label}.toml",
                f"a principal of {value!r}",
                "bond.principal",
                [repr(value), "or 'sized'"],
                _set(data, "bond.principal", value),
            )
        )
    return cases


# ---------------------------------------------------------------------------
# Workbooks
# ---------------------------------------------------------------------------

INPUTS_PART = "xl/worksheets/sheet2.xml"


@functools.cache
def _base_workbook() -> tuple[dict[str, bytes], dict[str, int]]:
    """The default template's input form, as archive parts, and the rows of some inputs."""
    import tempfile

    from bondmodel import load_scenario
    from bondmodel.workbook.input_form import write_input_form

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inputs.xlsx"
        write_input_form(load_scenario(None), path)
        with zipfile.ZipFile(path) as archive:
            parts = {name: archive.read(name) for name in archive.namelist()}
        ws = openpyxl.load_workbook(path)["Inputs"]
        rows = {str(r[0].value): int(r[0].row) for r in ws.iter_rows(min_row=5, max_col=1)}
    return parts, rows


def _zip(target: Path, parts: dict[str, bytes], extra: list[tuple[str, bytes]] = ()) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name: that is the point
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for name, blob in [*parts.items(), *extra]:
                out.writestr(name, blob)


def _with_cell(ref: str, xml: str) -> Callable[[Path], None]:
    """A writer of the input form with cell ``ref``'s element replaced by ``xml``."""

    def write(target: Path) -> None:
        parts, _ = _base_workbook()
        sheet = parts[INPUTS_PART].decode("utf-8")
        sheet, count = re.subn(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', xml, sheet, count=1)
        assert count == 1, ref
        _zip(target, {**parts, INPUTS_PART: sheet.encode("utf-8")})

    return write


def _with_sheet(edit: Callable[[str], str]) -> Callable[[Path], None]:
    def write(target: Path) -> None:
        parts, _ = _base_workbook()
        before = parts[INPUTS_PART].decode("utf-8")
        sheet = edit(before)
        assert sheet != before, "the edit changed nothing: the case would not be bad"
        _zip(target, {**parts, INPUTS_PART: sheet.encode("utf-8")})

    return write


def _after_cell(sheet: str, ref: str, xml: str) -> str:
    """``sheet`` with ``xml`` inserted after cell ``ref``'s element (whatever its style)."""
    out, count = re.subn(
        rf'(<c r="{ref}"[^>]*?(?:/>|>.*?</c>))', lambda m: m.group(1) + xml, sheet, count=1
    )
    assert count == 1, ref
    return out


def workbook_cases() -> list[Case]:
    _, rows = _base_workbook()
    rate = rows["bond.coupon.rate"]
    horizon = rows["timeline.horizon_years"]
    name = rows["meta.name"]
    e_rate = f"E{rate}"
    cases: list[Case] = []

    def cell(file: str, description: str, ref: str, xml: str, words: list[str]) -> None:
        cases.append(Case(file, description, f"Inputs!{ref}", words, _with_cell(ref, xml)))

    for label, raw in (
        ("nan", "NaN"),
        ("inf", "INF"),
        ("minus_inf", "-inf"),
        ("two_points", "1.2.3"),
        ("underscore", "1_000"),
        ("words", "abc"),
        ("hex", "0x10"),
        ("exponent_huge", "1e999"),
        ("empty_exponent", "1e"),
        ("long", "1" * 400),
    ):
        cell(
            f"gen_wb_number_{label}.xlsx",
            f"the coupon rate stored as {raw[:20]!r}",
            e_rate,
            f'<c r="{e_rate}" s="4"><v>{raw}</v></c>',
            ["number"],
        )
    for label, raw in (
        ("minus_one", "-1"),
        ("past_end", "99999"),
        ("words", "x"),
        ("fraction", "1.5"),
        ("huge", "9" * 30),
    ):
        cell(
            f"gen_wb_shared_string_{label}.xlsx",
            f"a shared-string index of {raw[:20]!r}",
            f"E{name}",
            f'<c r="E{name}" s="4" t="s"><v>{raw}</v></c>',
            ["shared string", "the table holds"],
        )
    for label, raw in (("two", "2"), ("word", "true")):
        cell(
            f"gen_wb_boolean_{label}.xlsx",
            f"a boolean stored as {raw!r}",
            e_rate,
            f'<c r="{e_rate}" t="b"><v>{raw}</v></c>',
            ["boolean", "0 or 1"],
        )
    cell(
        "gen_wb_error_value.xlsx",
        "an error value (#DIV/0!) in an input",
        e_rate,
        f'<c r="{e_rate}" t="e"><v>#DIV/0!</v></c>',
        ["error value", "#DIV/0!"],
    )
    cell(
        "gen_wb_unknown_type.xlsx",
        "an unknown cell type",
        e_rate,
        f'<c r="{e_rate}" t="zz"><v>1</v></c>',
        ["unknown cell type", "'zz'"],
    )
    cell(
        "gen_wb_iso_date_garbage.xlsx",
        "an ISO date cell holding garbage",
        e_rate,
        f'<c r="{e_rate}" t="d"><v>2026-13-45</v></c>',
        ["ISO 8601"],
    )
    base_date = f"E{rows['meta.base_date']}"
    cell(
        "gen_wb_date_serial_huge.xlsx",
        "a date serial number past year 9999",
        base_date,
        f'<c r="{base_date}" s="5"><v>1e12</v></c>',
        ["date serial number"],
    )
    cell(
        "gen_wb_horizon_huge_int.xlsx",
        "a horizon of 10^20 years",
        f"E{horizon}",
        f'<c r="E{horizon}" s="4"><v>100000000000000000000</v></c>',
        ["timeline.horizon_years", "less than or equal to 150"],
    )
    for label, ref in (
        ("no_row", "E"),
        ("row_zero", "E0"),
        ("column_past_xfd", f"XFE{rate}"),
        ("lower_case", f"e{rate}"),
        ("row_past_grid", "E1048577"),
    ):
        cases.append(
            Case(
                f"gen_wb_reference_{label}.xlsx",
                f"a cell reference {ref!r}",
                f"Inputs!'{ref}'",
                ["outside the sheet" if "past" in label else "not a cell reference"],
                _with_cell(e_rate, f'<c r="{ref}" s="4"><v>0.05</v></c>'),
            )
        )
    for label, rownum, words in (
        ("zero", "0", ["outside the sheet"]),
        ("past_grid", "1048577", ["outside the sheet"]),
        ("words", "abc", ["not a row number"]),
    ):
        cases.append(
            Case(
                f"gen_wb_row_number_{label}.xlsx",
                f"a row numbered {rownum!r}",
                f"Inputs!row {rownum}",
                words,
                _with_sheet(
                    lambda s, r=rownum: (
                        s.replace(
                            "</sheetData>",
                            f'<row r="{r}"><c r="A1" t="n"><v>1</v></c></row></sheetData>',
                        )
                        if r == "abc"
                        else s.replace("</sheetData>", f'<row r="{r}"></row></sheetData>')
                    )
                ),
            )
        )
    far = ("XFD", 1_048_576)
    cases.append(
        Case(
            "gen_wb_far_cell.xlsx",
            "one cell at XFD1048576 (an 18 KB file claiming the whole grid)",
            f"Inputs!A{far[1]}",
            ["should hold an input's path"],
            _with_sheet(
                lambda s: s.replace(
                    "</sheetData>",
                    f'<row r="{far[1]}"><c r="XFD{far[1]}"><v>1</v></c></row></sheetData>',
                ).replace('<dimension ref="A1:G164"/>', '<dimension ref="A1:XFD1048576"/>')
            ),
        )
    )
    cases.append(
        Case(
            "gen_wb_far_value_on_an_input_row.xlsx",
            "a value in column XFD of the coupon's row",
            f"Inputs!A{rate}",
            ["16,380 values", "to column XFD", "at most 2,000"],
            _with_sheet(lambda s: _after_cell(s, e_rate, f'<c r="XFD{rate}"><v>1</v></c>')),
        )
    )
    cases.append(
        Case(
            "gen_wb_cell_twice.xlsx",
            "the coupon's cell given twice",
            f"Inputs!{e_rate}",
            ["given twice"],
            _with_sheet(lambda s: _after_cell(s, e_rate, f'<c r="{e_rate}"><v>0.06</v></c>')),
        )
    )
    many = MAX_SHEET_CELLS + 10
    cases.append(
        Case(
            "gen_wb_too_many_cells.xlsx",
            f"{many:,} cells on the Inputs sheet",
            "Inputs!",
            [f"more than {MAX_SHEET_CELLS:,} cells"],
            _with_sheet(
                lambda s: s.replace(
                    "</sheetData>",
                    f'<row r="900">{"<c><v>1</v></c>" * 16_000}</row>'
                    + "".join(
                        f'<row r="{1000 + i}"><c r="A{1000 + i}"/></row>' for i in range(many)
                    )
                    + "</sheetData>",
                )
            ),
        )
    )
    cases.append(
        Case(
            "gen_wb_deep_path.xlsx",
            "an input path of 5,000 parts",
            f"Inputs!A{rate}",
            ["is not an input path"],
            _with_cell(
                f"A{rate}",
                f'<c r="A{rate}" t="inlineStr"><is><t>' + ".".join(["a"] * 5000) + "</t></is></c>",
            ),
        )
    )

    def duplicate(second: str) -> Callable[[Path], None]:
        def write(target: Path) -> None:
            parts, _ = _base_workbook()
            _zip(target, parts, [(second, parts[INPUTS_PART])])

        return write

    for label, second in (
        ("same_name", INPUTS_PART),
        ("other_case", INPUTS_PART.upper()),
        ("content_types", "[Content_Types].xml"),
    ):
        cases.append(
            Case(
                f"gen_wb_duplicate_entry_{label}.xlsx",
                f"the archive holds {second!r} twice",
                second if label != "other_case" else INPUTS_PART.upper(),
                ["appears more than once"],
                duplicate(second),
            )
        )
    return cases


def sizing_cases() -> list[Case]:
    """Sizing the bond to a DSCR target: each field past its bounds, and the fields each
    choice needs or forbids (``principal = 'dscr'``, ``[bond.sizing]``, the percentile basis)."""
    data = base_data()
    data["bond"]["principal"] = "dscr"
    sized = {"target_dscr": 1.3}
    simulated = {"target_dscr": 1.3, "basis": "percentile", "percentile": 10.0, "paths": 2_000}
    simulated["seed"] = 7
    cases = []

    def case(name: str, sizing: dict[str, Any] | None, field_: str, words: list[str]) -> None:
        bad = copy.deepcopy(data)
        if sizing is None:
            del bad["bond"]["sizing"]
        else:
            bad["bond"]["sizing"] = sizing
        cases.append(
            _toml_case(f"gen_sizing_{name}.toml", name.replace("_", " "), field_, words, bad)
        )

    data["bond"]["sizing"] = sized
    for name, change, words in (
        ("target_below_one", {"target_dscr": 0.9}, ["0.9", "greater than or equal to 1"]),
        ("target_above_20", {"target_dscr": 25.0}, ["25.0", "less than or equal to 20"]),
        ("target_nan", {"target_dscr": math.nan}, ["finite"]),
        ("basis_unknown", {"basis": "p90"}, ["'p90'", "'base'", "'percentile'"]),
    ):
        field_ = "bond.sizing." + next(iter(change))
        case(name, {**sized, **change}, field_, words)
    for name, change, words in (
        ("percentile_zero", {"percentile": 0.0}, ["0.0", "greater than 0"]),
        ("percentile_hundred", {"percentile": 100.0}, ["100.0", "less than 100"]),
        ("paths_too_few", {"paths": 10}, ["10", "greater than or equal to 100"]),
        ("paths_too_many", {"paths": 10**7}, ["10000000", "less than or equal to 100000"]),
        ("seed_negative", {"seed": -1}, ["-1", "greater than or equal to 0"]),
        ("paths_float", {"paths": 2000.5}, ["2000.5"]),
    ):
        field_ = "bond.sizing." + next(iter(change))
        case(name, {**simulated, **change}, field_, words)
    for missing in ("percentile", "paths", "seed"):
        kept = {k: v for k, v in simulated.items() if k != missing}
        case(f"percentile_without_{missing}", kept, f"bond.sizing.{missing}", ["required"])
    case(
        "base_with_percentile",
        {**sized, "percentile": 10.0},
        "bond.sizing.percentile",
        ["only allowed with basis = 'percentile'"],
    )
    case("dscr_without_sizing", None, "bond.sizing", ["required with principal = 'dscr'"])
    given = _set(data, "bond.principal", 5_000_000.0)
    cases.append(
        _toml_case(
            "gen_sizing_with_a_given_principal.toml",
            "sizing with a principal given",
            "bond.sizing",
            ["only allowed with principal = 'dscr'", "5000000.0"],
            given,
        )
    )
    no_risk = copy.deepcopy(data)
    no_risk["bond"]["sizing"] = simulated
    del no_risk["risk"]
    cases.append(
        _toml_case(
            "gen_sizing_percentile_without_risk.toml",
            "a percentile sizing basis without a [risk] section",
            "bond.sizing.basis",
            ["'percentile' needs a [risk] section", "'base'"],
            no_risk,
        )
    )
    return cases


@dataclass(frozen=True)
class BadData:
    """A bad data file for a fitted risk input: its name, the family asked for, how it is
    written, and words its message must hold (besides the file's name)."""

    name: str
    family: str
    write: Callable[[Path], None] = field(compare=False, repr=False)
    words: list[str]
    suffix: str = ".csv"


def _csv(text: str | bytes) -> Callable[[Path], None]:
    if isinstance(text, bytes):
        return lambda p: p.write_bytes(text)
    return lambda p: p.write_text(text, encoding="utf-8")


def _column(values: list[str], header: str = "realisation") -> str:
    return "# illustrative\n" + header + "\n" + "".join(f"{v}\n" for v in values)


_GOOD = [f"{0.6 + 0.03 * i:.2f}" for i in range(12)]


def bad_data_files() -> list[BadData]:
    """Every class of bad data file (tests/test_fitting.py also runs them through
    ``bondmodel fit``). The good values occupy lines 3 to 14 of a file (line 1 a comment,
    line 2 the header)."""
    from bondmodel.risk.fitting import MAX_FIT_BYTES, MAX_FIT_VALUES, MIN_FIT_POINTS

    def huge(p: Path) -> None:
        with p.open("w", encoding="utf-8") as handle:
            handle.write("realisation\n")
            handle.write("0.812345678901234567\n" * (MAX_FIT_BYTES // 20))

    return [
        BadData("missing", "lognormal", lambda p: None, ["does not exist"]),
        BadData("not_csv", "lognormal", _csv(_column(_GOOD)), [".csv"], ".txt"),
        BadData("binary", "lognormal", _csv(b"realisation\n\xff\xfe0.5\n"), ["UTF-8"]),
        BadData("nul", "lognormal", _csv("realisation\n0.5\x00\n"), ["NUL"]),
        BadData("empty_file", "lognormal", _csv(""), ["no header row"]),
        BadData("only_comments", "lognormal", _csv("# nothing here\n"), ["no header row"]),
        BadData(
            "empty_column", "lognormal", _csv(_column([])),
            ["'realisation'", "no values", f"at least {MIN_FIT_POINTS}"],
        ),
        BadData(
            "blank_column", "lognormal", _csv(_column([""] * 12)),
            ["no values", f"at least {MIN_FIT_POINTS}"],
        ),
        BadData(
            "non_numeric", "lognormal", _csv(_column([*_GOOD[:6], "n/a", *_GOOD[6:]])),
            ["line 9", "'n/a'", "not a number"],
        ),
        BadData(
            "too_few", "lognormal", _csv(_column(_GOOD[:5])),
            ["only 5 value(s)", f"at least {MIN_FIT_POINTS}"],
        ),
        BadData(
            "nan", "normal", _csv(_column([*_GOOD, "nan"])),
            ["line 15", "'nan'", "not a finite number"],
        ),
        BadData(
            "inf", "normal", _csv(_column(["-inf", *_GOOD])),
            ["line 3", "'-inf'", "not a finite number"],
        ),
        BadData(
            "negative_lognormal", "lognormal", _csv(_column([*_GOOD[:3], "-0.2", *_GOOD[3:]])),
            ["line 6", "-0.2", "lognormal", "support", "values above 0"],
        ),
        BadData(
            "zero_gamma", "gamma", _csv(_column(["0", *_GOOD])),
            ["line 3", "gamma", "support", "values above 0"],
        ),
        BadData(
            "above_one_beta", "beta", _csv(_column([*_GOOD, "1.2"])),
            ["line 15", "1.2", "beta", "strictly between 0 and 1"],
        ),
        BadData(
            "ragged", "normal",
            _csv("pilot,realisation\n" + "".join(f"P{i},{v}\n" for i, v in enumerate(_GOOD))
                 + "P99\n"),
            ["line 14", "1 cell(s)", "2 column(s)"],
        ),
        BadData(
            "no_such_column", "normal", _csv(_column(_GOOD, header="ratio")),
            ["no column 'realisation'", "'ratio'"],
        ),
        BadData(
            "constant", "normal", _csv(_column(["0.8"] * 12)),
            ["all 12 values are 0.8", "constant", "fixed"],
        ),
        BadData("huge", "normal", huge, [f"at most {MAX_FIT_BYTES:,}"]),
        BadData(
            "too_many", "normal", _csv(_column(["0.5"] * (MAX_FIT_VALUES + 1))),
            [f"more than {MAX_FIT_VALUES:,} values"],
        ),
    ]  # fmt: skip


def fit_data_cases() -> list[Case]:
    """A scenario whose first risk input is fitted to a bad data file beside it, for each
    class of :func:`bad_data_files`; and a recorded SHA-256 or distribution that the data
    contradict."""
    where = "risk.inputs[0] ('savings_realisation')"
    cases = []

    def scenario(bad: BadData, extra: dict[str, Any] | None = None) -> Callable[[Path], None]:
        def write(p: Path) -> None:
            data_file = p.with_suffix(bad.suffix)
            bad.write(data_file)
            data = base_data()
            item = data["risk"]["inputs"][0]
            del item["distribution"]
            item["fit"] = {"data": data_file.name, "column": "realisation", "family": bad.family}
            item.update(extra or {})
            if "sha256" in (extra or {}):
                item["fit"]["sha256"] = item.pop("sha256")
            p.write_text(tomli_w.dumps(data), encoding="utf-8")

        return write

    for bad in bad_data_files():
        file = f"gen_fit_{bad.name}.toml"
        words = [f"gen_fit_{bad.name}{bad.suffix}", *bad.words]
        cases.append(
            Case(file, f"fit to a data file: {bad.name}", f"{where}.fit.data", words,
                 scenario(bad))
        )  # fmt: skip
    good = BadData("good", "lognormal", _csv(_column(_GOOD)), [])
    cases.append(
        Case(
            "gen_fit_sha256_changed.toml",
            "fit: the data's SHA-256 is not the one recorded",
            f"{where}.fit.sha256",
            ["not the", "0" * 64, "the data changed"],
            scenario(good, {"sha256": "0" * 64}),
        )
    )
    cases.append(
        Case(
            "gen_fit_distribution_differs.toml",
            "fit: a distribution is given that is not the fit",
            f"{where}.distribution",
            ["not the lognormal fitted", "clear) the distribution's parameters"],
            scenario(good, {"distribution": {"type": "lognormal", "mean": 1.0, "sd": 0.2}}),
        )
    )
    return cases


def all_cases() -> list[Case]:
    """Every generated case, in a stable order."""
    return [
        *numeric_cases(),
        *sizing_cases(),
        *date_cases(),
        *distribution_cases(),
        *text_cases(),
        *nesting_cases(),
        *size_cases(),
        *workbook_cases(),
        *fit_data_cases(),
    ]
