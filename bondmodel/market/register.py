"""The register of councils: a CSV file, one row per council, read and validated.

Columns (docs/register-reference.md):

* ``name``, ``identifier``, ``region``: text; names and identifiers unique;
* a location: ``latitude`` and ``longitude`` (degrees), or ``neighbours`` (identifiers
  separated by ``;``), or both (the coordinates then measure distance);
* ``population`` (people) and ``net_revenue_expenditure`` (pounds a year), above 0;
* for each service line of :data:`~.economics.SERVICE_LINES` the register covers:
  ``LINE_spend`` (pounds a year, 0 or more) and ``LINE_role`` (``offer``, ``seek``,
  ``neither``, or blank for neither).

Every problem is refused with ``FILE: line N, column 'C': VALUE ...; allowed: ...``
(the line as a text editor numbers it), in the style of
:func:`bondmodel.risk.fitting.read_column`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from bondmodel.csvtext import CsvKind, read_csv_lines
from bondmodel.errors import ScenarioError
from bondmodel.market.economics import SERVICE_LINES
from bondmodel.scenario.fieldtypes import (
    MAX_MONEY,
    MAX_NAME,
    bad_character,
    canonical_name,
    repeat_note,
)
from bondmodel.types import FloatArray

#: Largest register read, and most councils in one.
MAX_REGISTER_BYTES: Final[int] = 20_000_000
MAX_COUNCILS: Final[int] = 2_000
#: Most people in a council's area (money is bounded by the scenario's MAX_MONEY, 1e13).
MAX_POPULATION: Final[float] = 1e10
#: The columns every register has.
REQUIRED: Final[tuple[str, ...]] = (
    "name",
    "identifier",
    "region",
    "population",
    "net_revenue_expenditure",
)
LOCATION: Final[tuple[str, ...]] = ("latitude", "longitude", "neighbours")
ROLES: Final[tuple[str, ...]] = ("offer", "seek", "neither")
#: A register, as messages call it.
REGISTER_FILE: Final = CsvKind("register", "a register CSV file", MAX_REGISTER_BYTES)


@dataclass(frozen=True)
class Register:
    """A validated register: one entry per council, per-line arrays shaped (councils, lines).

    Attributes
    ----------
    path
        The file read.
    names, identifiers, regions
        Per council.
    lines
        The service lines the register covers, in :data:`SERVICE_LINES` order.
    population, revenue
        Per council.
    spend
        Annual spend, (councils, lines).
    offer, seek
        Whether each council offers or seeks each line, (councils, lines).
    coordinates
        (councils, 2) latitude and longitude in degrees, or None.
    neighbours
        Each council's neighbours as indices, or None.
    rows
        The file line of each council.
    """

    path: Path
    names: tuple[str, ...]
    identifiers: tuple[str, ...]
    regions: tuple[str, ...]
    lines: tuple[str, ...]
    population: FloatArray
    revenue: FloatArray
    spend: FloatArray
    offer: np.ndarray
    seek: np.ndarray
    coordinates: FloatArray | None
    neighbours: tuple[tuple[int, ...], ...] | None
    rows: tuple[int, ...]

    @property
    def size(self) -> int:
        return len(self.names)

    def index(self, name: str, flag: str = "--council") -> int:
        """The council called ``name`` (or with that identifier)."""
        for i, (n, ident) in enumerate(zip(self.names, self.identifiers, strict=True)):
            if name in (n, ident):
                return i
        close = [n for n in self.names if name.lower() in n.lower()][:5]
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ScenarioError(
            f"{flag}: {name!r} is not a council of {self.path} (give its name or identifier){hint}"
        )


def read_register(path: Path) -> Register:
    """Read and validate the register CSV file ``path``.

    Raises
    ------
    ScenarioError
        Naming the file, the line and column, the value and what is allowed: a missing
        file, a missing or unknown column (an unknown service line among them), a row of
        the wrong length, a bad number, a negative spend, an unknown role, a duplicate
        council, a neighbour that is not in the register.
    """
    header_line, header, body = _table(path)
    columns = _columns(path, header_line, header)
    col = {name: j for j, name in enumerate(header)}
    lines = tuple(line for line in SERVICE_LINES if f"{line}_spend" in col)
    names: list[str] = []
    idents: list[str] = []
    regions: list[str] = []
    numbers: dict[str, list[float]] = {"population": [], "net_revenue_expenditure": []}
    spend = np.zeros((len(body), len(lines)))
    offer = np.zeros((len(body), len(lines)), dtype=bool)
    seek = np.zeros((len(body), len(lines)), dtype=bool)
    coords: list[tuple[float, float]] = []
    raw_neighbours: list[tuple[int, list[str]]] = []
    seen_name: dict[str, tuple[str, int]] = {}
    seen_id: dict[str, tuple[str, int]] = {}
    rows: list[int] = []
    for r, (number, cells) in enumerate(body):
        if len(cells) != len(header):
            raise ScenarioError(
                f"{path}: line {number} has {len(cells)} cell(s) but the header names "
                f"{len(header)} column(s); allowed: the same number of cells on every line"
            )
        rows.append(number)
        cell = {name: cells[j].strip() for name, j in col.items()}
        for key, seen, out in (("name", seen_name, names), ("identifier", seen_id, idents)):
            text = _text(path, number, key, cell[key])
            canonical = canonical_name(text)
            if canonical in seen:
                earlier, first_line = seen[canonical]
                raise ScenarioError(
                    f"{path}: line {number}, column {key!r}: {text!r} is already the {key} of "
                    f"the council on line {first_line}{repeat_note(earlier, text)}; allowed: "
                    "one row per council"
                )
            seen[canonical] = (text, number)
            out.append(text)
        regions.append(_text(path, number, "region", cell["region"]))
        for key in numbers:
            value = _number(path, number, key, cell[key])
            high = MAX_POPULATION if key == "population" else MAX_MONEY
            if not 0 < value <= high:
                raise ScenarioError(
                    f"{path}: line {number}, column {key!r}: {cell[key]!r}; allowed: a number "
                    f"above 0, at most {high:g}"
                )
            numbers[key].append(value)
        for k, line in enumerate(lines):
            value = _number(path, number, f"{line}_spend", cell[f"{line}_spend"])
            if value < 0:
                raise ScenarioError(
                    f"{path}: line {number}, column '{line}_spend': {cell[f'{line}_spend']!r} "
                    "is negative; allowed: 0 or more (pounds a year)"
                )
            if value > MAX_MONEY:
                raise ScenarioError(
                    f"{path}: line {number}, column '{line}_spend': {cell[f'{line}_spend']!r}; "
                    f"allowed: 0 to {MAX_MONEY:g} (pounds a year)"
                )
            spend[r, k] = value
            role = cell.get(f"{line}_role", "").lower() or "neither"
            if role not in ROLES:
                raise ScenarioError(
                    f"{path}: line {number}, column '{line}_role': {cell[f'{line}_role']!r}; "
                    f"allowed: {', '.join(ROLES)} (or blank for neither)"
                )
            offer[r, k] = role == "offer"
            seek[r, k] = role == "seek"
        if "latitude" in columns:
            coords.append(_coordinates(path, number, cell["latitude"], cell["longitude"]))
        if "neighbours" in columns:
            listed = [n.strip() for n in cell["neighbours"].split(";") if n.strip()]
            raw_neighbours.append((number, listed))
    neighbours = _neighbours(path, raw_neighbours, idents) if raw_neighbours else None
    return Register(
        path=path,
        names=tuple(names),
        identifiers=tuple(idents),
        regions=tuple(regions),
        lines=lines,
        population=np.asarray(numbers["population"]),
        revenue=np.asarray(numbers["net_revenue_expenditure"]),
        spend=spend,
        offer=offer,
        seek=seek,
        coordinates=np.asarray(coords) if coords else None,
        neighbours=neighbours,
        rows=tuple(rows),
    )


def _table(path: Path) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """The header and the (line number, cells) of each data row; # lines are comments."""
    _, lines = read_csv_lines(path, REGISTER_FILE)
    if not lines:
        raise ScenarioError(
            f"{path}: holds no header row; allowed: a CSV file whose first line (after # "
            f"comments) names the columns ({', '.join(REQUIRED)}, ...)"
        )
    body = lines[1:]
    if not body:
        raise ScenarioError(f"{path}: has a header but no councils; allowed: one row per council")
    if len(body) > MAX_COUNCILS:
        raise ScenarioError(
            f"{path}: has {len(body):,} councils; at most {MAX_COUNCILS:,} are allowed"
        )
    return lines[0][0], [h.strip() for h in lines[0][1]], body


