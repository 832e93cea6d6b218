"""The generated bad-input corpus for portfolio files (``bondmodel pool``), class by class.

tests/bad_inputs/pools/ holds hand-written portfolio cases; this module generates
the classes that are large, each case a portfolio file built from
templates/pools/pooled-programme.toml (its members' scenario files pointed at the
repository's templates), with one thing broken, run through the API and the real
CLI by tests/test_bad_pool_classes.py:

* **numeric extremes**: every bounded number field of the portfolio schema, found
  by walking :class:`~bondmodel.pool.schema.PortfolioFile`'s fields and their
  annotated bounds (so a new field joins automatically), just past each bound, at
  1e308, as inf and nan, and as -10**400 (a TOML integer past float64's range);
* **wrong types** for every field: a string, a boolean or a table where a number
  goes, a number, a boolean or a list where text goes, a number or another case
  where a choice goes, a table or a number where a list goes, a number, a list or
  text where a table goes;
* **text classes** in every name (the pool's, a member's name and key, a
  tranche's), in the description, in a member's scenario path and in unknown keys;
* **sizes**: a whole number too long to read, more members than
  :data:`~bondmodel.pool.schema.MAX_MEMBERS` (refused before any member's scenario
  is read), no members, more than ten tranches;
* **rules across fields**, generated per combination: the guarantee's type against
  its amount and cap, the reserve's amount against its share, a member's scenario
  against its inline table, tranche shares that do not sum to 1, repeated names and
  keys, guarantee shares given by some members only, the pool's maturities, grace,
  repayment fields and factor matrix;
* **members' programmes** that cannot be read or hold two problems (a line each);
* **checks made once the members are read** (whole payment periods, a tranche or a
  reserve out of proportion to the principal, a member's loan on another grid or
  past the pool's maturity): each case reads and compiles the four members, so
  there are few.

Each case names the field path its message must start with and words it must
contain, worked out here from the rule (not copied from the output).
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import sys
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import tomli_w
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bondmodel.conventions import FREQUENCIES
from bondmodel.pool.schema import MAX_MEMBERS, PortfolioFile
from bondmodel.scenario.fieldtypes import MAX_DESCRIPTION, MAX_MONEY, MAX_NAME

from .bad_input_classes import (
    DESCRIPTION_CHARACTERS,
    NAME_CHARACTERS,
    ROOT,
    Case,
    _text_case,
    _toml_case,
    shown,
)


@dataclass(frozen=True)
class PoolCase(Case):
    """A case whose file has ``lines`` problems, a line of the message each (else one)."""

    lines: int = 1


def _problems(case: Case, lines: int) -> PoolCase:
    return PoolCase(case.file, case.description, case.field, case.words, case.write, lines)


POOL_TEMPLATE = ROOT / "templates" / "pools" / "pooled-programme.toml"
#: Most tranches a portfolio may have (the schema's bound, stated here as the rule).
MAX_TRANCHES = 10


def base_data() -> dict[str, Any]:
    """The pooled-programme template with each member's scenario file an absolute path
    to the repository's templates, so that a case written anywhere reads the same members."""
    data = tomllib.loads(POOL_TEMPLATE.read_text(encoding="utf-8"))
    for member in data["members"]:
        if "scenario" in member:
            member["scenario"] = str((POOL_TEMPLATE.parent / member["scenario"]).resolve())
    return data


def _parts(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.findall(r"[a-z_]+|\d+", path)]


