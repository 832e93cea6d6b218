"""Which inputs the formulas follow, and the workbook's record of the inputs as run.

Every input on the Inputs sheet is one of three kinds (``INPUT_RULES``):

- **live**: the formulas use it; after any valid edit and a recalculation every
  formula equals the engine's rerun of the edited workbook;
- **structural**: it shapes the model (the period columns, the rows a coupon
  type needs, a name that labels rows), so the formulas were built for its
  value and cannot follow a change; ``bondmodel run MODEL.xlsx`` rebuilds them;
- **simulation**: only the Monte Carlo simulation uses it (the ``[risk]``
  section); the formulas do not, and the simulation's results go stale.

A live choice may be live among some of its options only (a repayment profile
is live among bullet, EIP and annuity; a sculpted profile is structural), and
a live optional value may be structural only in being set or cleared (a
coupon floor: its value is live, but adding one where there was none is not).

The "As run" sheet keeps a copy of every input as the workbook was built and
simulated, row for row beside the Inputs sheet, with two live flags per row:
*changed* (the input differs from its copy) and *structural change* (the change
is one the formulas cannot follow). The Checks sheet sums them into
``chk_structure`` (no structural change: the formulas stand) and
``chk_simulated`` (no change at all: the simulation's values stand); every
sheet shows RERUN NEEDED, and the simulation's sheets STALE, when they fail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.labels import input_label, name_in_words
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.conventions_block import conventions
from bondmodel.workbook.inputs import (
    LIST_WIDTH,
    VALUE_COL,
    ExactNumbers,
    InputRow,
    input_unit,
    write_input,
)
from bondmodel.workbook.styles import Styles

Kind = Literal["live", "structural", "simulation"]

#: The defined names of the two checks, on the Checks sheet.
STRUCTURE_CHECK = "chk_structure"
SIMULATION_CHECK = "chk_simulated"

RERUN_NEEDED = (
    "RERUN NEEDED: a structural input has changed since the run, so the formulas no longer "
    "describe the inputs (see the As run sheet); run bondmodel run on this workbook"
)
STALE = (
    "STALE: inputs changed since the simulation; these simulation results are for the inputs "
    "as run (see the As run sheet); rerun to refresh them"
)


@dataclass(frozen=True)
class InputRule:
    """How the formulas treat the inputs whose path matches ``pattern``.

    ``pattern`` is a regular expression over the path with list indices written
    ``[i]`` (``costs[i].amount``). ``live_choices``: a live choice is live among
    these options only. ``presence``: setting or clearing the optional value is
    structural, changing it is live.
    """

    pattern: str
    kind: Kind
    why: str
    live_choices: tuple[str, ...] = ()
    presence: bool = False

    def matches(self, generic_path: str) -> bool:
        return re.fullmatch(self.pattern, generic_path) is not None


_NAMES = "names label rows, columns and charts, and other inputs refer to them"
_PAYMENT_GRID = "sets the Bond sheet's payment columns"

#: The rules, first match wins; a path no rule names is structural (the safe default).
INPUT_RULES: tuple[InputRule, ...] = (
    InputRule(
        r"risk\..*", "simulation", "only the Monte Carlo simulation uses it; its results go stale"
    ),
    InputRule(
        r"conventions\..*",
        "structural",
        "published data and the engine's settings: the engine always uses these values",
    ),
    InputRule(r"meta\.base_date", "live", "the price offset of every real input"),
    InputRule(r"meta\..*", "structural", "titles and number formats are written with it"),
    InputRule(
        r"timeline\.(frequency|horizon_years)",
        "structural",
        "sets the period columns of every time-series sheet",
    ),
    InputRule(r"timeline\.align_to_financial_year", "structural", "sets the period labels"),
    InputRule(
        r"timeline\.start_date",
        "live",
        "dates and the price offset follow it (financial-year labels do not: see below)",
    ),
    InputRule(r"(partners|costs|running_costs|savings)\[i\]\.name", "structural", _NAMES),
    InputRule(
        r"partners\[i\]\.(baseline_expenditure|cost_share|savings_share|exit_year)",
        "live",
        "partner shares, allocation and presence",
    ),
    InputRule(
        r"costs\[i\]\.(amount|category|timing|start_period|periods|profile|"
        r"optimism_bias|ob_band|ob_mitigation|contingency|indexed)",
        "live",
        "one-off cost rows on Cashflows",
    ),
    InputRule(
        r"running_costs\[i\]\.(annual_amount|start_year|end_year|indexation)",
        "live",
        "running cost rows on Cashflows",
    ),
    InputRule(
        r"savings\[i\]\.ramp\.type",
        "live",
        "ramp rows on Cashflows",
        live_choices=("linear", "explicit", "s_curve"),
    ),
    InputRule(
        r"savings\[i\]\.(annual_amount|pct_of_expenditure|partners|allocation|"
        r"start_delay_years|end_year|erosion|indexation|ramp\.(years|fractions|steepness))",
        "live",
        "savings rows on Cashflows and the Partners sheet",
    ),
    InputRule(
        r"economics\.(inflation|discount_basis|discount_rate|appraisal_basis)",
        "live",
        "the price index and discount factors on Timeline",
    ),
    InputRule(
        r"bond\.coupon\.type",
        "structural",
        "each coupon type has rows of its own on the Bond sheet",
    ),
    InputRule(
        r"bond\.coupon\.(floor|uplift_cap|uplift_floor|reference_path)",
        "live",
        "the coupon rows; adding or removing it changes their formulas",
        presence=True,
    ),
    InputRule(
        r"bond\.coupon\.(rate|real_rate|margin|reference_rate)", "live", "the coupon rate row"
    ),
    InputRule(
        r"bond\.repayment\.type",
        "live",
        "bullet, EIP and annuity share the Bond sheet's rows; sculpted and custom "
        "profiles have rows of their own",
        live_choices=("bullet", "eip", "annuity"),
    ),
    InputRule(r"bond\.repayment\.(target_dscr|schedule)", "live", "the repayment rows"),
    InputRule(
        r"bond\.sizing\.target_dscr",
        "live",
        "the Bond sheet's rows that size the principal to the DSCR target",
    ),
    InputRule(
        r"bond\.sizing\.(basis|percentile|paths|seed)",
        "structural",
        "a percentile basis's CFADS is a simulation's output, written as values",
    ),
    InputRule(r"bond\.(payment_frequency|issue_date)", "structural", _PAYMENT_GRID),
    InputRule(
        r"bond\.(tenor_years|legal_maturity_years)",
        "live",
        "the Bond sheet's columns run to the last payment the horizon allows; a flag "
        "marks the bond's life",
    ),
    InputRule(
        r"bond\.performance\.cap_total_return",
        "live",
        "the performance rows; adding or removing the cap changes their formulas",
        presence=True,
    ),
    InputRule(
        r"bond\.(principal|financed_share|issue_price|arrangement_fee|annual_fees|"
        r"grace_years|grace_interest|cash_sweep|recourse|arrears_interest|pledged_share|"
        r"reserve\.(months|funding)|performance\.(share|threshold))",
        "live",
        "the Bond sheet's constants and rows",
    ),
    InputRule(
        r"pwlb\.(gilt_yield|margin|term_years|loan_type)", "live", "the PWLB rows on the Bond sheet"
    ),
    InputRule(r"routes\[i\]\.name", "structural", _NAMES),
    InputRule(
        r"routes\[i\]\.type",
        "structural",
        "each type of route has rows of its own on the Routes, Budget and Prudential sheets",
    ),
    InputRule(
        r"(routes\[i\]\.eligible|council\.usable_reserves)",
        "live",
        "the Routes sheet's comparison (the rate open to a PWLB loan, reserves beyond those "
        "usable); the flags' words below it are as run",
    ),
    InputRule(
        r"council\.financing_ratio_limit",
        "live",
        "the Prudential sheet's flag row follows its value; clearing it removes the row",
        presence=True,
    ),
    InputRule(
        r"council\..*",
        "live",
        "the Routes, Budget and Prudential sheets",
    ),
    InputRule(
        r"routes\[i\]\.(gilt_yield|rate_type|loan_type|term_years|rate|repayment|share|"
        r"cap_multiple)",
        "live",
        "the route's terms and schedule on the Routes sheet",
    ),
)

_DEFAULT = InputRule(r".*", "structural", "not among the inputs the formulas follow")
_FY_LABELS = InputRule(
    r"timeline\.start_date",
    "structural",
    "the period labels name financial years, which are written as text",
)


_SIZING_SIMULATION = InputRule(
    r"risk\..*",
    "structural",
    "the simulation that sizes the bond to a percentile of CFADS draws them: the contract's "
    "principal follows, and the sizing CFADS row holds that simulation's values",
)


_ROUTE_YEARS = InputRule(
    r"timeline\.start_date",
    "structural",
    "the Budget and Prudential sheets have a column for each financial year the periods "
    "fall in as run",
)


_SCULPTED_PRINCIPAL = InputRule(
    r"bond\.principal",
    "structural",
    "a sculpted profile depends on the principal it repays, which the engine sizes",
)


def generic(path: str) -> str:
    """``costs[2].amount`` -> ``costs[i].amount``; a matrix row's own index is kept out too."""
    return re.sub(r"\[\d+\]", "[i]", path)


