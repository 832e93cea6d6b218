"""Loading scenarios from TOML, with errors that name the field, the value and what is allowed."""

from __future__ import annotations

import difflib
import functools
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import datetime
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from bondmodel.defaults import DEFAULT_TEMPLATE as DEFAULT_TEMPLATE  # the package's name for it
from bondmodel.errors import ScenarioError
from bondmodel.scenario.fieldtypes import bad_character
from bondmodel.scenario.fieldtypes import shown_value as _show
from bondmodel.scenario.risk import risk_inputs
from bondmodel.scenario.schema import Scenario

#: Largest scenario file accepted, in bytes; a scenario is a few kilobytes.
MAX_SCENARIO_BYTES = 5 * 1024 * 1024
#: Deepest nesting of tables and arrays accepted. The deepest a scenario needs is 4
#: (``risk.correlation.matrix``, a list of lists inside two tables).
MAX_DEPTH = 8


def templates_dir() -> Path:
    """The folder of starter scenarios: packaged in a wheel, or ``templates/`` in a checkout."""
    packaged = Path(str(resources.files("bondmodel"))) / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


def list_templates() -> list[str]:
    """Names of the available templates (file stems), sorted."""
    return sorted(p.stem for p in templates_dir().glob("*.toml"))


def template_path(name: str) -> Path:
    """The TOML file of template ``name``; a clear error lists the names allowed."""
    path = templates_dir() / f"{name}.toml"
    if not path.is_file():
        raise ScenarioError(
            f"template: unknown template {name!r}; allowed: {', '.join(list_templates())}"
        )
    return path


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path
        A TOML scenario file. ``None`` loads the built-in default template.

    Raises
    ------
    ScenarioError
        The file is missing, empty, not TOML, or fails validation. The message
        names the file, the field path, the bad value and what is allowed.
    """
    if path is None:
        path = template_path(DEFAULT_TEMPLATE)
    path = Path(path)
    data = read_toml_file(path, "scenario", "start from `bondmodel new`")
    if not data:
        raise ScenarioError(f"{path}: holds no settings; start from `bondmodel new`")
    if any(isinstance(item, dict) and "fit" in item for item in risk_inputs(data)):
        # a risk input fitted to data: read and fit it now (scipy loads only here)
        from bondmodel.risk.fitting import resolve_fits

        data = resolve_fits(data, path.parent, str(path))
    return parse_scenario(data, source=str(path))


def read_toml_file(
    path: Path, what: str, start: str, max_bytes: int = MAX_SCENARIO_BYTES, depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """A TOML file (a scenario, a portfolio, an economics file) read as :func:`read_toml`
    reads its text, or one line naming the file and what is wrong with it: missing, not a
    file, empty (``start`` says how to begin one), over ``max_bytes``, not UTF-8 text."""
    if not path.exists():
        raise ScenarioError(f"{path}: {what} file does not exist")
    if not path.is_file():
        raise ScenarioError(f"{path}: is not a file; give a TOML {what} file")
    size = path.stat().st_size
    if size == 0:
        raise ScenarioError(f"{path}: {what} file is empty; {start}")
    if size > max_bytes:
        raise ScenarioError(f"{path}: {what} file is {size} bytes; at most {max_bytes} are allowed")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: is not a UTF-8 text file (byte {exc.start}); a {what} is TOML text"
        ) from None
    return read_toml(text, str(path), depth)


def read_toml(text: str, source: str, depth: int = MAX_DEPTH) -> dict[str, Any]:
    """TOML text parsed, or one line naming ``source`` and what is wrong: not TOML, a dotted
    key deeper than ``depth`` levels (refused before tomllib, whose time grows with the cube
    of its length), or arrays nested past Python's recursion limit (tomllib recurses). The
    parsed data's own depth is the validator's to check (:func:`too_deep`).

    A byte-order mark, as Excel and Notepad write one, is not part of the text.
    """
    text = text.removeprefix("\ufeff")
    line = long_dotted_key(text, depth)
    if line is not None:
        raise ScenarioError(
            f"{source}: line {line}: a dotted key nests tables more than {depth} levels "
            f"deep; at most {depth} are allowed"
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: is not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(
            f"{source}: nests arrays or tables too deeply to read; at most {depth} levels "
            "are allowed"
        ) from None
    except ValueError:
        # a whole number of more digits than Python converts (sys.get_int_max_str_digits)
        raise ScenarioError(f"{source}: {_huge_integer(text)}") from None
    return data


def _huge_integer(text: str) -> str:
    """Where ``text`` holds a whole number too long to read, and what is allowed."""
    limit = sys.get_int_max_str_digits()
    # from the start of a run of digits only: trying every digit of every run would take
    # the square of a run's length
    found = re.search(rf"(?<![0-9_])[+-]?[0-9](?:_?[0-9]){{{limit},}}", text)
    if found is None:
        return f"holds a whole number of more than {limit:,} digits, too long to read"
    line = text.count("\n", 0, found.start()) + 1
    digits = sum(ch.isdigit() for ch in found.group())
    return (
        f"line {line}: a whole number of {digits:,} digits, too long to read; allowed: at "
        f"most {limit:,} digits (and no field holds a number above 1e308)"
    )


def parse_scenario(data: Mapping[str, Any], source: str = "scenario") -> Scenario:
    """Validate a mapping (parsed TOML) into a :class:`Scenario`.

    A mapping nested more than :data:`MAX_DEPTH` deep is refused before validation,
    naming the outermost key of the deep part.
    """
    deep = too_deep(data)
    if deep is not None:
        raise ScenarioError(
            f"{source}: {deep}: nests tables or arrays more than {MAX_DEPTH} levels deep; "
            f"at most {MAX_DEPTH} are allowed (a scenario needs 4)"
        )
    try:
        return Scenario.model_validate(dict(data))
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, data, source)) from None


#: TOML strings and comments, each matched whole (an unterminated one to the end).
_STRING_OR_COMMENT = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*(?:"""|$)'  # multi-line basic string
    r"|'''.*?(?:'''|$)"  # multi-line literal string
    r'|"(?:[^"\\\n]|\\.)*(?:"|$)'  # basic string
    r"|'[^'\n]*(?:'|$)"  # literal string
    r"|#[^\n]*",  # comment
    re.DOTALL,
)
#: A dotted key (or a float: two parts) of more than MAX_DEPTH + 1 parts.
#: Possessive (``++``): a part never gives characters back, and the key is only tried from
#: the start of a run of key characters (the lookbehind), so a run of n characters costs n
#: steps, not n squared (a 100,000-digit number took 146 s).
_KEY_PART = r"(?:[A-Za-z0-9_-]++|\"\")"