def _columns(path: Path, line: int, header: list[str]) -> set[str]:
    """The header's columns, checked: required ones present, none unknown or repeated."""
    where = f"{path}: line {line} (the header)"
    for name in header:
        if header.count(name) > 1:
            raise ScenarioError(f"{where}: column {name!r} appears twice; allowed: once")
    known = set(REQUIRED) | set(LOCATION)
    for name in header:
        if name in known:
            continue
        prefix, sep, kind = name.rpartition("_")
        if sep and kind in ("spend", "role"):
            if prefix not in SERVICE_LINES:
                raise ScenarioError(
                    f"{where}: column {name!r}: unknown service line {prefix!r}; allowed: "
                    f"{', '.join(SERVICE_LINES)}"
                )
            if kind == "role" and f"{prefix}_spend" not in header:
                raise ScenarioError(
                    f"{where}: column {name!r} has no column '{prefix}_spend' beside it; "
                    "a service line needs its spend"
                )
            continue
        raise ScenarioError(
            f"{where}: unknown column {name!r}; allowed: {', '.join(REQUIRED + LOCATION)} "
            "and LINE_spend, LINE_role for LINE in " + ", ".join(SERVICE_LINES)
        )
    for name in REQUIRED:
        if name not in header:
            raise ScenarioError(
                f"{where}: no column {name!r}; required: {', '.join(REQUIRED)}, a location "
                "(latitude and longitude, or neighbours) and LINE_spend columns"
            )
    if ("latitude" in header) != ("longitude" in header):
        missing = "longitude" if "latitude" in header else "latitude"
        raise ScenarioError(f"{where}: no column {missing!r}; coordinates need both")
    if "latitude" not in header and "neighbours" not in header:
        raise ScenarioError(
            f"{where}: no location; required: latitude and longitude columns, or a "
            "neighbours column"
        )
    if not any(name.endswith("_spend") for name in header):
        raise ScenarioError(
            f"{where}: no service line; required: at least one LINE_spend column, LINE one of "
            + ", ".join(SERVICE_LINES)
        )
    return set(header)