def rule_for(path: str, scenario: Scenario | None = None) -> InputRule:
    """The rule that classifies the input at ``path`` (for ``scenario``'s structure)."""
    g = generic(path)
    if (
        g == "timeline.start_date"
        and scenario is not None
        and (scenario.timeline.align_to_financial_year)
    ):
        return _FY_LABELS
    if g == "timeline.start_date" and scenario is not None and scenario.routes:
        return _ROUTE_YEARS
    if (
        g == "bond.principal"
        and scenario is not None
        and scenario.bond is not None
        and (scenario.bond.repayment.type == "sculpted")
    ):
        return _SCULPTED_PRINCIPAL
    if (
        g.startswith("risk.")
        and scenario is not None
        and scenario.bond is not None
        and scenario.bond.sizing is not None
        and scenario.bond.sizing.basis == "percentile"
    ):
        return _SIZING_SIMULATION
    return next((rule for rule in INPUT_RULES if rule.matches(g)), _DEFAULT)


def input_kind(path: str, scenario: Scenario | None = None) -> Kind:
    """``live``, ``structural`` or ``simulation`` for the input at ``path``."""
    return rule_for(path, scenario).kind


def kinds_table() -> list[tuple[str, Kind, str]]:
    """(pattern, kind, why) of every rule in order: the table the user guide prints."""
    rows = [(rule.pattern, rule.kind, _describe(rule)) for rule in INPUT_RULES]
    # the rules rule_for applies to some scenarios only, each before the rule it overrides
    specials = [
        (next(i for i, rule in enumerate(INPUT_RULES) if rule.matches(path)), special, when)
        for special, path, when in (
            (_FY_LABELS, "timeline.start_date", "when aligned"),
            (_ROUTE_YEARS, "timeline.start_date", "with funding routes"),
            (_SCULPTED_PRINCIPAL, "bond.principal", "sculpted profiles"),
            (_SIZING_SIMULATION, "risk.inputs", "a bond sized on a percentile basis"),
        )
    ]
    for at, special, when in sorted(specials, key=lambda x: -x[0]):
        rows.insert(at, (special.pattern, special.kind, f"{special.why} ({when})"))
    return [*rows, (_DEFAULT.pattern, _DEFAULT.kind, _DEFAULT.why)]