def _put(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``path`` set to ``value``, the tables on the way created."""
    out = copy.deepcopy(data)
    parts = _parts(path)
    node: Any = out
    for part in parts[:-1]:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return out


def _drop(data: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(data)
    parts = _parts(path)
    node: Any = out
    for part in parts[:-1]:
        node = node[part]
    node.pop(parts[-1], None)
    return out


# ---------------------------------------------------------------------------
# The schema, walked
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """One field of the portfolio schema, as the walk finds it.

    ``path`` is where the base gets it (list items by index, the first item that gives
    the field); ``kind`` is what the field holds; ``depth`` how many lists of numbers
    enclose a number (a matrix's entry: 2); ``bounds`` the number's ``ge``/``gt``/``le``/
    ``lt``; ``finite`` whether the schema refuses inf and nan; ``choices`` a choice's values.
    """

    path: str
    kind: Literal["number", "integer", "text", "choice", "table", "list", "tables", "mapping"]
    depth: int = 0
    bounds: tuple[tuple[str, float], ...] = ()
    finite: bool = False
    choices: tuple[str, ...] = ()


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """The type under ``Annotated`` and ``X | None``, with the metadata on the way."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            annotation = args[0]
            for extra in args[1:]:
                metadata += extra.metadata if isinstance(extra, FieldInfo) else [extra]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                raise TypeError(f"the walk does not know the union {annotation!r}")
            annotation = options[0]
        else:
            return annotation, metadata


def _number(path: str, annotation: Any, metadata: list[Any], depth: int) -> Leaf:
    bounds: list[tuple[str, float]] = []
    finite = False
    for item in metadata:
        for kind, cls in (("ge", Ge), ("gt", Gt), ("le", Le), ("lt", Lt)):
            if isinstance(item, cls):
                bounds.append((kind, float(getattr(item, kind))))
        if getattr(item, "allow_inf_nan", None) is False:
            finite = True
    number: Literal["number", "integer"] = "integer" if annotation is int else "number"
    return Leaf(path, number, depth, tuple(bounds), finite)


def _given_index(items: Any, name: str) -> int:
    """The first item of a base list that gives ``name``, else the first item."""
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict) and name in item:
                return i
    return 0


def schema_leaves(
    model: type[BaseModel] = PortfolioFile, prefix: str = "", base: Any = None
) -> list[Leaf]:
    """Every field of ``model``, depth first, each table and list before what it holds."""
    base = base_data() if base is None and model is PortfolioFile else base
    out: list[Leaf] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        node = base.get(name) if isinstance(base, dict) else None
        annotation, metadata = _unwrap(info.annotation, list(info.metadata))
        depth = 0
        while typing.get_origin(annotation) is tuple:
            element = typing.get_args(annotation)[0]
            inner, inner_meta = _unwrap(element, [])
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                out.append(Leaf(path, "tables"))
                first = {}
                i = 0
                if isinstance(node, list) and node:
                    i = _given_index(node, "name")
                    first = node[i]
                out.append(Leaf(f"{path}[{i}]", "table"))
                for sub in inner.model_fields:
                    j = _given_index(node, sub)
                    item = node[j] if isinstance(node, list) and len(node) > j else first
                    out.extend(
                        leaf
                        for leaf in schema_leaves(inner, f"{path}[{j}]", item)
                        if leaf.path.startswith(f"{path}[{j}].{sub}")
                    )
                annotation = None
                break
            if depth == 0:
                out.append(Leaf(path, "list"))
            depth += 1
            annotation, metadata = inner, inner_meta
        if annotation is None:
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.append(Leaf(path, "table"))
            out.extend(schema_leaves(annotation, path, node))
        elif annotation in (float, int):
            out.append(_number(path, annotation, metadata, depth))
        elif annotation is str:
            out.append(Leaf(path, "text", depth))
        elif typing.get_origin(annotation) is Literal:
            out.append(Leaf(path, "choice", depth, choices=typing.get_args(annotation)))
        elif typing.get_origin(annotation) is dict:
            out.append(Leaf(path, "mapping"))
        else:
            raise TypeError(f"the walk does not know the type of {path}: {annotation!r}")
    return out


def _bound(value: float) -> str:
    """A bound as pydantic writes it: a whole number without its point."""
    return str(int(value)) if value.is_integer() else repr(value)


_WORDS = {
    "ge": "greater than or equal to",
    "gt": "greater than",
    "le": "less than or equal to",
    "lt": "less than",
}


def _past(kind: str, bound: float, integer: bool) -> float:
    """The nearest value outside a bound: the bound itself when strict, else the next
    number outward (the next float, or the next whole number)."""
    if kind in ("gt", "lt"):
        return int(bound) if integer else bound
    outward = math.inf if kind == "le" else -math.inf
    if integer:
        return int(bound) + (1 if kind == "le" else -1)
    return math.nextafter(bound, outward)


def _slug(path: str) -> str:
    return re.sub(r"\W+", "_", re.sub(r"\[\d+\]", "", path)).strip("_")


def _at_depth(data: dict[str, Any], leaf: Leaf, value: Any) -> tuple[dict[str, Any], str]:
    """``data`` with ``value`` at the leaf (a list of numbers' first entry), and its path."""
    path = leaf.path + "[0]" * leaf.depth
    if leaf.depth == 0:
        return _put(data, path, value), path
    node: Any = data
    for part in _parts(leaf.path):
        node = node.get(part) if isinstance(node, dict) else node[part] if node else None
    if node is None:
        wrapped: Any = value
        for _ in range(leaf.depth):
            wrapped = [wrapped]
        return _put(data, leaf.path, wrapped), path
    return _put(data, path, value), path


#: What a message says of a whole number beyond float64's range (about 1.8e308).
BEYOND_FLOAT = ["a whole number of", "at most about 1.8e308"]


def numeric_cases() -> list[Case]:
    """Every bounded number field: just past each bound, 1e308, inf and nan."""
    data = base_data()
    cases: list[Case] = []
    for leaf in schema_leaves():
        if leaf.kind not in ("number", "integer"):
            continue
        integer = leaf.kind == "integer"
        values: list[tuple[str, Any, list[str]]] = []
        for kind, bound in leaf.bounds:
            value = _past(kind, bound, integer)
            label = "below" if kind in ("ge", "gt") else "above"
            values.append((label, value, [f"{_WORDS[kind]} {_bound(bound)}", repr(value)]))
        if not integer:
            upper = [(k, b) for k, b in leaf.bounds if k in ("le", "lt")]
            if upper:
                kind, bound = upper[0]
                values.append(("huge", 1e308, [f"{_WORDS[kind]} {_bound(bound)}", "1e+308"]))
            values.append(("inf", math.inf, ["finite"]))
            values.append(("nan", math.nan, ["finite"]))
            # a TOML integer past float64's range: shown short, and what a field can hold
            values.append(("integer_past_float", -(10**400), [*BEYOND_FLOAT, "401 digits"]))
        for label, value, words in values:
            bad, path = _at_depth(data, leaf, value)
            cases.append(
                _toml_case(
                    f"gen_pool_num_{_slug(leaf.path)}_{label}.toml",
                    f"{path} = {str(value)[:20]} ({label} its bounds)",
                    shown(path, bad),
                    words,
                    bad,
                )
            )
    return cases


# ---------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------


def _wrong_values(leaf: Leaf) -> list[tuple[str, Any, list[str]]]:
    """What each kind of field is given instead, with the words its message must hold."""
    if leaf.kind == "number":
        return [
            ("string", "0.5", ["a valid number", "'0.5', a string"]),
            ("boolean", True, ["a valid number", "true, a boolean"]),
            ("table", {"value": 1.0}, ["a valid number", "a table"]),
        ]
    if leaf.kind == "integer":
        return [
            ("string", "5", ["a valid integer", "'5', a string"]),
            ("boolean", True, ["a valid integer", "true, a boolean"]),
        ]
    if leaf.kind == "text":
        return [
            ("number", 7, ["a valid string", "7"]),
            ("boolean", False, ["a valid string", "false, a boolean"]),
            ("list", ["a"], ["a valid string", "['a'], a list"]),
        ]
    if leaf.kind == "choice":
        return [
            ("number", 1, [repr(choice) for choice in leaf.choices]),
            ("other_case", str(leaf.choices[0]).upper(), [repr(c) for c in leaf.choices]),
        ]
    if leaf.kind == "list":
        return [
            ("table", {"a": 1}, ["should be a list", "[0.25, 0.75]"]),
            ("number", 1.0, ["should be a list", "[0.25, 0.75]"]),
        ]
    if leaf.kind == "tables":
        sections = f"[[{leaf.path.rsplit('.', 1)[-1]}]]"
        return [
            ("table", {"a": 1}, ["should be a list of tables", sections]),
            ("number", 1.0, ["should be a list of tables", sections]),
        ]
    return [  # a table (a model or the inline scenario)
        ("number", 5, ["should be a table"]),
        ("list", [1], ["should be a table"]),
        ("text", "x", ["should be a table"]),
    ]


def type_cases() -> list[Case]:
    """Every field given a value of the wrong type."""
    data = base_data()
    cases: list[Case] = []
    for leaf in schema_leaves():
        for label, value, words in _wrong_values(leaf):
            bad, path = _at_depth(data, leaf, value)
            cases.append(
                _toml_case(
                    f"gen_pool_type_{_slug(path)}{'_item' * (path.endswith(']'))}_{label}.toml",
                    f"{path} given a {label} ({value!r})",
                    shown(path, bad),
                    words,
                    bad,
                )
            )
    return cases


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------

#: Every name of a portfolio: the pool's, a member's name and key, a tranche's.
NAME_FIELDS = ("name", "members[0].name", "members[0].key", "tranches[0].name")


def _name_values() -> list[tuple[str, str, list[str]]]:
    """Each text a :data:`~bondmodel.scenario.fieldtypes.Name` refuses, with its words."""
    values = [
        (label, f"Ab{ch}cd", [words, f"U+{ord(ch):04X}"])
        for label, (ch, words) in NAME_CHARACTERS.items()
    ]
    values += [
        ("excel_escape", "Ab_x000D_cd", ["'_x000D_'", "escape a character"]),
        ("leading_space", " Abcd", ["start or end with a space", "' Abcd'"]),
        ("trailing_space", "Abcd ", ["start or end with a space", "'Abcd '"]),
        ("only_spaces", "   ", ["start or end with a space", "'   '"]),
        ("empty", "", ["at least 1 character"]),
        ("too_long", "A" * (MAX_NAME + 1), [f"at most {MAX_NAME} characters"]),
    ]
    return values


def text_cases() -> list[Case]:
    """Every name, the description and a member's scenario path holding what text may not."""
    data = base_data()
    cases: list[Case] = []
    for path in NAME_FIELDS:
        for label, text, words in _name_values():
            bad = _put(data, path, text)
            cases.append(
                _toml_case(
                    f"gen_pool_text_{_slug(path)}_{label}.toml",
                    f"{path} = {text[:20]!r}",
                    shown(path, bad),
                    words,
                    bad,
                )
            )
    allowed = "line breaks and tabs allowed"
    for label, ch in DESCRIPTION_CHARACTERS:
        cases.append(
            _toml_case(
                f"gen_pool_text_description_{label}.toml",
                f"a description holding U+{ord(ch):04X}",
                "description",
                [f"U+{ord(ch):04X}", allowed],
                _put(data, "description", f"Line one\r\n\tLine{ch}two"),
            )
        )
    for label, text, words in (
        ("excel_escape", "Overlapping _x0041_x0042_ escapes", ["'_x0041_'", "would not read"]),
        ("too_long", "A" * (MAX_DESCRIPTION + 1), [f"at most {MAX_DESCRIPTION} characters"]),
    ):
        cases.append(
            _toml_case(
                f"gen_pool_text_description_{label}.toml",
                f"a description: {label.replace('_', ' ')}",
                "description",
                words,
                _put(data, "description", text),
            )
        )
    # an unknown key holding a control: named escaped, with the keys allowed there
    for table in ("", "bond", "members[0]"):
        for label, key in (("rlo", "ab\u202ecd"), ("newline", "ab\ncd")):
            bad = _put(data, f"{table}.x" if table else "x", 1)
            node: Any = bad
            for part in _parts(table):
                node = node[part]
            node[key] = node.pop("x")
            cases.append(
                _toml_case(
                    f"gen_pool_text_unknown_key_{_slug(table or 'top')}_{label}.toml",
                    f"an unknown key {key!r} in {table or 'the top level'}",
                    f"{shown(table, bad) + '.' if table else ''}{key!r}",
                    [f"unknown key {key!r}", "allowed keys"],
                    bad,
                )
            )
    # a member's scenario path: shown escaped, never raw (a newline would start a line
    # that does not name the portfolio file)
    member = "members[0].scenario"
    for label, ch in (("newline", "\n"), ("nul", "\x00"), ("rlo", "\u202e"), ("del", "\x7f")):
        bad = _put(data, member, f"../sib{ch}limited.toml")
        cases.append(
            _toml_case(
                f"gen_pool_text_scenario_path_{label}.toml",
                f"a member's scenario path holding U+{ord(ch):04X}",
                shown(member, bad),
                [f"U+{ord(ch):04X}"],
                bad,
            )
        )
    for label, text, words in (
        ("empty", "", ["at least 1 character"]),
        ("too_long", "a/" * 600 + "x.toml", ["at most 1000 characters"]),
    ):
        bad = _put(data, member, text)
        cases.append(
            _toml_case(
                f"gen_pool_text_scenario_path_{label}.toml",
                f"a member's scenario path: {label.replace('_', ' ')}",
                shown(member, bad),
                words,
                bad,
            )
        )
    return cases


# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------


def size_cases() -> list[Case]:
    """Runs of characters the reader must measure in linear time (a whole number too long
    to read, of 4,302 and of 100,000 digits; a key of 250,000 characters, shown cut);
    too many members (each naming a scenario file that does not exist, so a message about
    the files would show the size was not checked first), none, too many tranches."""
    data = base_data()
    template = tomli_w.dumps(_put(data, "members[1].loan", 987654321))
    runs: list[Case] = []
    for digits in (sys.get_int_max_str_digits() + 2, 100_000):
        text = template.replace("987654321", "1" * digits)
        runs.append(
            _text_case(
                f"gen_pool_size_integer_{digits}_digits.toml",
                f"a loan of {digits:,} digits, more than Python reads",
                f"line {text[: text.index('1' * digits)].count(chr(10)) + 1}",
                [f"a whole number of {digits:,} digits", "too long to read", "at most 4,300"],
                text,
            )
        )
    key = "k" * 250_000
    runs.append(
        _text_case(
            "gen_pool_size_key_of_250000_characters.toml",
            "an unknown key of 250,000 characters, at the top",
            f"{key[:40]}...{key[-8:]} (250,000 characters)",
            ["unknown key 'kkkk", "(250,000 characters); allowed keys: bond,"],
            f"{key} = 1\n{template}",
        )
    )
    many = copy.deepcopy(data)
    many["members"] = [
        {"name": f"Council {i}", "scenario": "no-such-member.toml"} for i in range(MAX_MEMBERS + 1)
    ]
    many["guarantee"] = {"type": "none"}
    none = copy.deepcopy(data)
    none["members"] = []
    n = MAX_TRANCHES + 1
    tranches = copy.deepcopy(data)
    tranches["tranches"] = [{"name": f"T{k}", "share": 1.0 / n} for k in range(n)]
    return [
        *runs,
        _toml_case(
            "gen_pool_size_members_over_max.toml",
            f"{MAX_MEMBERS + 1:,} members",
            "members",
            [f"at most {MAX_MEMBERS} items", f"not {MAX_MEMBERS + 1}"],
            many,
        ),
        _toml_case(
            "gen_pool_size_no_members.toml",
            "no members",
            "members",
            ["at least 1 item"],
            none,
        ),
        _toml_case(
            "gen_pool_size_tranches_over_max.toml",
            f"{n} tranches",
            "tranches",
            [f"at most {MAX_TRANCHES} items", f"not {n}"],
            tranches,
        ),
    ]


# ---------------------------------------------------------------------------
# Rules across fields
# ---------------------------------------------------------------------------


def _guarantee_cases(data: dict[str, Any]) -> list[Case]:
    """Each type with and without an amount and a cap: the combinations the rule refuses
    (an amount with 'first_loss' only and always; a cap with 'joint_and_several' only and
    always), each broken rule a line of its own naming its field."""
    needs = (("first_loss", "amount", 5_000_000.0), ("joint_and_several", "cap", 0.05))
    cases: list[Case] = []
    for kind, amount, cap in itertools.product(
        ("none", "first_loss", "joint_and_several"), (False, True), (False, True)
    ):
        guarantee: dict[str, Any] = {"type": kind}
        given = {"amount": amount, "cap": cap}
        problems = []
        for needed_by, field_, value in needs:
            if given[field_]:
                guarantee[field_] = value
            if kind == needed_by and not given[field_]:
                problems.append(f"guarantee.{field_}: is required with type = '{needed_by}'")
            elif kind != needed_by and given[field_]:
                problems.append(f"guarantee.{field_}: is only allowed with type = '{needed_by}'")
        if not problems:
            continue
        bad = copy.deepcopy(data)
        bad["guarantee"] = guarantee
        if kind != "joint_and_several":
            for member in bad["members"]:
                member.pop("guarantee_share", None)
        with_ = "_".join(f for f in ("amount", "cap") if given[f]) or "nothing"
        case = _toml_case(
            f"gen_pool_rule_guarantee_{kind}_with_{with_}.toml",
            f"guarantee type {kind!r} with {with_}: {len(problems)} problem(s)",
            problems[0].split(":")[0],
            problems,
            bad,
        )
        cases.append(_problems(case, len(problems)))
    return cases


def _guarantee_share_cases(data: dict[str, Any]) -> list[Case]:
    """Every subset of members giving a guarantee share: some but not all (the first
    without one named), and all of them under each guarantee that is not joint."""
    n = len(data["members"])
    cases: list[Case] = []
    for size in range(1, n):
        for given in itertools.combinations(range(n), size):
            bad = copy.deepcopy(data)
            for i in given:
                bad["members"][i]["guarantee_share"] = 0.25
            first = min(set(range(n)) - set(given))
            cases.append(
                _toml_case(
                    f"gen_pool_rule_guarantee_share_partial_{''.join(map(str, given))}.toml",
                    f"guarantee shares given by members {given} only",
                    shown(f"members[{first}].guarantee_share", bad),
                    ["is missing while other members give one", "pro rata to loans"],
                    bad,
                )
            )
    for kind, extra in (("none", {}), ("first_loss", {"amount": 1_000_000.0})):
        bad = copy.deepcopy(data)
        for member in bad["members"]:
            member["guarantee_share"] = 0.25
        bad["guarantee"] = {"type": kind, **extra}
        cases.append(
            _toml_case(
                f"gen_pool_rule_guarantee_share_under_{kind}.toml",
                f"every member gives a guarantee share under a {kind!r} guarantee",
                shown("members[0].guarantee_share", bad),
                ["is only allowed with guarantee.type = 'joint_and_several'"],
                bad,
            )
        )
    return cases


def _one_of_cases(data: dict[str, Any]) -> list[Case]:
    """Pairs of fields of which exactly one is given: both, and neither."""
    cases: list[Case] = []
    reserve_words = ["give exactly one of amount (pounds) or share"]
    for label, reserve in (("both", {"amount": 1_000_000.0, "share": 0.02}), ("neither", {})):
        bad = copy.deepcopy(data)
        bad["reserve"] = reserve
        cases.append(
            _toml_case(
                f"gen_pool_rule_reserve_{label}.toml",
                f"a reserve with {label} of amount and share",
                "reserve.amount",
                reserve_words,
                bad,
            )
        )
    for i, member in enumerate(data["members"]):
        bad = copy.deepcopy(data)
        if "scenario" in member:
            bad["members"][i]["inline"] = copy.deepcopy(data["members"][3]["inline"])
            label = "both"
        else:
            del bad["members"][i]["inline"]
            label = "neither"
        cases.append(
            _toml_case(
                f"gen_pool_rule_member{i}_programme_{label}.toml",
                f"member {i} with {label} of scenario and inline",
                shown(f"members[{i}].scenario", bad),
                ["give exactly one of scenario", "or inline"],
                bad,
            )
        )
    return cases


def _tranche_share_cases(data: dict[str, Any]) -> list[Case]:
    """1 to 10 tranches whose shares sum to less or more than 1, just past the tolerance."""
    cases: list[Case] = []
    for n in range(1, MAX_TRANCHES + 1):
        for label, total in (("half", 0.5), ("short", 1 - 1e-8), ("over", 1 + 1e-8)):
            share = total / n
            if share > 1.0:
                continue  # a single share above 1 is refused by its bound
            bad = copy.deepcopy(data)
            bad["tranches"] = [{"name": f"T{k}", "share": share} for k in range(n)]
            got = math.fsum([share] * n)
            cases.append(
                _toml_case(
                    f"gen_pool_rule_tranches_{n}_sum_{label}.toml",
                    f"{n} tranches whose shares sum to {got!r}",
                    shown("tranches[0].share", bad),
                    [f"sum to {got:.12g}", "they must sum to 1"],
                    bad,
                )
            )
    return cases


def _duplicate_cases(data: dict[str, Any]) -> list[Case]:
    """Each pair of members with one name, or one stream key (a key equal to another's
    key or to another's name, in either order), and each pair of tranches with one name.
    The member that gave the repeated value is named."""
    cases: list[Case] = []
    n = len(data["members"])
    for i, j in itertools.permutations(range(n), 2):
        if i < j:
            bad = copy.deepcopy(data)
            bad["members"][j]["name"] = data["members"][i]["name"]
            cases.append(
                _toml_case(
                    f"gen_pool_rule_duplicate_name_{i}{j}.toml",
                    f"members {i} and {j} with one name",
                    shown(f"members[{j}].name", bad),
                    [f"{data['members'][i]['name']!r} appears twice", "must be unique"],
                    bad,
                )
            )
            bad = copy.deepcopy(data)
            bad["members"][i]["key"] = "shared key"
            bad["members"][j]["key"] = "shared key"
            cases.append(
                _toml_case(
                    f"gen_pool_rule_duplicate_key_{i}{j}.toml",
                    f"members {i} and {j} with one key",
                    shown(f"members[{j}].key", bad),
                    ["'shared key' appears twice", "must be unique"],
                    bad,
                )
            )
        # member j's key is member i's name (member i has no key of its own)
        bad = copy.deepcopy(data)
        bad["members"][j]["key"] = data["members"][i]["name"]
        cases.append(
            _toml_case(
                f"gen_pool_rule_key_is_name_{j}{i}.toml",
                f"member {j}'s key is member {i}'s name",
                shown(f"members[{j}].key", bad),
                [f"{data['members'][i]['name']!r} appears twice", "defaults to its name"],
                bad,
            )
        )
    for i, j in itertools.combinations(range(len(data["tranches"])), 2):
        bad = copy.deepcopy(data)
        bad["tranches"][j]["name"] = data["tranches"][i]["name"]
        cases.append(
            _toml_case(
                f"gen_pool_rule_duplicate_tranche_{i}{j}.toml",
                f"tranches {i} and {j} with one name",
                shown(f"tranches[{j}].name", bad),
                [f"{data['tranches'][i]['name']!r} appears twice", "must be unique"],
                bad,
            )
        )
    return cases


def _bond_cases(data: dict[str, Any]) -> list[Case]:
    """The pool's bond: a legal maturity before the tenor, a grace period as long as the
    tenor or longer, a sculpted profile, and each repayment field its type forbids."""
    cases: list[Case] = []
    tenor = float(data["bond"]["tenor_years"])
    for label, legal in (("just_before", math.nextafter(tenor, 0.0)), ("half", tenor / 2)):
        bad = _put(data, "bond.legal_maturity_years", legal)
        cases.append(
            _toml_case(
                f"gen_pool_rule_legal_maturity_{label}_tenor.toml",
                f"a legal maturity of {legal!r} years, before the tenor",
                "bond.legal_maturity_years",
                [f"{legal:g} is before tenor_years = {tenor:g}", "must be >= the scheduled"],
                bad,
            )
        )
    for label, grace in (("equal", tenor), ("longer", tenor + 1)):
        bad = _put(data, "bond.grace_years", grace)
        cases.append(
            _toml_case(
                f"gen_pool_rule_grace_{label}_tenor.toml",
                f"a grace period of {grace:g} years, a tenor of {tenor:g}",
                "bond.grace_years",
                [f"{grace:g} must be less than tenor_years = {tenor:g}"],
                bad,
            )
        )
    profiles = ("bullet", "eip", "annuity", "custom")
    bad = _put(data, "bond.repayment", {"type": "sculpted", "target_dscr": 1.3})
    cases.append(
        _toml_case(
            "gen_pool_rule_repayment_sculpted.toml",
            "a sculpted repayment profile",
            "bond.repayment.type",
            ["'sculpted' is not available for a pool", *(repr(p) for p in profiles)],
            bad,
        )
    )
    for kind in profiles:
        extra = {"target_dscr": 1.3} if kind != "custom" else {"schedule": [0.5, 0.4]}
        field_ = next(iter(extra))
        words = (
            ["the target of a sculpted profile, which a pool's bond cannot have"]
            if field_ == "target_dscr"
            else ["must sum to 1, got 0.9"]
        )
        bad = _put(data, "bond.repayment", {"type": kind, **extra})
        cases.append(
            _toml_case(
                f"gen_pool_rule_repayment_{kind}_with_{field_}.toml",
                f"a {kind} repayment with {field_}",
                f"bond.repayment.{field_}",
                words,
                bad,
            )
        )
        if kind != "custom":
            bad = _put(data, "bond.repayment", {"type": kind, "schedule": [1.0]})
            cases.append(
                _toml_case(
                    f"gen_pool_rule_repayment_{kind}_with_schedule.toml",
                    f"a {kind} repayment with a schedule",
                    "bond.repayment.schedule",
                    ["is only allowed with type = 'custom'"],
                    bad,
                )
            )
    bad = _put(data, "bond.repayment", {"type": "custom"})
    cases.append(
        _toml_case(
            "gen_pool_rule_repayment_custom_without_schedule.toml",
            "a custom repayment without its schedule",
            "bond.repayment.schedule",
            ["is required with type = 'custom'"],
            bad,
        )
    )
    matrices: list[tuple[str, list[list[float]], list[str]]] = [
        ("two_by_two", [[1.0, 0.0], [0.0, 1.0]], ["must be 3 x 3"]),
        ("ragged", [[1.0, 0.0, 0.0], [0.0, 1.0], [0.0, 0.0, 1.0]], ["must be 3 x 3"]),
        ("diagonal", [[1.0, 0.0, 0.0], [0.0, 0.9, 0.0], [0.0, 0.0, 1.0]], ["[1][1] is 0.9"]),
        ("asymmetric", [[1.0, 0.5, 0.0], [0.4, 1.0, 0.0], [0.0, 0.0, 1.0]], ["not symmetric"]),
        (
            "not_psd",
            [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]],
            ["not positive semi-definite"],
        ),
    ]
    for label, matrix, words in matrices:
        cases.append(
            _toml_case(
                f"gen_pool_rule_factor_correlation_{label}.toml",
                f"a factor correlation matrix: {label.replace('_', ' ')}",
                "factors.correlation",
                words,
                _put(data, "factors.correlation", matrix),
            )
        )
    return cases


