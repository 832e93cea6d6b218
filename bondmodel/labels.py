"""The one table of column and metric names.

DataFrames use the keys; the workbook and any report show the labels. Both
come from here, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Unit = Literal["money", "ratio", "rate", "years", "index", "factor", "count", "text", "date"]


@dataclass(frozen=True)
class Column:
    """A named quantity: its display label and unit (which picks the number format)."""

    label: str
    unit: Unit


PERIOD_COLUMNS: Final[dict[str, Column]] = {
    "period": Column("Period", "count"),
    "label": Column("Label", "text"),
    "period_start": Column("Period start", "date"),
    "period_end": Column("Period end", "date"),
    "years": Column("Years after close", "years"),
    "price_index": Column("Price index (base date = 1)", "index"),
    "discount_factor": Column("Discount factor", "factor"),
    "capex_base": Column("One-off costs: base estimate", "money"),
    "capex_contingency": Column("One-off costs: contingency", "money"),
    "capex_optimism_bias": Column("One-off costs: optimism bias", "money"),
    "capex_overrun": Column("One-off costs: risk overrun", "money"),
    "capex": Column("One-off costs: total", "money"),
    "running_costs": Column("Running costs", "money"),
    "gross_savings": Column("Gross savings", "money"),
    "net_savings": Column("Net savings (after running costs)", "money"),
    "net_cash_flow": Column("Net cash flow (after one-off costs)", "money"),
    "cumulative_net_cash_flow": Column("Cumulative net cash flow", "money"),
    "capex_real": Column("One-off costs: total (real)", "money"),
    "running_costs_real": Column("Running costs (real)", "money"),
    "gross_savings_real": Column("Gross savings (real)", "money"),
    "net_savings_real": Column("Net savings (real)", "money"),
    "net_cash_flow_real": Column("Net cash flow (real)", "money"),
    "cumulative_net_cash_flow_real": Column("Cumulative net cash flow (real)", "money"),
    "discounted_net_cash_flow": Column("Discounted net cash flow (appraisal basis)", "money"),
    "cumulative_discounted_net_cash_flow": Column("Cumulative discounted net cash flow", "money"),
}

PARTNER_COLUMNS: Final[dict[str, Column]] = {
    "partner": Column("Partner", "text"),
    "period": Column("Period", "count"),
    "label": Column("Label", "text"),
    "capex": Column("One-off costs", "money"),
    "running_costs": Column("Running costs", "money"),
    "gross_savings": Column("Gross savings", "money"),
    "net_savings": Column("Net savings (after running costs)", "money"),
    "net_cash_flow": Column("Net cash flow (after one-off costs)", "money"),
    "cumulative_net_cash_flow": Column("Cumulative net cash flow", "money"),
    "net_cash_flow_real": Column("Net cash flow (real)", "money"),
    "discounted_net_cash_flow": Column("Discounted net cash flow (appraisal basis)", "money"),
}

METRICS: Final[dict[str, Column]] = {
    "npv": Column("Net present value of the programme", "money"),
    "pv_savings": Column("Present value of gross savings", "money"),
    "pv_costs": Column("Present value of costs (one-off and running)", "money"),
    "bcr": Column("Benefit-cost ratio", "ratio"),
    "payback_years": Column("Payback period (undiscounted)", "years"),
    "discounted_payback_years": Column("Payback period (discounted)", "years"),
    "peak_funding_need": Column("Peak cumulative funding need (nominal)", "money"),
    "peak_funding_period": Column("Period of peak funding need", "count"),
    "total_capex": Column("One-off costs, total (nominal)", "money"),
    "total_capex_base": Column("One-off costs, base estimate (nominal)", "money"),
    "total_running_costs": Column("Running costs, total (nominal)", "money"),
    "total_gross_savings": Column("Gross savings, total (nominal)", "money"),
    "total_net_cash_flow": Column("Net cash flow, total (nominal)", "money"),
}

PARTNER_METRICS: Final[dict[str, Column]] = {
    "cost_share": Column("Share of costs", "rate"),
    "savings_share": Column("Share of savings", "rate"),
    "npv": Column("Net present value", "money"),
    "pv_savings": Column("Present value of gross savings", "money"),
    "pv_costs": Column("Present value of costs", "money"),
    "payback_years": Column("Payback period (undiscounted)", "years"),
}