def annotation(path: str, scenario: Scenario) -> tuple[str, str]:
    """The Inputs sheet's style for ``path`` and the words put before its note."""
    rule = rule_for(path, scenario)
    if rule.kind == "structural" or (
        rule.live_choices and str(_value_at(scenario, path)) not in rule.live_choices
    ):
        return "structural", "STRUCTURAL: a change needs a rerun."
    if rule.live_choices:
        choices = ", ".join(name_in_words(c) for c in rule.live_choices)
        return "input", f"Live among {choices}; other options need a rerun."
    if rule.presence:
        return "input", "Live; setting or clearing it needs a rerun."
    if rule.kind == "simulation":
        return "input", "Simulation input: the results go STALE when it changes."
    return "input", ""


def _value_at(scenario: Scenario, path: str) -> object:
    node: object = scenario
    for part in re.findall(r"[A-Za-z_]\w*|\d+", path):
        node = node[int(part)] if part.isdigit() else getattr(node, part, None)  # type: ignore[index]
    return node


#: Markers around the generated table in docs/user-guide.md and docs/auditors-guide.md.
DOC_START = "<!-- input-kinds: generated from bondmodel/workbook/as_run.py; do not edit -->"
DOC_END = "<!-- input-kinds: end -->"


def kinds_markdown() -> str:
    """The live / structural / simulation table as Markdown, between its markers."""
    lines = [DOC_START, "", "| inputs (path pattern) | kind | why |", "|---|---|---|"]
    for pattern, kind, why in kinds_table():
        shown = pattern.replace("\\.", ".").replace("\\[i\\]", "[i]").replace(".*", "*")
        shown = shown.replace("|", "\\|")
        lines.append(f"| `{shown}` | {kind} | {why} |")
    return "\n".join([*lines, "", DOC_END])


def _describe(rule: InputRule) -> str:
    extra = ""
    if rule.live_choices:
        extra = f"; live among {', '.join(rule.live_choices)}, other options structural"
    if rule.presence:
        extra = "; setting or clearing it is structural"
    return rule.why + extra


# ---------------------------------------------------------------------------
# The As run sheet
# ---------------------------------------------------------------------------

AS_RUN_SHEET = "As run"
#: Columns of the As run sheet: input (in words), kind, structural change, changed, then the
#: values.
KIND_COL, STRUCTURAL_COL, CHANGED_COL = 1, 2, 3


def _row_range(sheet: str, row: int) -> str:
    first = xl_col_to_name(VALUE_COL, True)
    last = xl_col_to_name(VALUE_COL + LIST_WIDTH - 1, True)
    return f"{sheet}!{first}${row + 1}:{last}${row + 1}"


