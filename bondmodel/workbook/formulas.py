"""Excel formulas shared by several sheets, each the rendering of one methodology equation."""

from __future__ import annotations


def payback_formula(cumulative: str, years: str, periods: str) -> str:
    """Years until the cumulative flow turns non-negative for good (methodology section 9).

    L, the position of the last period with a negative cumulative flow, is
    SUMPRODUCT(MAX((C<0)*(t+1))) over the Timeline's periods t; the payback is
    interpolated inside the next period, is 0 when the flow is never negative,
    and is the text n/a when the last period is still negative (never paid back),
    as the engine's undefined value.
    """
    position = f"SUMPRODUCT(MAX(({cumulative}<0)*({periods}+1)))"
    c_l = f"INDEX({cumulative},1,{position})"
    c_n = f"INDEX({cumulative},1,{position}+1)"
    y_l = f"INDEX({years},1,{position})"
    y_n = f"INDEX({years},1,{position}+1)"
    return (
        f'=IF({position}=0,0,IF({position}>=COLUMNS({years}),"n/a",'
        f"{y_l}+(-{c_l})/({c_n}-{c_l})*({y_n}-{y_l})))"
    )