def _text(path: Path, line: int, column: str, text: str) -> str:
    if not text:
        raise ScenarioError(f"{path}: line {line}, column {column!r}: is blank; required")
    problem = bad_character(text)
    if problem is not None or len(text) > MAX_NAME:
        raise ScenarioError(
            f"{path}: line {line}, column {column!r}: {text[:40]!r}; allowed: printable text "
            f"of at most {MAX_NAME} characters"
            + (f" (got {problem})" if problem is not None else "")
        )
    return text


def _number(path: Path, line: int, column: str, cell: str) -> float:
    shown = cell if len(cell) <= 40 else cell[:37] + "..."
    try:
        value = float(cell.replace(",", "").replace("_", "x")) if cell else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ScenarioError(
            f"{path}: line {line}, column {column!r}: {shown!r} is not a number; allowed: a "
            "finite decimal number"
        )
    return value


def _coordinates(path: Path, line: int, lat: str, lon: str) -> tuple[float, float]:
    latitude = _number(path, line, "latitude", lat)
    longitude = _number(path, line, "longitude", lon)
    if not -90.0 <= latitude <= 90.0:
        raise ScenarioError(
            f"{path}: line {line}, column 'latitude': {lat!r}; allowed: -90 to 90 degrees"
        )
    if not -180.0 <= longitude <= 180.0:
        raise ScenarioError(
            f"{path}: line {line}, column 'longitude': {lon!r}; allowed: -180 to 180 degrees"
        )
    return latitude, longitude


def _neighbours(
    path: Path, listed: list[tuple[int, list[str]]], idents: list[str]
) -> tuple[tuple[int, ...], ...]:
    where = {ident: i for i, ident in enumerate(idents)}
    out: list[tuple[int, ...]] = []
    for i, (line, names) in enumerate(listed):
        found = []
        for name in names:
            if name not in where:
                raise ScenarioError(
                    f"{path}: line {line}, column 'neighbours': {name!r} is not the identifier "
                    "of a council in the register; allowed: identifiers separated by ';'"
                )
            if where[name] == i:
                raise ScenarioError(
                    f"{path}: line {line}, column 'neighbours': {name!r} is the council itself"
                )
            found.append(where[name])
        out.append(tuple(found))
    return tuple(out)


def distances_km(register: Register, km_per_hop: float) -> FloatArray:
    """Distances between councils in km, (councils, councils): great-circle from the
    coordinates when the register has them, else steps in the neighbour graph (taken as
    symmetric) times ``km_per_hop``; ``inf`` between councils the graph does not join.

    Notes
    -----
    Haversine on a sphere of radius :math:`R` = 6,371 km:
    :math:`d = 2R \\arcsin\\sqrt{h}`, with
    :math:`h = \\sin^2(\\Delta\\phi/2) + \\cos\\phi_1\\cos\\phi_2\\sin^2(\\Delta\\lambda/2)`.
    """
    if register.coordinates is not None:
        phi, lam = np.radians(register.coordinates).T
        dphi = phi[:, None] - phi[None, :]
        dlam = lam[:, None] - lam[None, :]
        h = (
            np.sin(dphi / 2) ** 2
            + np.cos(phi[:, None]) * np.cos(phi[None, :]) * np.sin(dlam / 2) ** 2
        )
        return np.asarray(2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))
    from scipy.sparse import lil_matrix
    from scipy.sparse.csgraph import shortest_path

    if register.neighbours is None:
        raise ScenarioError(f"{register.path}: has neither coordinates nor neighbours")
    n = register.size
    graph = lil_matrix((n, n))
    for i, near in enumerate(register.neighbours):
        for j in near:
            graph[i, j] = graph[j, i] = 1.0
    hops = shortest_path(graph.tocsr(), directed=False, unweighted=True)
    return np.asarray(hops * km_per_hop)