@functools.cache
def _long_key(limit: int) -> re.Pattern[str]:
    """A dotted key of more than ``limit + 1`` parts."""
    return re.compile(
        r"(?<![A-Za-z0-9_-])" + _KEY_PART + rf"(?:[ \t]*\.[ \t]*{_KEY_PART})" + f"{{{limit + 1},}}"
    )


def long_dotted_key(text: str, limit: int = MAX_DEPTH) -> int | None:
    """The line of the first dotted key with more than ``limit + 1`` parts, or None.

    Strings and comments are blanked first (a string to ``""``, keeping its line
    breaks), so that only keys are measured. Such a key would be refused as too
    deep after parsing, but tomllib's time grows with the cube of its length
    (30,000 parts take 17 s), so it is refused before.
    """

    def blank(m: re.Match[str]) -> str:
        return ('""' if m.group()[0] != "#" else "") + "\n" * m.group().count("\n")

    blanked = _STRING_OR_COMMENT.sub(blank, text)
    found = _long_key(limit).search(blanked)
    if found is None:
        return None
    return blanked.count("\n", 0, found.start()) + 1


def too_deep(data: Mapping[str, Any], limit: int = MAX_DEPTH) -> str | None:
    """The path of the first container nested deeper than ``limit``, or None.

    Walks without recursion, so that any depth is measured safely; the path
    shown is cut after ``limit`` parts.
    """
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        node, depth, where = stack.pop()
        items: Any
        if isinstance(node, Mapping):
            # a key is shown as written, unless it holds characters that could mislead
            items = ((("." if where else "") + _key_shown(k), v) for k, v in node.items())
        elif isinstance(node, list | tuple):
            items = ((f"[{i}]", v) for i, v in enumerate(node))
        else:
            continue
        if depth > limit:
            return where
        for suffix, value in items:
            if isinstance(value, Mapping | list | tuple):
                text = where + suffix if depth < limit else where
                stack.append((value, depth + 1, text))
    return None


# ---------------------------------------------------------------------------
# Error formatting
# ---------------------------------------------------------------------------

#: Plain-words descriptions of the string patterns used in the schema.
_PATTERN_HINTS = {
    r"^[A-Z]{3}$": "a three-letter ISO 4217 currency code in capitals, such as 'GBP' or 'EUR'",
}

#: Error types meaning "this should have been a table".
_TABLE_TYPES = {"model_type", "model_attributes_type", "dict_type"}


