"""The run manifest on a workbook's Audit sheet, validated as strictly as a scenario.

``bondmodel verify`` reruns what the manifest says (paths, seed, sampler, stopping rule),
so the manifest is untrusted input like any other: every field is typed, nothing
unknown is accepted, and a bad value is an error (exit 2) naming the field, the value and
what is allowed, before anything is run. docs/auditors-guide.md lists the fields.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bondmodel.errors import BondModelError, WorkbookError
from bondmodel.risk.analyses import parse_region, parse_stress
from bondmodel.risk.sampling import MAX_SEED

#: Most paths a manifest may record at all (a sanity bound; the rerun limit is
#: ``--max-paths``, checked separately so that its message names the flag).
MAX_RECORDED_PATHS = 10**12
#: Longest text accepted in a manifest field, in characters.
MAX_TEXT = 10_000
#: Largest manifest accepted, in characters of JSON.
MAX_MANIFEST_CHARS = 100_000

Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
Metric = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def _flag_checked(parse: Any) -> Any:
    """A validator that parses a recorded analysis as its flag does, with the flag's words
    (``--stress: ...``) left off: the field's own name says where it is."""

    def check(text: str) -> str:
        try:
            parse(text)
        except BondModelError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return text

    return AfterValidator(check)


#: A recorded stress analysis and scenario analysis, as ``run`` writes them.
StressText = Annotated[str, StringConstraints(max_length=200), _flag_checked(parse_stress)]
RegionText = Annotated[str, StringConstraints(max_length=200), _flag_checked(parse_region)]

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class StoppingRule(BaseModel):
    """The manifest's ``convergence``: the run stopped when every watched mean was known
    to within ``tolerance`` (relative) at ``confidence``."""

    model_config = _STRICT

    tolerance: float = Field(gt=0, le=1)
    confidence: float = Field(gt=0, lt=1)
    metrics: list[Metric] = Field(max_length=100)


class RerunSettings(BaseModel):
    """What fixes the rerun's numbers: the paths, seed, sampler, stopping rule and tornado
    metric (a base-case run records ``paths`` = 0 and nothing else)."""

    model_config = _STRICT

    paths: int = Field(ge=0, le=MAX_RECORDED_PATHS)
    paths_requested: int | None = Field(default=None, ge=1, le=MAX_RECORDED_PATHS)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    sampler: Literal["random", "lhs", "sobol"] | None = None
    block_size: int | None = Field(default=None, ge=1, le=MAX_RECORDED_PATHS)
    chunk_blocks: int | None = Field(default=None, ge=1, le=MAX_RECORDED_PATHS)
    convergence: StoppingRule | None = None
    tornado_output: Metric | None = None
    per_path_precision: Literal["double", "single"] | None = None
    #: the stress analyses (``INPUT=PLOW:PHIGH``) and scenario analyses (``METRIC<LEVEL``) run,
    #: each checked as the command line checks it, so a bad one names its manifest field
    stress: list[StressText] | None = Field(default=None, max_length=50)
    scenario_analysis: list[RegionText] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _complete(self) -> RerunSettings:
        if self.paths > 0:
            missing = [k for k in ("seed", "sampler") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"{' and '.join(missing)}: missing; a run of {self.paths} paths (paths > 0) "
                    "must record its seed and sampler"
                )
        if self.paths_requested is not None and self.paths > self.paths_requested:
            raise ValueError(
                f"paths: {self.paths} is more than paths_requested ({self.paths_requested}); "
                "allowed: at most the paths asked for"
            )
        return self

    @property
    def rerun_paths(self) -> int:
        """How many paths a full rerun runs (the stopping rule may stop it sooner)."""
        if self.paths == 0:
            return 0
        return self.paths_requested or self.paths


class RunManifest(RerunSettings):
    """The whole manifest as ``bondmodel run`` writes it: the settings, and the provenance
    (command, scenario hash, engine and library versions, replay command)."""

    manifest_version: Literal[1]
    command: Text | None
    scenario_sha256: Sha256
    engine: Annotated[str, StringConstraints(max_length=100)]
    libraries: dict[
        Annotated[str, StringConstraints(max_length=40)],
        Annotated[str, StringConstraints(max_length=100)],
    ] = Field(max_length=50)
    replay: Text


def parse_manifest(text: str, source: Path) -> RunManifest:
    """The manifest JSON ``text`` from the Audit sheet of ``source``, validated."""
    where = f"{source}: Audit sheet, run manifest"
    if len(text) > MAX_MANIFEST_CHARS:
        raise WorkbookError(
            f"{where}: is {len(text):,} characters; at most {MAX_MANIFEST_CHARS:,} are accepted"
        )
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise WorkbookError(f"{where}: is not valid JSON ({message})") from None
    if not isinstance(data, dict):
        raise WorkbookError(f"{where}: should be a JSON object of settings (got {_show(data)})")
    return _validate(RunManifest, data, where)  # type: ignore[return-value]


def settings_from_records(records: dict[str, str], source: Path) -> RerunSettings:
    """The settings of a workbook without a manifest, from its Audit rows (validated the
    same way: a Seed row that is not a whole number is an error naming it)."""
    if "Seed" not in records:
        return RerunSettings(paths=0)
    paths = re.match(r"\s*(\d+)", records.get("Paths", ""))
    seed = records["Seed"].strip()
    data: dict[str, Any] = {
        "paths": int(paths.group(1)) if paths else records.get("Paths", ""),
        "seed": int(seed) if seed.isdigit() else seed,
        "sampler": records.get("Sampler", "random"),
    }
    return _validate(RerunSettings, data, f"{source}: Audit sheet, settings rows")


def _validate(model: type[RerunSettings], data: dict[str, Any], where: str) -> RerunSettings:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise WorkbookError("\n".join(_lines(exc, model, where))) from None


def _lines(exc: ValidationError, model: type[BaseModel], where: str) -> list[str]:
    """One line per error: the field path, the value and what is allowed."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p not in ("function-after",))
        kind, value = err["type"], err.get("input")
        if kind == "extra_forbidden":
            allowed = _allowed(model, list(err["loc"][:-1]))
            lines.append(f"{where}: {loc}: unknown field; allowed fields: {allowed}")
            continue
        if kind == "missing":
            lines.append(f"{where}: {loc}: is required but missing")
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        if kind in ("int_type", "int_parsing") and isinstance(value, str | float):
            message += " (a JSON number without quotes or decimals)"
        if kind in ("model_type", "dict_type"):
            message = "should be a JSON object of settings"
        shown = f" (got {_show(value)})" if kind != "value_error" else ""
        lines.append(f"{where}: {loc + ': ' if loc else ''}{message}{shown}")
    return lines


def _allowed(model: type[BaseModel], loc: list[Any]) -> str:
    """The field names of the (sub)model at ``loc``."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(str(part)) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        inner = [
            a
            for a in getattr(annotation, "__args__", ())
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            current = annotation
        elif inner:
            current = inner[0]
    return ", ".join(sorted(current.model_fields))


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON list"
    if isinstance(value, bool):
        return f"{str(value).lower()}, a boolean"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"{text!r}, a string"
    return repr(value)
