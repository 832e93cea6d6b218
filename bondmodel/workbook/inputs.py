"""The Inputs sheet: every assumption of the scenario, one per row, each a named input cell.

Each row gives the field's path in the scenario (``costs[0].amount``), its
label in words ("Cost item 1 (Systems): amount", ``labels.input_label``), the value
in one consistent input style, its unit in words and a note. Every value cell has a
defined name (``in_costs_0_amount``), and data validation where it helps: a list for
a field with fixed choices, a number range for a bounded one. The path column (A)
makes the sheet readable back into a scenario: it is the rows' key, for the reader
and not for a person, so it is hidden (and so unprinted), and the sheet's title and
notes start in column B.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.labels import input_label
from bondmodel.scenario.fieldtypes import MAX_LIST_ITEMS, Bounds
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.styles import Styles

#: Column of the (first) value of each input (E); lists run to the right.
VALUE_COL = 4
#: Column A of the heading row that ends the scenario's inputs (the conventions follow; the
#: reader stops there).
CONVENTIONS_HEADING = "Conventions"
#: Columns a list input's defined name covers: the most values a scenario's list may hold, so
#: formulas count every value the reader reads (a value added at a list's end is live).
LIST_WIDTH = MAX_LIST_ITEMS
#: The Inputs sheet's column headings (row 4); the reader checks them.
HEADERS = ("Path", "Field", "Unit", "Note", "Value(s)")
#: The column of each input's label in words; the title and notes start here too, as the
#: path column (A) before it is hidden.
LABEL_COL = 1


def key_column(ws: Worksheet, width: float = 44) -> None:
    """Hide column A of an inputs sheet (Inputs, As run): the paths, the rows' keys, which the
    reader and the checks use and a person reads in words in the next column."""
    ws.set_column(0, 0, width, None, {"hidden": True})


#: Unit and note by field name (the last part of a path); "" where none is needed.
FIELD_INFO: dict[str, tuple[str, str]] = {
    "name": ("text", "a name shown in the workbook; names are unique within their list"),
    "description": ("text", "what the scenario describes"),
    "currency": ("ISO 4217 code", "money is shown in this currency"),
    "base_date": ("date", "the prices all money inputs are given in"),
    "start_date": ("date", "the close, t = 0 (snapped to 1 April when aligned)"),
    "frequency": ("choice", "periods a year: annual, semi-annual, quarterly or monthly"),
    "horizon_years": ("years", "length of the model after close"),
    "align_to_financial_year": ("TRUE/FALSE", "periods follow the UK financial year"),
    "inflation": (
        "rate a year",
        "CPI, indexes real inputs: one rate, or one a programme year (the last holds)",
    ),
    "discount_basis": ("choice", "the Green Book's declining rates (STPR), or one flat rate"),
    "discount_rate": ("rate a year", "only with a flat discount basis"),
    "appraisal_basis": ("choice", "real or nominal"),
    "baseline_expenditure": ("£ a year", "base-date prices"),
    "cost_share": ("share", "of one-off and running costs; default: share of spend"),
    "exit_year": ("years after close", "the partner leaves: its savings stop; blank: stays"),
    "savings_share": ("share", "of savings; default: share of spend"),
    "amount": ("£", "base-date prices"),
    "category": ("choice", "sets the default optimism-bias band"),
    "timing": ("choice", "all at close, spread evenly, or by a profile"),
    "start_period": ("period", "first period paid"),
    "periods": ("periods", "spread evenly over this many periods"),
    "profile": ("shares", "fraction paid in each period from the start period"),
    "optimism_bias": ("share", "uplift on base + contingency; overrides the band"),
    "ob_band": ("choice", "Green Book optimism-bias band"),
    "ob_mitigation": ("share", "reduces the band's upper bound: 0 none, 1 full"),
    "contingency": ("share", "of the base estimate"),
    "indexed": ("TRUE/FALSE", "indexed by inflation"),
    "annual_amount": ("£ a year", "base-date prices"),
    "start_year": ("programme year", "first year the cost runs"),
    "end_year": ("programme year", "last year (savings: years after close)"),
    "indexation": ("choice or rate", "'inflation', 'none' or an annual rate"),
    "pct_of_expenditure": ("share of spend", "of the named partners' baseline expenditure"),
    "partners": ("names", "the partners whose spend the stream is based on"),
    "allocation": ("choice", "split by savings shares or by expenditure"),
    "type": ("choice", "the kind of ramp, coupon, repayment or distribution"),
    "years": ("years", "length of the ramp"),
    "fractions": ("shares", "fraction of steady state in each savings year"),
    "steepness": ("number", "S-curve steepness"),
    "start_delay_years": ("years", "from close to the first saving"),
    "erosion": ("rate a year", "savings drift back"),
    "principal": (
        "£, 'sized' or 'dscr'",
        "nominal at issue; 'sized' to the uses; 'dscr' to the cover the CFADS allows",
    ),
    "financed_share": ("share", "of the one-off costs the bond pays for"),
    "issue_price": ("fraction of par", "what investors pay per 1 of principal"),
    "arrangement_fee": ("share of principal", "paid from the proceeds"),
    "annual_fees": ("£ a year", "agency and trustee, base-date prices, indexed"),
    "issue_date": ("date", "a period boundary; default: the close"),
    "tenor_years": ("years", "scheduled maturity"),
    "legal_maturity_years": ("years", "deferred amounts are payable until here"),
    "payment_frequency": ("choice", "no more often than the timeline's periods"),
    "rate": ("rate a year", "fixed coupon, paid rate / payments a year"),
    "reference_rate": ("rate a year", "flat reference rate"),
    "reference_path": ("rates a year", "one per bond year; the last holds"),
    "margin": ("rate a year", "added to the reference rate"),
    "floor": ("rate a year", "lowest all-in floating rate"),
    "real_rate": ("rate a year", "real coupon on the uplifted principal"),
    "uplift_cap": ("rate a year", "cap on the annual CPI uplift"),
    "uplift_floor": ("rate a year", "floor on the annual CPI uplift"),
    "share": ("share", "of the savings above the threshold"),
    "threshold": ("£ a year", "base-date prices, indexed"),
    "cap_total_return": ("rate a year", "coupon + performance at most this on principal"),
    "target_dscr": ("ratio", "CFADS / debt service: the sculpting or sizing target"),
    "basis": ("choice", "size on the base case's CFADS, or a simulated percentile of it"),
    "percentile": ("percentile", "of each payment period's simulated CFADS (10: the P10)"),
    "paths": ("paths", "simulated to fix the sizing percentile (recorded with the scenario)"),
    "seed": ("seed", "of the sizing simulation (the random sampler)"),
    "schedule": ("shares", "principal repaid per amortisation period"),
    "grace_years": ("years", "no principal due"),
    "grace_interest": ("choice", "paid, or capitalised into the balance"),
    "cash_sweep": ("share", "of cash left over that prepays principal"),
    "recourse": ("choice", "full: council tops up; limited: deferred, then written off"),
    "arrears_interest": ("TRUE/FALSE", "arrears earn the coupon rate"),
    "months": ("months", "of scheduled debt service"),
    "funding": ("choice", "at issue (from the proceeds), or from cash over time"),
    "pledged_share": ("share", "of net savings dedicated to debt service"),
    "gilt_yield": ("rate a year", "PWLB rate = gilt yield + margin"),
    "loan_type": ("choice", "annuity, eip or maturity"),
    "term_years": ("years", "default: the bond's tenor"),
    "default_paths": ("paths", "simulated when --paths is not given"),
    "target": ("choice", "what the risk input moves"),
    "streams": ("names", "savings streams moved (all when empty)"),
    "items": ("names", "cost items moved"),
    "categories": ("names", "cost categories moved"),
    "repair": ("TRUE/FALSE", "use the nearest correlation matrix if not PSD"),
    "names": ("names", "risk inputs, in matrix order"),
    "matrix": ("rank correlations", "rows of the matrix, separated by ';'"),
    "value": ("number", "the fixed value"),
    "shape": ("number", "PERT shape: 4 is the classic PERT"),
    "min": ("number", "lowest value"),
    "mode": ("number", "most likely value"),
    "max": ("number", "highest value"),
    "mean": ("number", "mean of the distribution"),
    "sd": ("number", "standard deviation"),
    "p10": ("number", "10th percentile"),
    "p90": ("number", "90th percentile"),
    "alpha": ("number", "beta shape parameter alpha"),
    "beta": ("number", "beta shape parameter beta"),
    "values": ("numbers", "the possible values"),
    "probabilities": ("shares", "probability of each value, summing to 1"),
    "p": ("probability", "probability of the event"),
    "impact": ("number", "the value when the event happens"),
    "base": ("number", "the value when it does not"),
    "samples": ("numbers", "observed values, resampled"),
    "reversion": ("share a year", "how fast the path returns to its level"),
    "data": ("file", "CSV file fitted, relative to the scenario (the workbook for verify)"),
    "family": ("choice", "family fitted by maximum likelihood"),
    "column": ("text", "the data file's column fitted"),
    "sha256": ("text", "SHA-256 of the data file as fitted"),
    "volatility": ("rate a year", "yearly shock's standard deviation"),
}


FIELD_INFO |= {
    "net_revenue_stream": ("£ a year", "the council's budget; indexed to each financial year"),
    "tax_base_band_d": ("Band D equivalents", "the council-tax base"),
    "opening_cfr": ("£ nominal", "capital financing requirement at close"),
    "gross_debt": ("£ nominal", "borrowing and long-term liabilities at close"),
    "financing_costs": ("£ nominal a year", "existing interest and MRP, held flat"),
    "operational_boundary": ("£ nominal", "the gross debt the council expects to work within"),
    "authorised_limit": ("£ nominal", "the statutory limit on gross debt (LGA 2003 s.3)"),
    "financing_ratio_limit": ("share", "a route above it is flagged; blank: none"),
    "usable_reserves": ("£ nominal", "a reserves route needing more is flagged"),
    "investment_rate": ("rate a year", "what reserves earn: a reserves route's cost"),
    "capital_receipts": ("£ nominal", "available in each financial year from the first"),
    "mrp_method": ("choice", "asset life method: equal instalments or annuity"),
    "mrp_life_years": ("years", "MRP on capital costs; capitalised revenue costs: 20"),
    "capitalisation_direction": ("TRUE/FALSE", "a direction lets borrowing fund revenue costs"),
    "rate_type": ("choice", "PWLB standard, certainty, local infrastructure or HRA rate"),
    "eligible": ("TRUE/FALSE", "the loan qualifies for the HRA or infrastructure rate"),
    "repayment": ("choice", "bullet, eip or annuity"),
    "cap_multiple": ("factor", "payments for outcomes at most this times the investment"),
}

#: Unit and note of a field whose name means something else elsewhere, by its path with list
#: indices as ``[i]``; looked up before :data:`FIELD_INFO`.
PATH_INFO: dict[str, tuple[str, str]] = {
    "routes[i].type": ("choice", "the kind of funding route"),
    "routes[i].term_years": ("years", "the loan's term, or the years of payments for outcomes"),
    "routes[i].rate": ("rate a year", "the community investment's fixed rate"),
    "routes[i].share": ("share", "of the gross savings achieved, paid for outcomes"),
    "routes[i].loan_type": ("choice", "annuity, eip or maturity"),
}


def field_info(path: str) -> tuple[str, str]:
    """The unit and note the Inputs sheet gives the input at ``path``."""
    generic = re.sub(r"\[\d+\]", "[i]", path)
    found = PATH_INFO.get(generic)
    return found if found is not None else FIELD_INFO.get(_field(path), ("", ""))


@dataclass(frozen=True)
class InputRow:
    """One input: its path, value and what constrains it."""

    path: str
    value: Any
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    is_list: bool = False


def _field(path: str) -> str:
    """``costs[0].amount`` -> ``amount``; ``ramp.fractions[2]`` -> ``fractions``."""
    return re.sub(r"\[\d+\]$", "", path.split(".")[-1])


def input_unit(path: str) -> str:
    """The unit the Inputs sheet gives the input at ``path`` (``£ a year``, ``share``, ...)."""
    return field_info(path)[0]


def defined_name(path: str) -> str:
    """An Excel name for an input path: ``costs[0].amount`` -> ``in_costs_0_amount``."""
    return "in_" + re.sub(r"[^A-Za-z0-9_]", "_", path.replace("[", "_").replace("]", ""))


def flatten(model: BaseModel, prefix: str = "") -> list[InputRow]:
    """Every leaf field of ``model`` with its path.

    An unset optional value (None) is kept, as a blank input a formula can test;
    an unset optional section (a whole table, such as ``bond.performance``) is
    left out. A list of lists (a correlation matrix) gives one row per inner list.
    """
    rows: list[InputRow] = []
    for field_name, info in type(model).model_fields.items():
        value = getattr(model, field_name)
        path = f"{prefix}{field_name}"
        if value is None and _is_section(info.annotation):
            continue
        if isinstance(value, tuple) and value and isinstance(value[0], tuple):
            for i, inner in enumerate(value):
                rows.append(InputRow(f"{path}[{i}]", inner))
            continue
        if isinstance(value, BaseModel):
            rows += _every_type(flatten(value, f"{path}."), path, info.annotation)
            rows += _alternatives(info.annotation, value, f"{path}.")
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            for i, item in enumerate(value):
                rows += _every_type(flatten(item, f"{path}[{i}]."), f"{path}[{i}]", info.annotation)
        else:
            low = high = None
            for meta in info.metadata:
                if isinstance(meta, annotated_types.Ge | annotated_types.Gt):
                    low = float(getattr(meta, "ge", getattr(meta, "gt", 0.0)))
                if isinstance(meta, annotated_types.Le | annotated_types.Lt):
                    high = float(getattr(meta, "le", getattr(meta, "lt", 0.0)))
                if isinstance(meta, Bounds):
                    low, high = meta.ge, meta.le
            rows.append(
                InputRow(
                    path, value, _choices(info.annotation), low, high, _is_list(info.annotation)
                )
            )
    return rows


def _every_type(rows: list[InputRow], path: str, annotation: Any) -> list[InputRow]:
    """The rows of the table at ``path``, its ``type`` offering every alternative of a tagged
    union (a section, or an item of a list such as ``routes``): a change the formulas cannot
    follow is then flagged structural, never silently ignored."""
    models = _models(annotation)
    if len(models) < 2:
        return rows
    types = tuple(t for m in models for t in _choices(m.model_fields["type"].annotation))
    return [dataclasses.replace(r, choices=types) if r.path == f"{path}.type" else r for r in rows]


#: Tagged unions whose type is a live choice: the fields of every alternative get a row (blank
#: where the chosen type has no such field), so a change of type finds its inputs in place.
LIVE_UNIONS = frozenset({"ramp"})


def _alternatives(annotation: Any, chosen: BaseModel, prefix: str) -> list[InputRow]:
    """Blank rows for the fields the other alternatives of a live tagged union have."""
    if prefix.rstrip(".").rsplit(".", 1)[-1] not in LIVE_UNIONS:
        return []
    have = set(type(chosen).model_fields)
    out: list[InputRow] = []
    for model in _models(annotation):
        for name, info in model.model_fields.items():
            if name in have:
                continue
            have.add(name)
            out.append(
                InputRow(
                    f"{prefix}{name}",
                    None,
                    _choices(info.annotation),
                    is_list=_is_list(info.annotation),
                )
            )
    return out


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _is_list(annotation: Any) -> bool:
    """Whether a field holds a list (a tuple, possibly optional or annotated)."""
    if typing.get_origin(annotation) is tuple:
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation))


def _is_section(annotation: Any) -> bool:
    """Whether a field holds a table of settings (a model), possibly optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_is_section(arg) for arg in typing.get_args(annotation))


