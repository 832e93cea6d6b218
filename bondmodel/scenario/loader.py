"""Loading scenarios from TOML, with errors that name the field, the value and what is allowed."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bondmodel.errors import ScenarioError
from bondmodel.scenario.schema import Scenario

#: The built-in default scenario, run by ``bondmodel run`` with no scenario.
DEFAULT_TEMPLATE = "shared-services"

#: Largest scenario file accepted, in bytes; a scenario is a few kilobytes.
MAX_SCENARIO_BYTES = 5 * 1024 * 1024


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
            f"--template: unknown template {name!r}; allowed: {', '.join(list_templates())}"
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
    if not path.exists():
        raise ScenarioError(f"{path}: scenario file does not exist")
    if not path.is_file():
        raise ScenarioError(f"{path}: is not a file; give a TOML scenario file")
    size = path.stat().st_size
    if size == 0:
        raise ScenarioError(f"{path}: scenario file is empty; start from `bondmodel new`")
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            f"{path}: scenario file is {size} bytes; at most {MAX_SCENARIO_BYTES} are allowed"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: is not a UTF-8 text file (byte {exc.start}); a scenario is TOML text"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: is not valid TOML: {exc}") from None
    if not data:
        raise ScenarioError(f"{path}: holds no settings; start from `bondmodel new`")
    return parse_scenario(data, source=str(path))


def parse_scenario(data: Mapping[str, Any], source: str = "scenario") -> Scenario:
    """Validate a mapping (parsed TOML) into a :class:`Scenario`."""
    try:
        return Scenario.model_validate(dict(data))
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, data, source)) from None


# ---------------------------------------------------------------------------
# Error formatting
# ---------------------------------------------------------------------------

_UNION_TAGS = {"linear", "explicit", "s_curve"}


def format_validation_error(
    exc: ValidationError, data: Mapping[str, Any], source: str = "scenario"
) -> str:
    """Turn a pydantic error into lines of ``source: field.path: problem (got value)``."""
    lines = []
    for err in exc.errors():
        loc = [part for part in err["loc"] if part not in _UNION_TAGS]
        ctx = err.get("ctx") or {}
        original = ctx.get("error")
        path_text = _loc_text(loc, data)
        message = err["msg"]
        if original is not None and hasattr(original, "path"):
            path_text = original.path
            message = original.message
        elif err["type"] == "value_error":
            message = str(original) if original is not None else message
            message = message.removeprefix("Value error, ")
        elif err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            message = f"unknown key {loc[-1]!r}" + (
                f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            )
        elif err["type"] == "missing":
            message = "is required but missing"
        if err["type"] not in ("missing", "extra_forbidden", "value_error") or (
            err["type"] == "value_error" and "got" not in message
        ):
            value = err.get("input")
            if not isinstance(value, dict):
                message = f"{message} (got {_show(value)})"
        lines.append(f"{source}: {path_text or '(top level)'}: {message}")
    return "\n".join(lines)


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    kind = type(value).__name__
    return f"{text}, a {kind}" if kind not in ("int", "float") else text


def _loc_text(loc: list[int | str], data: Mapping[str, Any]) -> str:
    """``partners[1].name``, with the item's name when the data has one."""
    parts: list[str] = []
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            label = f"[{part}]"
            try:
                node = node[part]
                if isinstance(node, dict) and isinstance(node.get("name"), str):
                    label += f" ('{node['name']}')"
            except (IndexError, KeyError, TypeError):
                node = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts)


def _allowed_keys(loc: list[int | str]) -> list[str]:
    """The field names of the model found at ``loc`` inside :class:`Scenario`."""
    model: type[BaseModel] | None = Scenario
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _model_of(field.annotation)
    return sorted(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