def _loaded_cases(data: dict[str, Any]) -> list[Case]:
    """Checks made once the members are read (each case reads and compiles the four
    members, so there are few): payment periods, tranche and reserve sizes, a member's
    grid and maturity."""
    cases: list[Case] = []
    for frequency, g in FREQUENCIES.items():
        step = 1 / g
        tenor = 12 + step / 3
        bad = _put(data, "bond.tenor_years", tenor)
        bad = _put(bad, "bond.payment_frequency", frequency)
        cases.append(
            _toml_case(
                f"gen_pool_loaded_tenor_not_whole_{frequency}.toml",
                f"a tenor of {tenor!r} years, paying {frequency}",
                "bond.tenor_years",
                [f"{tenor} years is not a whole number of payment periods", f"{step:g} years"],
                bad,
            )
        )
    for field_, value in (("legal_maturity_years", 14.5), ("grace_years", 0.25)):
        bad = _put(data, f"bond.{field_}", value)
        cases.append(
            _toml_case(
                f"gen_pool_loaded_{field_}_not_whole.toml",
                f"bond.{field_} = {value} on an annual grid",
                f"bond.{field_}",
                [f"{value} years is not a whole number of payment periods", "multiples of 1 years"],
                bad,
            )
        )
    tenor = int(data["bond"]["tenor_years"])
    for grace, length in itertools.product((0, 4), (1, tenor - 1, tenor + 1)):
        schedule = [1.0 / length] * length
        bad = _put(data, "bond.repayment", {"type": "custom", "schedule": schedule})
        bad = _put(bad, "bond.grace_years", float(grace))
        if abs(math.fsum(schedule) - 1.0) > 1e-9 or length == tenor - grace:
            continue  # refused for its sum, or the right length
        cases.append(
            _toml_case(
                f"gen_pool_loaded_schedule_{length}_grace_{grace}.toml",
                f"a custom schedule of {length} entries, {tenor - grace} amortisation periods",
                "bond.repayment.schedule",
                [f"has {length} entries", f"allowed: {tenor - grace}, one per amortisation"],
                bad,
            )
        )
    over = copy.deepcopy(data)
    over["members"][1]["loan"] = MAX_MONEY
    cases.append(
        _toml_case(
            "gen_pool_loaded_principal_over_max.toml",
            "a loan of the most money allowed, beside three others",
            "members",
            ["loans add up to £10,000,0", f"at most £{MAX_MONEY:,.0f}"],
            over,
        )
    )
    for k in range(len(data["tranches"])):
        bad = copy.deepcopy(data)
        for t, tranche in enumerate(bad["tranches"]):
            tranche["share"] = 1e-300 if t == k else (1.0 if t == (k + 1) % 3 else 1e-300)
        # the shares sum to 1 (1e-300 is lost in the sum) and every one but one is tiny:
        # the first tiny tranche is named
        first = min(t for t in range(3) if bad["tranches"][t]["share"] == 1e-300)
        cases.append(
            _toml_case(
                f"gen_pool_loaded_tranche_{k}_tiny.toml",
                f"tranche {k} a share of 1e-300 of the principal",
                shown(f"tranches[{first}].share", bad),
                ["1e-300 of the pool's principal", "a tranche of at least £1"],
                bad,
            )
        )
    bad = copy.deepcopy(data)
    bad["reserve"] = {"amount": 1e13}
    cases.append(
        _toml_case(
            "gen_pool_loaded_reserve_over_principal.toml",
            "a reserve of £10tn, more than the principal",
            "reserve.amount",
            ["£10,000,000,000,000.00 is more than the pool's principal", "at most the principal"],
            bad,
        )
    )
    for frequency in ("semi-annual", "quarterly", "monthly"):
        bad = _put(data, "bond.payment_frequency", frequency)
        cases.append(
            _toml_case(
                f"gen_pool_loaded_member_pays_annual_pool_{frequency}.toml",
                f"a pool paying {frequency}, its members annually",
                shown("members[0]", bad),
                ["its loan pays 'annual'", f"allowed: the pool's bond.payment_frequency, "
                 f"{frequency!r}"],
                bad,
            )
        )  # fmt: skip
    bad = _put(data, "bond.tenor_years", 3.0)
    cases.append(
        _toml_case(
            "gen_pool_loaded_member_matures_after_pool.toml",
            "a pool of three years, its members' loans longer",
            shown("members[0]", bad),
            ["its loan's legal maturity", "is after the pool's, 3 years", "at most the pool's"],
            bad,
        )
    )
    return cases


