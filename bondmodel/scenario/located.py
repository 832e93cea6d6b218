"""Errors from checks across fields that name the field to blame."""

from __future__ import annotations


class LocatedError(ValueError):
    """A check across fields that knows which field to blame.

    ``loc`` is relative to the model whose validator raised it (empty for the
    model itself); the loader prefixes the model's own location and renders
    list items with their names, as for any other error.
    """

    def __init__(
        self, loc: tuple[str | int, ...], message: str, also: tuple[LocatedError, ...] = ()
    ) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
        #: further problems the same check found, each its own line (:func:`located_all`)
        self.also = also

    @property
    def path(self) -> str:
        """``loc`` as text, e.g. ``partners[1].cost_share``."""
        text = ""
        for part in self.loc:
            text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + part
        return text


def located(loc: str | tuple[str | int, ...], message: str) -> LocatedError:
    return LocatedError((loc,) if isinstance(loc, str) else loc, message)


def located_all(problems: list[LocatedError]) -> LocatedError:
    """One error carrying every problem a check found (``problems`` not empty): the loader
    writes a line for each, where a validator could otherwise raise only the first."""
    first, *rest = problems
    return LocatedError(first.loc, first.message, tuple(rest))