def _choices(annotation: Any) -> tuple[str, ...]:
    """The allowed strings of a Literal field (also inside Optional)."""
    if typing.get_origin(annotation) is Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        found = _choices(arg)
        if found:
            return found
    return ()


class ExactNumbers(Worksheet):  # type: ignore[misc]
    """A worksheet whose numbers are stored exactly.

    XlsxWriter stores a number with 16 significant digits, which can change the
    last bit of a float (0.041666666666666664 is stored as 0.04166666666666666).
    An input read back must be the input written, bit for bit, or the scenario's
    SHA-256 changes; so where 16 digits do not give the same float back, this
    sheet stores Python's shortest exact form (at most 17 digits), which Excel
    and LibreOffice read exactly.
    """

    def _xml_number_element(self, number: float, attributes: Any = ()) -> None:
        text = f"{number:.16G}"
        if float(text) != number:
            text = repr(float(number))
        attr = "".join(f' {k}="{self._escape_attributes(v)}"' for k, v in attributes)
        self.fh.write(f"<c{attr}><v>{text}</v></c>")


def inputs_sheet(
    wb: Workbook,
    styles: Styles,
    scenario: Scenario,
    blank: bool = False,
    annotate: Callable[[str], tuple[str, str]] | None = None,
) -> list[tuple[int, InputRow]]:
    """Write the Inputs sheet: one named, styled, validated input cell per row.

    ``annotate`` gives, for an input's path, its style (``input`` or
    ``structural``) and a few words put before its note (how the formulas
    treat it). Returns each input with its row (0-based).
    """
    ws = wb.add_worksheet("Inputs", worksheet_class=ExactNumbers)
    key_column(ws)
    ws.set_column(LABEL_COL, LABEL_COL, 62)
    ws.set_column(2, 2, 26)
    ws.set_column(3, 3, 52)
    ws.set_column(VALUE_COL, VALUE_COL, 30)
    ws.set_column(VALUE_COL + 1, VALUE_COL + 40, 12)
    ws.write(0, LABEL_COL, f"Inputs: {scenario.meta.name}", styles.title)
    ws.write(
        1,
        LABEL_COL,
        "Every assumption of the scenario. Input cells are shaded; each has a defined name "
        "(in, then its path in the hidden column A); a list runs across the row and its name "
        "covers it. A blank input is an optional value left unset. Money at base-date prices "
        "unless the unit says otherwise; rates and shares typed as fractions (0.05 for 5%).",
        styles.note,
    )
    if annotate is not None:
        ws.write(
            2,
            LABEL_COL,
            "Yellow inputs are live: the formulas follow any change. Grey inputs are "
            "structural: the workbook was built for their value, and a change shows RERUN "
            "NEEDED until you run bondmodel run on the workbook.",
            styles.note,
        )
    for j, h in enumerate(HEADERS):
        ws.write_string(3, j, h, styles.header)
    ws.freeze_panes(4, 0)
    out: list[tuple[int, InputRow]] = []
    for i, item in enumerate(flatten(scenario)):
        row = 4 + i
        out.append((row, item))
        unit, note = field_info(item.path)
        kind, prefix = annotate(item.path) if annotate is not None else ("input", "")
        note = f"{prefix} {note}".strip()
        ws.write_string(row, 0, item.path, styles.note)
        ws.write_string(row, LABEL_COL, input_label(item.path, scenario))
        ws.write_string(row, 2, styles.words.input(unit))
        ws.write_string(row, 3, note, styles.note)
        values = item.value if isinstance(item.value, tuple) else (item.value,)
        for j, value in enumerate(values):
            write_input(ws, row, VALUE_COL + j, None if blank else value, styles, kind, unit)
        last = VALUE_COL + LIST_WIDTH - 1 if item.is_list else VALUE_COL + max(len(values), 1) - 1
        target = (
            f"=Inputs!{xl_rowcol_to_cell(row, VALUE_COL, True, True)}"
            if last == VALUE_COL
            else f"=Inputs!{xl_rowcol_to_cell(row, VALUE_COL, True, True)}:"
            f"{xl_rowcol_to_cell(row, last, True, True)}"
        )
        wb.define_name(defined_name(item.path), target)
        _validate(ws, row, item)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    return out


