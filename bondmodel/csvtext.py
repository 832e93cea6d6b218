"""Reading a user's CSV file: the checks every such file gets, with one style of message.

``bondmodel fit`` (and a risk input's ``fit``) reads a data file with it, ``bondmodel match``
a register. Each names the file in every message; the caller words what the rows must hold.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from bondmodel.errors import ScenarioError


@dataclass(frozen=True)
class CsvKind:
    """What a kind of CSV file is called, what a wrong file is told, and its size limit."""

    noun: str
    allowed: str
    max_bytes: int


def read_csv_lines(path: Path, kind: CsvKind) -> tuple[bytes, list[tuple[int, list[str]]]]:
    """The file's bytes, and the (line number, cells) of each line that is neither blank nor
    a ``#`` comment, the header first (an empty list when there is none).

    Raises
    ------
    ScenarioError
        Naming the file: missing, not a file, not ``.csv``, too large, not UTF-8 text (a
        byte-order mark is skipped), holding a NUL byte, or not valid CSV.
    """
    if not path.exists():
        raise ScenarioError(f"{path}: {kind.noun} does not exist")
    if not path.is_file():
        raise ScenarioError(f"{path}: is not a file; give a CSV {kind.noun}")
    if path.suffix.lower() != ".csv":
        raise ScenarioError(f"{path}: is not a .csv file; allowed: {kind.allowed}")
    size = path.stat().st_size
    if size > kind.max_bytes:
        raise ScenarioError(
            f"{path}: {kind.noun} is {size:,} bytes; at most {kind.max_bytes:,} are allowed"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: is not a UTF-8 text file (byte {exc.start}); a {kind.noun} is CSV text"
        ) from None
    if "\x00" in text:
        raise ScenarioError(f"{path}: holds a NUL byte; a {kind.noun} is CSV text, not binary")
    numbered = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    try:
        table = list(csv.reader(io.StringIO("\n".join(line for _, line in numbered)), strict=True))
    except csv.Error as exc:
        raise ScenarioError(f"{path}: is not valid CSV ({exc})") from None
    return raw, [(number, cells) for (number, _), cells in zip(numbered, table, strict=True)]