def _changed(row: int) -> str:
    """TRUE when any value of the input's row differs from its copy.

    Both sides are compared as text, exactly (case included): EXACT on numbers in an
    array is unreliable in LibreOffice, and on text it is what both applications agree on.
    """
    now, then = _row_range("Inputs", row), _row_range(f"'{AS_RUN_SHEET}'", row)
    return f'=SUMPRODUCT(--NOT(EXACT({now}&"",{then}&"")))>0'


def _structural(row: int, rule: InputRule, was: object) -> str:
    changed = f"{xl_col_to_name(CHANGED_COL)}{row + 1}"
    now = f"Inputs!{xl_col_to_name(VALUE_COL, True)}${row + 1}"
    then = f"{xl_col_to_name(VALUE_COL, True)}${row + 1}"
    if rule.kind != "structural" and rule.live_choices and str(was) in rule.live_choices:
        options = ",".join(f'"{c}"' for c in rule.live_choices)
        return f"=AND({changed},NOT(ISNUMBER(MATCH({now},{{{options}}},0))))"
    if rule.kind == "structural" or rule.live_choices:
        return f"={changed}"
    if rule.presence:
        return f"=ISBLANK({now})<>ISBLANK({then})"
    return "=FALSE()"


def as_run_sheet(
    wb: Workbook, styles: Styles, scenario: Scenario, rows: Sequence[tuple[int, InputRow]]
) -> str:
    """Write the As run sheet: each input's kind, its copy and the two live flags.

    ``rows`` are the Inputs sheet's rows (0-based) with their inputs; the copy
    sits on the same rows, so each flag compares one row with its twin. Returns
    the range of the *structural change* and *changed* columns, for the checks.
    """
    ws = wb.add_worksheet(AS_RUN_SHEET, worksheet_class=ExactNumbers)
    ws.set_column(0, 0, 62)
    ws.set_column(KIND_COL, KIND_COL, 12)
    ws.set_column(STRUCTURAL_COL, CHANGED_COL, 16)
    ws.set_column(VALUE_COL, VALUE_COL, 30)
    ws.set_column(VALUE_COL + 1, VALUE_COL + 40, 12)
    ws.write(0, 0, "Inputs as run", styles.title)
    ws.write(
        1,
        0,
        "Each input as the workbook was built and simulated, on the same row as on the Inputs "
        "sheet. Changed: the input differs from this copy. Structural change: a change the "
        "formulas cannot follow (the input is structural, or a choice left the options the "
        "formulas cover); it needs bondmodel run on the workbook. Any change makes the "
        "simulation's results stale.",
        styles.note,
    )
    for j, head in enumerate(("Input", "Kind", "Structural change", "Changed", "Value(s) as run")):
        ws.write_string(3, j, head, styles.header)
    ws.freeze_panes(4, 1)
    conventions_labels = {c.path: f"Convention: {c.label}" for c in conventions()}
    for row, item in rows:
        rule = rule_for(item.path, scenario)
        # the row is the key (the Inputs sheet's, where the path is): the input in words here
        label = conventions_labels.get(item.path) or input_label(item.path, scenario)
        ws.write_string(row, 0, label, styles.note)
        ws.write_string(row, KIND_COL, rule.kind)
        ws.write_formula(row, STRUCTURAL_COL, _structural(row, rule, item.value), None, False)
        ws.write_formula(row, CHANGED_COL, _changed(row), None, False)
        values = item.value if isinstance(item.value, tuple) else (item.value,)
        for j, value in enumerate(values):
            write_input(ws, row, VALUE_COL + j, value, styles, "copy", input_unit(item.path))
    first, last = rows[0][0], rows[-1][0]
    structural = (
        f"'{AS_RUN_SHEET}'!${xl_col_to_name(STRUCTURAL_COL)}${first + 1}:"
        f"${xl_col_to_name(STRUCTURAL_COL)}${last + 1}"
    )
    changed = (
        f"'{AS_RUN_SHEET}'!${xl_col_to_name(CHANGED_COL)}${first + 1}:"
        f"${xl_col_to_name(CHANGED_COL)}${last + 1}"
    )
    wb.define_name("run_structural_changes", f"={structural}")
    wb.define_name("run_changes", f"={changed}")
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    return structural


def status_banner(
    ws: Worksheet, row: int, col: int, styles: Styles, simulation: bool = False
) -> None:
    """A cell that is empty while the sheet stands, and says why when it does not.

    Every computed sheet shows RERUN NEEDED after a structural change; the
    simulation's sheets (``simulation``) also show STALE after any change.
    """
    formula = f'=IF({STRUCTURE_CHECK},"","{RERUN_NEEDED}")'
    if simulation:
        formula = (
            f'=IF(NOT({STRUCTURE_CHECK}),"{RERUN_NEEDED}",IF({SIMULATION_CHECK},"","{STALE}"))'
        )
    ws.write_formula(row, col, formula, styles.alert, "")