#: The model an error's location starts from while :func:`format_validation_error` runs:
#: :class:`Scenario`, or another file's root model (a portfolio's).
_ROOT: ContextVar[type[BaseModel]] = ContextVar("root", default=Scenario)


def format_validation_error(
    exc: ValidationError,
    data: Mapping[str, Any],
    source: str = "scenario",
    locate: Callable[[list[int | str]], str | None] | None = None,
    root: type[BaseModel] = Scenario,
) -> str:
    """Turn a pydantic error into lines of ``source: field.path: problem (got value)``.

    Each line names the field path (with the item's name for list items), the
    bad value and what is allowed. A misspelt key gives one line suggesting the
    right name, not a second line saying the right name is missing.
    ``locate``, given a field's location, names the cell that holds it (a
    workbook's Inputs sheet); the line then starts with that cell. ``root`` is the model
    the file validates as (a portfolio file's, for ``bondmodel pool``): the keys allowed,
    the suggestions and the alternatives are read from it.
    """
    token = _ROOT.set(root)
    try:
        return _format(exc, data, source, locate)
    finally:
        _ROOT.reset(token)


def _format(
    exc: ValidationError,
    data: Mapping[str, Any],
    source: str,
    locate: Callable[[list[int | str]], str | None] | None,
) -> str:

    def where(loc: list[int | str]) -> str:
        text = _loc_text(loc, data)
        cell = locate(loc) if locate is not None else None
        return f"{cell} ({text})" if cell is not None else text

    errors = exc.errors()
    suggested = _misspelt_keys(errors)
    alternatives = _union_alternatives(errors)
    lines = []
    for err in errors:
        raw_loc = list(err["loc"])
        loc = _clean_loc(raw_loc)
        kind = err["type"]
        if kind == "missing" and tuple(loc) in suggested.values():
            continue  # reported as the misspelt key that should have been this one
        if kind == "missing" and loc[-1:] == ["distribution"] and _fitted_wrongly(loc, errors):
            continue  # the input's fit failed (its own line): the distribution it gives is due
        if kind == "too_short" and _has_item_errors(raw_loc, errors):
            continue  # the list's items failed; its "length after validation" says nothing more
        if _ends_in_union_member(raw_loc):
            # a value that fits none of a field's alternatives: one line for all of them
            allowed = alternatives.pop(tuple(loc), None)
            if allowed is not None:
                lines.append(
                    f"{source}: {where(loc)}: should be {allowed} (got {_show(err.get('input'))})"
                )
            continue
        ctx = err.get("ctx") or {}
        original = ctx.get("error")
        value = err.get("input")
        message = err["msg"]
        show_value = True
        hint = ""
        also: list[str] = []
        if original is not None and hasattr(original, "loc"):
            # a check across fields that knows which field to blame (and each further
            # problem it found, a line each)
            also = [
                f"{source}: {where([*loc, *more.loc])}: {more.message}"
                for more in getattr(original, "also", ())
            ]
            loc = [*loc, *original.loc]
            message = original.message
            show_value = False
        elif kind == "value_error":
            message = str(original) if original is not None else message
            message = message.removeprefix("Value error, ")
            show_value = "got" not in message and not isinstance(value, dict)
        elif kind == "extra_forbidden":
            message = _unknown_key_message(raw_loc, suggested.get(tuple(loc)))
            show_value = False
        elif kind == "missing":
            message = "is required but missing"
            allowed = _literal_values(raw_loc)
            tags = _tags_of(raw_loc)
            if allowed:
                message += f"; allowed: {allowed}"
            elif tags:
                message += f"; give a table whose type is one of {tags}"
            show_value = False
        elif kind == "union_tag_invalid":
            loc = [*loc, ctx.get("discriminator", "type").strip("'")]
            tag, expected = ctx.get("tag"), ctx.get("expected_tags")
            # a list's item (routes[5]) is named by its list in the singular: "route"
            what = loc[-2] if not isinstance(loc[-2], int) else str(loc[-3]).removesuffix("s")
            message = f"unknown {what} type {tag!r}; allowed: {expected}"
            show_value = False
        elif kind == "union_tag_not_found":
            loc = [*loc, ctx.get("discriminator", "type").strip("'")]
            message = f"is required but missing; allowed: {_tags_of(raw_loc)}"
            show_value = False
        elif kind in _TABLE_TYPES:
            message = "should be a table of settings"
        elif kind == "tuple_type" and _model_at(raw_loc) is not None:
            # a list of tables (members, partners, costs): an array of numbers is no example
            message = f"should be a list of tables (TOML [[{loc[-1]}]] sections)"
        elif kind == "tuple_type":
            message = "should be a list (a TOML array such as [0.25, 0.75])"
        elif kind in ("too_short", "too_long"):
            message = message.replace("Tuple", "List")
        elif kind == "string_pattern_mismatch":
            described = _PATTERN_HINTS.get(str(ctx.get("pattern")))
            if described:
                message = f"should be {described}"
        elif kind == "date_type" and isinstance(value, str):
            hint = "; write a TOML date without quotes, such as 2026-04-01"
        elif kind == "date_type" and isinstance(value, datetime):
            hint = "; give the date alone, without a time, such as 2026-04-01"
        elif kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
            # a TOML integer beyond float64's range: a number, but none a field can hold
            message = (
                "should be a number a field can hold: at most about 1.8e308 in size, and "
                "within the field's bounds"
            )
        elif kind == "int_type" and isinstance(value, float | str):
            hint = "; give a whole number without quotes, such as 25"
        if show_value:
            message = f"{message} (got {_show(value)})"
        message += hint
        lines.append(f"{source}: {where(loc) or '(top level)'}: {message}")
        lines.extend(also)
    return "\n".join(lines)