def write_input(
    ws: Worksheet,
    row: int,
    col: int,
    value: Any,
    styles: Styles,
    kind: str = "input",
    unit: str = "",
) -> None:
    """One input value in the style of its ``kind`` (input, structural or copy); a number
    formatted for its ``unit`` (the Inputs sheet's unit column)."""
    style, dated = styles.value_styles(kind)
    if value is None:
        ws.write_blank(row, col, None, style)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, style)
    elif isinstance(value, int | float):
        ws.write_number(row, col, float(value), styles.input_value(kind, unit, float(value)))
    elif isinstance(value, datetime | date):
        ws.write_datetime(row, col, datetime(value.year, value.month, value.day), dated)
    else:
        ws.write_string(row, col, str(value), style)


def _validate(ws: Worksheet, row: int, item: InputRow) -> None:
    bounded = item.low is not None or item.high is not None
    if isinstance(item.value, tuple) and not bounded:
        return
    if item.choices:
        ws.data_validation(
            row,
            VALUE_COL,
            row,
            VALUE_COL,
            {
                "validate": "list",
                "source": list(item.choices),
                "error_message": f"Allowed: {', '.join(item.choices)}",
            },
        )
    elif (
        (item.value is None or isinstance(item.value, int | float | tuple))
        and not isinstance(item.value, bool)
        and bounded
    ):
        low = item.low if item.low is not None else -1e300
        high = item.high if item.high is not None else 1e300
        ws.data_validation(
            row,
            VALUE_COL,
            row,
            VALUE_COL + len(item.value) - 1 if isinstance(item.value, tuple) else VALUE_COL,
            {
                "validate": "decimal",
                "criteria": "between",
                "minimum": low,
                "maximum": high,
                "error_message": f"Allowed: {low:g} to {high:g}",
            },
        )
