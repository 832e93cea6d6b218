"""Field paths: how the Inputs sheet, ``--vary`` and ``--find`` name one scenario field.

``bond.coupon.rate``, ``costs[0].amount``, ``risk.correlation.matrix[1]``: names
separated by dots, each optionally followed by a list index.
"""

from __future__ import annotations

import re

#: A whole field path.
FIELD_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\[\d{1,4}\])?(\.[a-z_][a-z0-9_]*(\[\d{1,4}\])?)*$")
_PART = re.compile(r"([a-z_][a-z0-9_]*)|\[(\d+)\]")


def path_parts(path: str) -> list[str | int]:
    """``costs[0].amount`` -> ``['costs', 0, 'amount']`` (the path is not checked here)."""
    return [name if name else int(index) for name, index in _PART.findall(path)]