def _union_alternatives(errors: list[Any]) -> dict[tuple[Any, ...], str]:
    """For fields such as ``float | Literal['sized']``: what each alternative allows.

    pydantic reports one error per alternative, located at the field plus the
    alternative's label (``constrained-float``, ``literal['sized']``); these
    are joined into one description per field.
    """
    found: dict[tuple[Any, ...], list[str]] = {}
    for err in errors:
        raw_loc = list(err["loc"])
        if _ends_in_union_member(raw_loc):
            text = str(err["msg"]).removeprefix("Input should be ").removeprefix("Value error, ")
            found.setdefault(tuple(_clean_loc(raw_loc)), []).append(text)
    return {loc: ", or ".join(texts) for loc, texts in found.items()}


def _ends_in_union_member(loc: list[Any]) -> bool:
    """Whether ``loc`` ends in the label pydantic gives an alternative of a union field."""
    return bool(loc) and len(_clean_loc(loc)) < len(loc) and _walk(loc)[2]


def _misspelt_keys(errors: list[Any]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Unknown keys that look like a missing required key at the same place.

    Returns ``{unknown key location: missing key location}`` (tags removed).
    """
    missing: dict[tuple[Any, ...], list[str]] = {}
    for err in errors:
        if err["type"] == "missing" and err["loc"] and isinstance(err["loc"][-1], str):
            loc = tuple(_clean_loc(list(err["loc"])))
            missing.setdefault(loc[:-1], []).append(str(loc[-1]))
    found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for err in errors:
        if err["type"] != "extra_forbidden":
            continue
        loc = tuple(_clean_loc(list(err["loc"])))
        close = difflib.get_close_matches(str(loc[-1]), missing.get(loc[:-1], []), n=1)
        if close:
            found[loc] = (*loc[:-1], close[0])
    return found


def _unknown_key_message(raw_loc: list[Any], missing_loc: tuple[Any, ...] | None) -> str:
    key = str(raw_loc[-1])
    allowed = _allowed_keys(raw_loc[:-1])
    message = f"unknown key {_cut(key, repr)}"
    if missing_loc is not None:
        message += f" (did you mean {missing_loc[-1]!r}, which is required?)"
    else:
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    if allowed:
        message += f"; allowed keys: {', '.join(allowed)}"
    if len(raw_loc) > 1 and key in _ROOT.get().model_fields:
        message += (
            f"; '{key}' is a top-level key: in TOML, a key written after a [table] header "
            "belongs to that table, so move it above the first [table]"
        )
    return message


def _fitted_wrongly(loc: list[Any], errors: list[Any]) -> bool:
    """Whether a risk input at ``loc[:-1]`` has an error in its own ``fit`` table: then its
    missing distribution follows from the fit's problem and is not a second one."""
    parent = loc[:-1]
    return any(_clean_loc(list(e["loc"]))[: len(parent) + 1] == [*parent, "fit"] for e in errors)


def _has_item_errors(raw_loc: list[Any], errors: list[Any]) -> bool:
    """Whether another error lies inside the list at ``raw_loc`` (one of its items)."""
    n = len(raw_loc)
    return any(
        len(e["loc"]) > n and list(e["loc"][:n]) == raw_loc and isinstance(e["loc"][n], int)
        for e in errors
    )


def _key_shown(key: Any) -> str:
    """A key as an error message shows it: as written, or quoted and escaped (``'\\x1b'``)
    when it holds a control, bidirectional or other misleading character."""
    text = str(key)
    return _cut(text, str if bad_character(text) is None else repr)


#: Longest key a message shows whole; a longer one is cut (a file's key may be megabytes).
MAX_KEY_SHOWN = 80


def _cut(key: str, show: Callable[[str], str]) -> str:
    """``key`` as ``show`` writes it, or its start and end and its length if it is long."""
    if len(key) <= MAX_KEY_SHOWN:
        return show(key)
    return f"{show(key[:40])}...{show(key[-8:])} ({len(key):,} characters)"


def _loc_text(loc: list[int | str], data: Mapping[str, Any]) -> str:
    """``partners[1] ('Eastbrook').name``: the path, with each list item's name if it has one."""
    parts: list[str] = []
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            label = f"[{part}]"
            try:
                node = node[part]
                name = node.get("name") if isinstance(node, dict) else None
                if isinstance(name, str) and name and bad_character(name) is None:
                    # a name that could mislead (a bidirectional control) is not repeated
                    label += f" ('{name}')"
            except (IndexError, KeyError, TypeError):
                node = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + _key_shown(part))
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts)


