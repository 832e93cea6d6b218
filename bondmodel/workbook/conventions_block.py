"""The conventions on the Inputs sheet: published data and the engine's settings, named.

Every number a formula uses that is not a scenario input sits here, below the
scenario's inputs, one row each with its values across the row (as a list
input's are): the frequencies, the Green Book discount-rate bands and the
optimism-bias bands (``bondmodel.conventions``, each with its source), the
first period of a cost by timing, the S-curve settings, the engine's
tolerances (a balance counted as repaid, a rate counted as zero) and the
tolerances of the checks. No formula types these numbers in.

They are not scenario inputs: the engine always uses the published values. So
they are structural in the sense of the As run sheet: a change shows RERUN
NEEDED (a rerun restores the published values and the engine's numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.conventions import (
    CAPITALISATION_DIRECTION_LIFE_YEARS,
    CATEGORY_DEFAULT_BAND,
    FREQUENCIES,
    GREEN_BOOK_STPR,
    OPTIMISM_BIAS_BANDS,
    PWLB_MARGINS,
    UK_FINANCIAL_YEAR_START_MONTH,
)
from bondmodel.programme import SCURVE_LINEAR_BELOW
from bondmodel.scenario.bond import WHOLE_PERIODS_TOLERANCE
from bondmodel.scenario.schema import SCurveRamp
from bondmodel.workbook.inputs import (
    CONVENTIONS_HEADING,
    LABEL_COL,
    VALUE_COL,
    InputRow,
    write_input,
)
from bondmodel.workbook.styles import Styles

#: A number standing for "no end" in the last Green Book band.
NO_END = 1e300
#: A balance below this share of the principal counts as repaid (the engine's tolerance).
ZERO_TOLERANCE = 1e-9
#: A periodic rate below this counts as zero (annuity and PWLB formulas, as the engine).
RATE_TOLERANCE = 1e-15
#: Checks: a sum of pounds agrees within this many pounds plus CHECK_REL of the principal.
CHECK_ABS = 1e-6
CHECK_REL = 1e-9


@dataclass(frozen=True)
class Convention:
    """One row: its key (``conventions.<key>``), defined name, label, unit, source, values."""

    key: str
    name: str
    label: str
    unit: str
    source: str
    values: tuple[float | str, ...]

    @property
    def path(self) -> str:
        return f"conventions.{self.key}"

    def as_input(self) -> InputRow:
        """The row as the As run sheet records it."""
        return InputRow(
            self.path,
            self.values if len(self.values) > 1 else self.values[0],
            is_list=len(self.values) > 1,
        )


_GB = "HM Treasury Green Book (2022), Annex A6: STPR by years after the base year"
_OB = "HM Treasury Supplementary Green Book Guidance: Optimism Bias (2003), Table 1"
_PWLB = "UK Debt Management Office, PWLB rate types; HM Treasury, PWLB lending terms (2020)"
_MRP = "MHCLG, Statutory guidance on minimum revenue provision (2024)"

#: The conventions only the funding routes' sheets use (Routes, Budget, Prudential): written
#: only when the scenario compares routes, so no other workbook changes.
COUNCIL_CONVENTIONS = (
    Convention(
        "pwlb_rate_types",
        "conv_pwlb_rate_types",
        "PWLB rate types",
        "names",
        _PWLB,
        tuple(PWLB_MARGINS),
    ),
    Convention(
        "pwlb_margins",
        "conv_pwlb_margins",
        "PWLB margin over the gilt yield, by rate type",
        "rate a year",
        _PWLB,
        tuple(PWLB_MARGINS.values()),
    ),
    Convention(
        "capitalisation_direction_life",
        "conv_cd_life",
        "MRP life of expenditure capitalised under a direction",
        "years",
        _MRP,
        (float(CAPITALISATION_DIRECTION_LIFE_YEARS),),
    ),
)


def conventions(council: bool = True) -> list[Convention]:
    """Every convention, in the order of the block (``council`` False: without
    :data:`COUNCIL_CONVENTIONS`, for a scenario that compares no funding routes)."""
    return _general() + (list(COUNCIL_CONVENTIONS) if council else [])


def _general() -> list[Convention]:
    bands = [*OPTIMISM_BIAS_BANDS.items()]
    return [
        Convention(
            "frequency_names",
            "conv_freq_names",
            "Frequencies",
            "names",
            "timeline and payment frequencies",
            tuple(FREQUENCIES),
        ),
        Convention(
            "periods_a_year",
            "conv_freq_values",
            "Periods a year, by frequency",
            "count",
            "as named above",
            tuple(float(f) for f in FREQUENCIES.values()),
        ),
        Convention(
            "green_book_from",
            "gb_from",
            "Green Book band: from year",
            "years",
            _GB,
            tuple(b.start_year for b in GREEN_BOOK_STPR),
        ),
        Convention(
            "green_book_to",
            "gb_to",
            "Green Book band: to year (no end: 1E+300)",
            "years",
            _GB,
            tuple(min(b.end_year, NO_END) for b in GREEN_BOOK_STPR),
        ),
        Convention(
            "green_book_rate",
            "gb_rate",
            "Green Book band: real discount rate",
            "rate a year",
            _GB,
            tuple(b.rate for b in GREEN_BOOK_STPR),
        ),
        Convention(
            "no_end",
            "conv_no_end",
            "A year standing for no end",
            "years",
            "the last band, and savings without an end year",
            (NO_END,),
        ),
        Convention(
            "ob_band_names",
            "ob_band_names",
            "Optimism-bias bands",
            "names",
            _OB + "; 'none' for categories without a band",
            (*(b for b, _ in bands), "none"),
        ),
        Convention(
            "ob_band_lower",
            "ob_band_lower",
            "Optimism-bias band: lower bound",
            "share",
            _OB,
            (*(b.lower for _, b in bands), 0.0),
        ),
        Convention(
            "ob_band_upper",
            "ob_band_upper",
            "Optimism-bias band: upper bound",
            "share",
            _OB,
            (*(b.upper for _, b in bands), 0.0),
        ),
        Convention(
            "category_names",
            "category_names",
            "Cost categories",
            "names",
            "docs/methodology.md, 'Optimism bias'",
            tuple(CATEGORY_DEFAULT_BAND),
        ),
        Convention(
            "category_bands",
            "category_bands",
            "Default optimism-bias band, by category",
            "names",
            "docs/methodology.md, 'Optimism bias'",
            tuple(b or "none" for b in CATEGORY_DEFAULT_BAND.values()),
        ),
        Convention(
            "spread_start",
            "conv_spread_start",
            "First period of a spread cost",
            "period",
            "scenario default",
            (1.0,),
        ),
        Convention(
            "profile_start",
            "conv_profile_start",
            "First period of a profiled cost",
            "period",
            "scenario default",
            (0.0,),
        ),
        Convention(
            "scurve_linear_below",
            "conv_scurve_linear",
            "S-curve steepness below which a ramp is linear",
            "number",
            "as the engine: the tanh form loses precision near 0",
            (SCURVE_LINEAR_BELOW,),
        ),
        Convention(
            "scurve_steepness",
            "conv_scurve_steepness",
            "S-curve steepness when the input is blank",
            "number",
            "scenario default",
            (float(SCurveRamp.model_fields["steepness"].default),),
        ),
        Convention(
            "cost_factor",
            "conv_cost_factor",
            "Base case cost outturn factor (1 = as planned)",
            "factor",
            "the Monte Carlo draws it per item",
            (1.0,),
        ),
        Convention("months", "conv_months", "Months a year", "count", "", (12.0,)),
        Convention(
            "fy_month",
            "conv_fy_month",
            "First month of the UK financial year",
            "month",
            "April",
            (float(UK_FINANCIAL_YEAR_START_MONTH),),
        ),
        Convention(
            "repaid_share",
            "bd_zero",
            "A balance below this share of the principal is repaid",
            "share",
            "the engine's tolerance",
            (ZERO_TOLERANCE,),
        ),
        Convention(
            "min_scale",
            "bd_min_scale",
            "Smallest principal the tolerance scales with",
            "£",
            "the engine's tolerance",
            (1.0,),
        ),
        Convention(
            "zero_rate",
            "bd_tiny",
            "A periodic rate below this counts as zero",
            "rate",
            "the engine's tolerance",
            (RATE_TOLERANCE,),
        ),
        Convention(
            "whole_periods",
            "conv_whole",
            "A term within this many payments of a whole number is whole",
            "count",
            "the engine's validation",
            (WHOLE_PERIODS_TOLERANCE,),
        ),
        Convention(
            "check_abs",
            "chk_abs_tol",
            "Checks: pounds agree within this",
            "£",
            "rounding, not money",
            (CHECK_ABS,),
        ),
        Convention(
            "check_rel",
            "chk_rel_tol",
            "Checks: and within this share of the principal",
            "share",
            "rounding, not money",
            (CHECK_REL,),
        ),
    ]


def convention_values() -> dict[str, float | str]:
    """Each single-valued convention's value by its defined name (for expressions' values)."""
    return {c.name: c.values[0] for c in conventions() if len(c.values) == 1}


def conventions_block(
    wb: Workbook, ws: Worksheet, styles: Styles, top: int, council: bool = False
) -> list[tuple[int, InputRow]]:
    """Write the block on the Inputs sheet from row ``top`` (with the funding routes'
    conventions when ``council``); returns its rows for As run."""
    # the heading in the hidden key column is what the reader stops at; a reader sees its copy
    ws.write_string(top, 0, CONVENTIONS_HEADING, styles.header)
    ws.write_string(top, LABEL_COL, CONVENTIONS_HEADING, styles.header)
    for col in range(LABEL_COL + 1, VALUE_COL + 1):
        ws.write_blank(top, col, None, styles.header)
    ws.write_string(
        top + 1,
        LABEL_COL,
        "Published data and the engine's settings the formulas use; not scenario inputs. The "
        "engine always uses these values: a change shows RERUN NEEDED.",
        styles.note,
    )
    out: list[tuple[int, InputRow]] = []
    for i, conv in enumerate(conventions(council)):
        row = top + 2 + i
        ws.write_string(row, 0, conv.path, styles.note)
        ws.write_string(row, 1, conv.label)
        ws.write_string(row, 2, styles.words.input(conv.unit))
        ws.write_string(row, 3, conv.source, styles.note)
        for j, value in enumerate(conv.values):
            write_input(ws, row, VALUE_COL + j, value, styles, "structural", conv.unit)
        first = xl_rowcol_to_cell(row, VALUE_COL, True, True)
        last = xl_rowcol_to_cell(row, VALUE_COL + len(conv.values) - 1, True, True)
        wb.define_name(conv.name, f"=Inputs!{first}" + (f":{last}" if len(conv.values) > 1 else ""))
        out.append((row, conv.as_input()))
    return out
