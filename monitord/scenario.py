"""Scenario files (design.md section 5): JSON Lines, one event per line, `t` in seconds
from the scenario's start, in order. Blank lines and lines starting with `#` are ignored.

Each line is validated with pydantic into a typed event that remembers its line number;
a bad line raises `ScenarioError` whose text is one line: `PATH:LINE: reason`. The same
models serve `monitord replay` (through `to_engine_input`) and the device simulators,
which play the readings on real device links.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from monitord.engine.inputs import Ack, EngineInput, Link, Sample, SessionCmd
from monitord.models import Kind

DEFAULT_CHAIR = "chair-1"

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class ScenarioError(ValueError):
    """A malformed scenario line. `str()` is the one line to print."""

    def __init__(self, line_no: int, message: str, source: str = "<scenario>") -> None:
        super().__init__(f"{source}:{line_no}: {message}")
        self.line_no = line_no
        self.message = message
        self.source = source


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    t: float = Field(ge=0)
    chair: Ident = DEFAULT_CHAIR
    # Line in the file (1-based); set by the parser, never read from the file.
    line: int = Field(default=0, exclude=True)

    @model_validator(mode="after")
    def _finite(self) -> _Event:
        if not math.isfinite(self.t):
            raise ValueError("t must be a finite number")
        return self


class SessionStart(_Event):
    event: Literal["session_start"]
    # Optional here: without it the chair's configured protocol (or esketamine) is used.
    protocol: Literal["esketamine", "iv-ketamine"] | None = None
    session_id: Ident | None = None


class DoseStart(_Event):
    event: Literal["dose_start"]


class DoseEnd(_Event):
    event: Literal["dose_end"]


class SessionEnd(_Event):
    event: Literal["session_end"]


class Bp(_Event):
    event: Literal["bp"]
    sys: float | None = None
    dia: float | None = None
    map: float | None = None
    pulse: float | None = None
    error: bool = False

    @model_validator(mode="after")
    def _values(self) -> Bp:
        if not self.error and (self.sys is None or self.dia is None):
            raise ValueError("bp needs sys and dia (or error: true for a cuff error)")
        return self


class Hr(_Event):
    event: Literal["hr"]
    hr: float
    contact: bool | None = None


class Spo2(_Event):
    event: Literal["spo2"]
    spo2: float
    pulse: float | None = None
    probe_off: bool | None = None


class DeviceLost(_Event):
    event: Literal["device_lost"]
    device: Literal["bp", "hr", "spo2"]


class DeviceBack(_Event):
    event: Literal["device_back"]
    device: Literal["bp", "hr", "spo2"]


class AckEvent(_Event):
    event: Literal["ack"]
    rule: str = Field(min_length=1)
    by: str | None = None


class End(_Event):
    event: Literal["end"]


ScenarioEvent = (
    SessionStart
    | DoseStart
    | DoseEnd
    | SessionEnd
    | Bp
    | Hr
    | Spo2
    | DeviceLost
    | DeviceBack
    | AckEvent
    | End
)

_ADAPTER: TypeAdapter[ScenarioEvent] = TypeAdapter(
    Annotated[ScenarioEvent, Field(discriminator="event")]
)
EVENT_TYPES = (
    "session_start",
    "dose_start",
    "dose_end",
    "session_end",
    "bp",
    "hr",
    "spo2",
    "device_lost",
    "device_back",
    "ack",
    "end",
)


def _reason(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if err["type"] == "union_tag_invalid":
        return f"unknown event {err['input'].get('event')!r} (known: {', '.join(EVENT_TYPES)})"
    if err["type"] == "union_tag_not_found":
        return "missing 'event'"
    # The first loc part is the union tag (the event name): drop it.
    field = ".".join(loc[1:]) if len(loc) > 1 else ""
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{loc[0]}: {field}: {msg}" if field else f"{loc[0] if loc else 'event'}: {msg}"


def parse_line(text: str, line_no: int, source: str = "<scenario>") -> ScenarioEvent | None:
    """One line -> an event, or None for a blank/comment line."""
    s = text.strip()
    if not s or s.startswith("#"):
        return None
    try:
        raw: Any = json.loads(s)
    except json.JSONDecodeError as e:
        raise ScenarioError(line_no, f"not JSON: {e.msg} (column {e.colno})", source) from None
    if not isinstance(raw, dict):
        raise ScenarioError(line_no, "must be a JSON object", source)
    if "line" in raw:
        raise ScenarioError(line_no, "line: unknown field", source)
    try:
        ev = _ADAPTER.validate_python(raw)
    except ValidationError as e:
        raise ScenarioError(line_no, _reason(e), source) from None
    return ev.model_copy(update={"line": line_no})


def parse_scenario(lines: Iterable[str], source: str = "<scenario>") -> list[ScenarioEvent]:
    """Parse a whole scenario; `t` must not go backwards."""
    out: list[ScenarioEvent] = []
    last_t = 0.0
    for n, text in enumerate(lines, start=1):
        ev = parse_line(text, n, source)
        if ev is None:
            continue
        if ev.t < last_t:
            raise ScenarioError(n, f"t {ev.t:g} goes back in time (previous t {last_t:g})", source)
        last_t = ev.t
        out.append(ev)
    return out


def load_scenario(path: str | Path) -> list[ScenarioEvent]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(0, f"cannot read: {e.strerror or e}", str(p)) from None
    except UnicodeDecodeError:
        raise ScenarioError(0, "not UTF-8 text", str(p)) from None
    return parse_scenario(text.splitlines(), str(p))


def to_engine_input(ev: ScenarioEvent, t0: float = 0.0) -> EngineInput | None:
    """A scenario event as an engine input at `t0 + ev.t`; None for `end` (the replay just
    advances its clock to it). Devices are named after their signal (`bp`, `hr`, `spo2`)."""
    t = float(t0 + ev.t)
    c = ev.chair
    if isinstance(ev, Bp):
        values: dict[str, float | None] = {
            "sys_mmHg": ev.sys,
            "dia_mmHg": ev.dia,
            "map_mmHg": ev.map,
            "pulse_bpm": ev.pulse,
        }
        return Sample(t, c, "bp", Kind.BP, values, valid=not ev.error)
    if isinstance(ev, Hr):
        return Sample(t, c, "hr", Kind.HR, {"hr_bpm": ev.hr}, valid=True, contact=ev.contact)
    if isinstance(ev, Spo2):
        contact = None if ev.probe_off is None else not ev.probe_off
        return Sample(
            t, c, "spo2", Kind.SPO2, {"spo2_pct": ev.spo2, "pulse_bpm": ev.pulse}, True, contact
        )
    if isinstance(ev, SessionStart):
        return SessionCmd(t, c, "start", protocol=ev.protocol, session_id=ev.session_id)
    if isinstance(ev, DoseStart):
        return SessionCmd(t, c, "dose_start")
    if isinstance(ev, DoseEnd):
        return SessionCmd(t, c, "dose_end")
    if isinstance(ev, SessionEnd):
        return SessionCmd(t, c, "end")
    if isinstance(ev, DeviceLost):
        return Link(t, c, ev.device, up=False)
    if isinstance(ev, DeviceBack):
        return Link(t, c, ev.device, up=True)
    if isinstance(ev, AckEvent):
        return Ack(t, c, rule=ev.rule, by=ev.by)
    return None  # End