def _walk(loc: list[Any]) -> tuple[list[Any], type[BaseModel] | None, bool]:
    """Follow ``loc`` through the schema from the root model (:class:`Scenario`, or
    another file's: ``_ROOT``).

    pydantic puts labels that are not field names into error locations: the
    tag of a tagged union such as a ramp (``'linear'``), and the alternative
    of a plain union such as ``float | Literal['sized']`` (``'constrained-float'``).
    Returns the location without them, the model found at the end (None if
    it is not a model) and whether the last part was a plain union's label.
    """
    clean: list[Any] = []
    model: type[BaseModel] | None = _ROOT.get()
    union: Any = None  # a tagged union awaiting its tag
    plain: Any = None  # a plain union awaiting the label of an alternative
    last_was_member = False
    for part in loc:
        last_was_member = False
        if isinstance(part, int):
            clean.append(part)
            continue
        if union is not None and part in _union_tags(union):
            model, union = _model_of(union, part), None
            continue
        if plain is not None:
            members = [m for m in _members(plain) if getattr(m, "__name__", None) == part]
            model = members[0] if members and _is_model(members[0]) else None
            plain, last_was_member = None, True
            continue
        clean.append(part)
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            model, union = None, None
        elif len(_union_tags(field.annotation)) > 1:
            model, union = None, field.annotation
        elif len(_members(field.annotation)) > 1:
            model, plain = None, field.annotation
        else:
            model, union = _model_of(field.annotation), None
    return clean, model, last_was_member


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union annotation, without None; [] if it is not a union."""
    if get_origin(annotation) not in (Union, UnionType):
        return []
    return [arg for arg in get_args(annotation) if arg is not type(None)]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _clean_loc(loc: list[Any]) -> list[Any]:
    """``loc`` without discriminator tags."""
    return _walk(loc)[0]


def _model_at(loc: list[Any]) -> type[BaseModel] | None:
    """The model found at ``loc`` (as pydantic gives it) inside the root model."""
    return _walk(loc)[1]


def _allowed_keys(loc: list[Any]) -> list[str]:
    """The field names of the model found at ``loc`` inside the root model."""
    model = _model_at(loc)
    return sorted(model.model_fields) if model is not None else []


def _tags_of(loc: list[Any]) -> str:
    """The discriminator tags allowed for the union field at ``loc``."""
    parent = _model_at(loc[:-1])
    field = parent.model_fields.get(str(loc[-1])) if parent is not None else None
    tags = sorted(_union_tags(field.annotation)) if field is not None else []
    return ", ".join(repr(t) for t in tags)


def _literal_values(loc: list[Any]) -> str:
    """For a missing literal-typed field (a ramp's ``type``), the values it may take."""
    parent = _model_at(loc[:-1])
    field = parent.model_fields.get(str(loc[-1])) if parent is not None else None
    if field is None or get_origin(field.annotation) is not Literal:
        return ""
    return ", ".join(repr(v) for v in get_args(field.annotation))


def _union_tags(annotation: Any) -> set[str]:
    tags: set[str] = set()
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            tag = arg.model_fields.get("type")
            if tag is not None:
                tags.update(str(v) for v in get_args(tag.annotation))
        else:
            tags |= _union_tags(arg)
    return tags


def _model_of(annotation: Any, tag: str | None = None) -> type[BaseModel] | None:
    """The model inside ``annotation``; for a tagged union, the member with ``type = tag``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if tag is None:
            return annotation
        field = annotation.model_fields.get("type")
        if field is not None and tag in get_args(field.annotation):
            return annotation
        return None
    for arg in get_args(annotation):
        found = _model_of(arg, tag)
        if found is not None:
            return found
    return None