def member_cases() -> list[Case]:
    """A member's programme that cannot be read, or holds several problems: each line of
    the message still names the portfolio file and the member."""
    data = base_data()
    where = shown("members[0].scenario", data)
    inline_where = shown("members[3].inline", data)
    template = tomllib.loads(Path(data["members"][2]["scenario"]).read_text(encoding="utf-8"))
    two = copy.deepcopy(template)
    two["timeline"]["horizon_years"] = 0
    two["bond"]["coupon"]["rate"] = 7.5
    beside: list[tuple[str, str, list[str], Callable[[Path], Any]]] = [
        (
            "two_errors",
            "a member's scenario file with two errors",
            ["timeline.horizon_years", "bond.coupon.rate"],
            lambda p: p.write_text(tomli_w.dumps(two), encoding="utf-8"),
        ),
        (
            "not_utf8",
            "a member's scenario file that is not UTF-8",
            ["is not a UTF-8 text file"],
            lambda p: p.write_bytes(b"name = '\xff'\n"),
        ),
        (
            "empty",
            "an empty member scenario file",
            ["scenario file is empty"],
            lambda p: p.write_bytes(b""),
        ),
    ]
    cases: list[Case] = []
    for label, description, words, write_member in beside:

        def write(target: Path, label: str = label, write_member: Any = write_member) -> None:
            member = target.with_name(f"{target.stem}.member.toml")
            write_member(member)
            text = tomli_w.dumps(_put(data, "members[0].scenario", member.name))
            target.write_text(text, encoding="utf-8")

        case = Case(f"gen_pool_member_file_{label}.toml", description, where, words, write)
        cases.append(_problems(case, 2 if label == "two_errors" else 1))

    def itself(target: Path) -> None:
        text = tomli_w.dumps(_put(data, "members[0].scenario", target.name))
        target.write_text(text, encoding="utf-8")

    cases.append(
        Case(
            "gen_pool_member_file_is_the_portfolio.toml",
            "a member whose scenario is the portfolio file itself",
            where,
            [f"{'gen_pool_member_file_is_the_portfolio.toml'!r} is the portfolio file itself"],
            itself,
        )
    )
    cases.append(
        _toml_case(
            "gen_pool_member_file_is_a_folder.toml",
            "a member whose scenario is a folder",
            where,
            ["is not a file"],
            _put(data, "members[0].scenario", str(ROOT / "templates")),
        )
    )
    inline = copy.deepcopy(data)
    inline["members"][3]["inline"]["timeline"]["horizon_years"] = 0
    inline["members"][3]["inline"]["bond"]["coupon"]["rate"] = 7.5
    case = _toml_case(
        "gen_pool_member_inline_two_errors.toml",
        "a member's inline scenario with two errors",
        inline_where,
        ["timeline.horizon_years", "bond.coupon.rate"],
        inline,
    )
    cases.append(_problems(case, 2))
    return cases


def rule_cases() -> list[Case]:
    """Every rule across fields, per combination of the fields it relates."""
    data = base_data()
    return [
        *_guarantee_cases(data),
        *_guarantee_share_cases(data),
        *_one_of_cases(data),
        *_tranche_share_cases(data),
        *_duplicate_cases(data),
        *_bond_cases(data),
    ]


def loaded_cases() -> list[Case]:
    """The cases refused only once the members' scenarios are read."""
    return _loaded_cases(base_data())


def all_cases() -> list[Case]:
    """Every generated portfolio case, in a stable order."""
    return [
        *numeric_cases(),
        *type_cases(),
        *text_cases(),
        *size_cases(),
        *rule_cases(),
        *member_cases(),
        *loaded_cases(),
    ]
