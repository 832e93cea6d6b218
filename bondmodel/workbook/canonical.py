"""Canonical forms of what a spreadsheet application may spell differently but means the same.

``bondmodel verify`` compares a workbook with the one its rerun writes. A workbook
opened and saved by a spreadsheet application (LibreOffice, Excel) comes back
with the same formulas and formats spelt another way. Each function here maps one
such spelling to a canonical form that two texts share exactly when they mean the
same; docs/auditors-guide.md lists each rule with the reason it is safe. Nothing
here can make two different computations look alike: formulas are compared token by
token (a number by its value, a reference by what it points at), never by erasing
anything that is evaluated.
"""

from __future__ import annotations

import re
from typing import Any

from openpyxl.formula.tokenizer import Token, Tokenizer, TokenizerError

#: ``'Sheet name'!`` inside a reference: the quotes only delimit the name (``''`` is one ``'``).
_QUOTED_SHEET = re.compile(r"'((?:[^']|'')+)'!")
#: A formula that only returns a boolean constant: LibreOffice saves TRUE and FALSE this way.
_BOOLEAN_FORMULA = re.compile(r"=(TRUE|FALSE)\(\)")

FormulaKey = tuple[tuple[str, str, str], ...]


def formula_key(text: str) -> FormulaKey:
    """The formula ``text`` as tokens in canonical spelling.

    Notes
    -----
    Two formulas have the same key exactly when they have the same tokens once

    - a sheet name's optional quotes are removed (``'Bond'!$D$5`` and ``Bond!$D$5`` are the
      same reference: the quotes are required only around names with spaces or punctuation,
      and are never part of the name);
    - a number is written by its value (``0.000000001`` and ``1E-9`` are the same double;
      the value is compared exactly, so no two different numbers meet).

    These are the rewrites LibreOffice makes on saving. Everything else (function names,
    operators, separators, text constants, white space, which in Excel is the intersection
    operator) is kept as written. A text that does not tokenise is kept
    whole, so it can only equal itself.
    """
    source = text if text.startswith("=") else "=" + text
    try:
        items = Tokenizer(source).items
    except (TokenizerError, ValueError, IndexError):
        return (("RAW", "", text),)
    return tuple((t.type, t.subtype, _token_text(t)) for t in items)


def _token_text(token: Token) -> str:
    value = str(token.value)
    if token.type == Token.OPERAND and token.subtype == Token.RANGE:
        return _QUOTED_SHEET.sub(lambda m: m.group(1).replace("''", "'") + "!", value)
    if token.type == Token.OPERAND and token.subtype == Token.NUMBER:
        try:
            return repr(float(value))
        except ValueError:
            return value
    return value


def boolean_constant(formula: str | None) -> bool | None:
    """``True``/``False`` when ``formula`` is ``=TRUE()``/``=FALSE()``, else None.

    LibreOffice saves a cell holding the constant TRUE as the formula ``=TRUE()``; the
    function takes no argument and returns the constant, so the two are the same cell.
    """
    if formula is None:
        return None
    match = _BOOLEAN_FORMULA.fullmatch(formula)
    return None if match is None else match.group(1) == "TRUE"


#: Characters a number format displays as themselves without quotes (Excel's list), plus any
#: character outside ASCII (such as £ or €).
_BARE_LITERALS = frozenset("$-+/():!^&'~{}<>= ")


def number_format_key(code: str | None) -> tuple[tuple[str, str], ...]:
    """The number format ``code`` in canonical form: literal text merged, brackets in lower case.

    Notes
    -----
    A format code shows literal text in three spellings: in quotes (``"-£"``), escaped one
    character at a time (``\\£``) or, for the characters Excel displays as themselves
    (``$ - + / ( ) : ! ^ & ' ~ { } < > =``, the space, and any character outside ASCII), bare.
    LibreOffice rewrites ``£#,##0;[Red]-£#,##0`` as ``\\£#,##0;[RED]"-£"#,##0`` and
    ``yyyy-mm-dd`` as ``yyyy\\-mm\\-dd``: the same display. The key merges each run of
    literal text into one token, whatever its spelling; the contents of ``[...]`` (colours,
    conditions, locales) are compared in lower case, as Excel reads them. Every other
    character (digit placeholders, separators, the section separator ``;``, date codes) is
    kept as written, so a format that shows a number differently, or hides it, keeps a
    different key. ``General`` (any case) is one token.
    """
    text = code or "General"
    if text.lower() == "general":
        return (("general", ""),)
    out: list[tuple[str, str]] = []

    def add(kind: str, chars: str) -> None:
        if kind == "lit" and out and out[-1][0] == "lit":
            out[-1] = ("lit", out[-1][1] + chars)
        else:
            out.append((kind, chars))

    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            end = text.find('"', i + 1)
            end = len(text) if end < 0 else end
            if end > i + 1:
                add("lit", text[i + 1 : end])
            i = end + 1
        elif ch == "\\" and i + 1 < len(text):
            add("lit", text[i + 1])
            i += 2
        elif ch in "_*" and i + 1 < len(text):  # a space as wide as, or a fill of, the next char
            add("code", text[i : i + 2])
            i += 2
        elif ch == "[":
            end = text.find("]", i)
            end = len(text) - 1 if end < 0 else end
            add("bracket", text[i + 1 : end].lower())
            i = end + 1
        elif ch in _BARE_LITERALS or ord(ch) > 127:
            add("lit", ch)
            i += 1
        else:
            add("code", ch)
            i += 1
    return tuple(out)


def plain(value: Any) -> Any:
    """An attribute as compared: None, empty text and False meaning 'not set' become None."""
    if value is False or value == "":
        return None
    return value
