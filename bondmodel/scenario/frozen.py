"""Immutable sequences for the frozen scenario models.

A scenario is frozen: no field can be reassigned. Its lists must not be
mutable either, or a validated scenario could be changed afterwards and no
longer match its checks or its SHA-256. Lists from TOML become tuples before
(strict) validation; anything else is left for the validator to reject.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from annotated_types import MaxLen
from pydantic import BeforeValidator

from bondmodel.scenario.fieldtypes import MAX_LIST_ITEMS

T = TypeVar("T")


def _to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


#: ``FrozenTuple[X]``: given as a list, kept as a tuple, of any length: for a list whose
#: field states its own limit (a pool's members), which FrozenList's would cut short.
FrozenTuple = Annotated[tuple[T, ...], BeforeValidator(_to_tuple)]

#: ``FrozenList[X]``: given as a list, kept as a tuple; at most
#: :data:`~bondmodel.scenario.fieldtypes.MAX_LIST_ITEMS` items.
FrozenList = Annotated[tuple[T, ...], BeforeValidator(_to_tuple), MaxLen(MAX_LIST_ITEMS)]
