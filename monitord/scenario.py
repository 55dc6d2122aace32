"""Scenario files (design.md section 5): JSON Lines, one event per line, `t` in seconds
from the scenario's start, in order. Blank lines and lines starting with `#` are ignored.
The format is described for users in docs/scenarios.md.

Each line is validated with pydantic into a typed event that remembers its line number;
a bad line raises `ScenarioError` whose text is one line: `PATH:LINE: reason`. The same
models serve `monitord replay` (through `to_engine_input`) and the device simulators,
which play the readings on real device links.

Files are streamed (`ScenarioFile`), never loaded whole: a first pass validates every line
and learns which chairs the scenario names, a second pass yields the events with their
chair resolved (design.md section 5: a scenario that names one chair plays every line on
it; one that names several must name the chair on every line). Lines end at `\n` only:
a raw U+2028 inside a JSON string is valid, and a form feed does not start a line.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from monitord.engine.inputs import Ack, EngineInput, Link, Sample, SessionCmd
from monitord.engine.rules import RULE_IDS
from monitord.models import Kind

DEFAULT_CHAIR = "chair-1"
#: A longer line is refused (and never read whole into memory).
MAX_LINE_BYTES = 1 << 20

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class ScenarioError(ValueError):
    """A malformed scenario line. `str()` is the one line to print."""

    def __init__(self, line_no: int, message: str, source: str = "<scenario>") -> None:
        # Line 0: the file itself (it cannot be read); "FILE:0:" named a line there is not.
        super().__init__(f"{source}:{line_no}: {message}" if line_no else f"{source}: {message}")
        self.line_no = line_no
        self.message = message
        self.source = source


class _Event(BaseModel):
    # allow_inf_nan=False: pydantic's JSON parser reads NaN and Infinity (not JSON) and an
    # overflowing 1e999 as floats; a player then crashed on them, in a restart loop.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

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
    # A record the device pushed from its memory: history, fed to no rule.
    stored: bool = False

    @model_validator(mode="after")
    def _values(self) -> Bp:
        if not self.error and (self.sys is None or self.dia is None):
            raise ValueError("bp needs sys and dia (or error: true for a cuff error)")
        return self


class Hr(_Event):
    event: Literal["hr"]
    hr: float
    contact: bool | None = None
    stored: bool = False


class Spo2(_Event):
    event: Literal["spo2"]
    spo2: float
    pulse: float | None = None
    probe_off: bool | None = None
    stored: bool = False


class DeviceLost(_Event):
    event: Literal["device_lost"]
    device: Literal["bp", "hr", "spo2"]


class DeviceBack(_Event):
    event: Literal["device_back"]
    device: Literal["bp", "hr", "spo2"]


class AckEvent(_Event):
    event: Literal["ack"]
    rule: str = Field(min_length=1)
    # As a nurse's name in `cmd/ack` (sinks/commands.py): a longer one went into the
    # `acknowledged` event, which a station refuses whole (more than 128 characters).
    by: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        # A rule that is none of the table's (a typo) acknowledged nothing, in silence,
        # as an ack with nothing to acknowledge does: the replay of a scenario written to
        # show an ack stopping escalation showed it not stopping, and nothing said why.
        if v not in RULE_IDS:
            near = difflib.get_close_matches(v, RULE_IDS, n=1)
            hint = f"did you mean {near[0]}?" if near else f"known: {', '.join(RULE_IDS)}"
            raise ValueError(f"unknown rule {v!r} ({hint})")
        return v


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
# The core validator itself: the TypeAdapter wrapper costs ~0.3 us a line.
_VALIDATE_JSON = _ADAPTER.validator.validate_json
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


def _stamp(ev: ScenarioEvent, name: str, value: Any) -> None:
    # The event was just built by this parser and nobody else holds it yet; the models
    # are frozen for everyone after that. model_copy(update=...) would cost ~6 us a line,
    # more than the validation itself.
    object.__setattr__(ev, name, value)


class _NotJson(ValueError):
    pass


class _Twice(ValueError):
    def __init__(self, key: str, event: object) -> None:
        where = f"{event}: " if isinstance(event, str) and key != "event" else ""
        super().__init__(f"{where}{key}: given twice")


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A key twice: JSON parsers keep the last value, so one of the author's two values was
    # dropped in silence (which was meant?); RFC 8259 leaves it to the reader.
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Twice(k, dict(pairs).get("event"))
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    # Python's json module reads NaN, Infinity and -Infinity; JSON (RFC 8259) has none.
    raise _NotJson(f"{name} is not a JSON number (RFC 8259 has no NaN or Infinity)")


def _parse_slow(s: str, line_no: int, source: str) -> ScenarioEvent:
    """The reference path: json.loads + validate_python, with a reason for every way a
    line can be wrong."""
    try:
        raw: Any = json.loads(s, parse_constant=_no_constant, object_pairs_hook=_once)
    except _Twice as e:
        raise ScenarioError(line_no, str(e), source) from None
    except json.JSONDecodeError as e:
        raise ScenarioError(line_no, f"not JSON: {e.msg} (column {e.colno})", source) from None
    except _NotJson as e:
        raise ScenarioError(line_no, f"not JSON: {e}", source) from None
    except RecursionError:
        raise ScenarioError(line_no, "not JSON: nested too deeply", source) from None
    except ValueError as e:
        # json.loads' own ValueError (no JSONDecodeError) for a whole number of over 4,300
        # digits (Python's int_max_str_digits): it escaped, a traceback from replay.
        why = "a number of more than 4300 digits" if "int_max_str" in str(e) else str(e)
        raise ScenarioError(line_no, f"not JSON: {why}", source) from None
    if not isinstance(raw, dict):
        raise ScenarioError(line_no, "must be a JSON object", source)
    if "line" in raw:
        raise ScenarioError(line_no, "line: unknown field", source)
    try:
        ev = _ADAPTER.validate_python(raw)
    except ValidationError as e:
        raise ScenarioError(line_no, _reason(e), source) from None
    except RecursionError:
        raise ScenarioError(line_no, "nested too deeply", source) from None
    _stamp(ev, "line", line_no)
    return ev


def parse_line(text: str | bytes, line_no: int, source: str = "<scenario>") -> ScenarioEvent | None:
    """One line (without its `\n`) -> an event, or None for a blank/comment line."""
    if isinstance(text, bytes):
        b = text.strip()
        if not b or b.startswith(b"#"):
            return None
        # Fast path: pydantic parses and validates the bytes in one go (~3 us a line).
        # Anything it refuses (or a "line" key, which is ours) takes the reference path,
        # which finds the reason to print or, for the few inputs the two JSON parsers
        # judge differently, the event.
        if b'"line"' not in b:
            try:
                ev: ScenarioEvent = _VALIDATE_JSON(b)
            except ValidationError:
                pass
            else:
                # Every key is followed by one colon outside a string (a string value may
                # hold more: then the reference path looks), and an accepted event holds no
                # nested object: as many colons as fields set means no key came twice.
                if b.count(b":") == len(ev.model_fields_set):
                    _stamp(ev, "line", line_no)
                    return ev
        try:
            text = b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ScenarioError(line_no, f"not UTF-8 text (byte {e.start + 1})", source) from None
    s = text.strip()
    if not s or s.startswith("#"):
        return None
    return _parse_slow(s, line_no, source)


class _Chairs:
    """The chair rule of design.md section 5, checked as lines go by."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.named: dict[str, int] = {}  # chair -> first line naming it
        self.first_unnamed = 0  # first line without a chair (0: none yet)

    def see(self, ev: ScenarioEvent) -> None:
        if "chair" in ev.model_fields_set:
            if ev.chair not in self.named:
                self.named[ev.chair] = ev.line
                self._check()
        elif not self.first_unnamed:
            self.first_unnamed = ev.line
            self._check()

    def _check(self) -> None:
        if len(self.named) > 1 and self.first_unnamed:
            a, b = list(self.named)[:2]
            raise ScenarioError(
                self.first_unnamed,
                f"no chair, but the scenario names several ({a} on line {self.named[a]}, "
                f"{b} on line {self.named[b]}): every line must name its chair",
                self.source,
            )

    def resolve(self) -> Callable[[ScenarioEvent], None] | None:
        """What to do to each event once the whole scenario was seen: a scenario naming
        exactly one chair plays every line on it."""
        if len(self.named) != 1:
            return None
        (only,) = self.named

        def put(ev: ScenarioEvent) -> None:
            if ev.chair != only:
                _stamp(ev, "chair", only)

        return put


def _validated(
    lines: Iterable[tuple[int, str | bytes]], source: str, chairs: _Chairs | None = None
) -> Iterator[ScenarioEvent]:
    """Events of numbered lines; `t` must not go backwards."""
    last_t = 0.0
    for n, text in lines:
        ev = parse_line(text, n, source)
        if ev is None:
            continue
        if ev.t < last_t:
            raise ScenarioError(n, f"t {ev.t:g} goes back in time (previous t {last_t:g})", source)
        last_t = ev.t
        if chairs is not None:
            chairs.see(ev)
        yield ev


def parse_scenario(lines: Iterable[str], source: str = "<scenario>") -> list[ScenarioEvent]:
    """Parse a whole scenario held in memory (one string per line)."""
    chairs = _Chairs(source)
    out = list(_validated(enumerate(lines, start=1), source, chairs))
    put = chairs.resolve()
    if put is not None:
        for ev in out:
            put(ev)
    return out


class ScenarioFile:
    """A scenario file, streamed: iterate it (as often as needed) for its events. The
    first iteration validates the whole file before yielding anything, so a bad line
    stops a replay before it printed a single event; memory stays flat with length."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.source = str(path)
        self._resolve: Callable[[ScenarioEvent], None] | None = None
        self._checked = False
        #: The chairs the scenario names, in order of first mention (after `check`).
        self.chairs: tuple[str, ...] = ()
        # A pipe (`replay /dev/stdin`) cannot be read twice: it is copied to a temporary
        # file on the first read (disk, not memory).
        self._spool: IO[bytes] | None = None
        #: After `optimistic`: lines were played on a wrong guess of their chair.
        self.replay_again = False

    def _open(self) -> IO[bytes]:
        if self._spool is not None:
            self._spool.seek(0)
            return open(self._spool.fileno(), "rb", closefd=False)
        try:
            f = self.path.open("rb")
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                with f:
                    self._spool = tempfile.TemporaryFile()
                    shutil.copyfileobj(f, self._spool)
                return self._open()
        except OSError as e:
            raise ScenarioError(0, f"cannot read: {e.strerror or e}", self.source) from None
        return f

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        with self._open() as f:
            n = 0
            while True:
                # Binary readline ends a line at b"\n" only (str.splitlines would also
                # split at a form feed or U+2028 and shift every line number after it).
                raw = f.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                n += 1
                if len(raw) > MAX_LINE_BYTES:
                    raise ScenarioError(n, f"line longer than {MAX_LINE_BYTES} bytes", self.source)
                yield n, raw

    def check(self) -> None:
        """Validate every line and learn the chairs (the first pass); idempotent."""
        if self._checked:
            return
        chairs = _Chairs(self.source)
        for _ in _validated(self._lines(), self.source, chairs):
            pass
        self._resolve = chairs.resolve()
        self.chairs = tuple(chairs.named)
        self._checked = True

    def optimistic(self) -> Iterator[ScenarioEvent]:
        """One pass that validates and yields as it goes, for a caller that holds its
        output back until the whole file was read (`monitord replay`: half the parsing of
        `check` + iterate). A line without a chair plays on the one chair named so far (or
        `chair-1`); when a chair is first named after such a line, `replay_again` is set
        at the end and the caller plays the file again, now with the chairs known."""
        chairs = _Chairs(self.source)
        self.replay_again = False
        for ev in _validated(self._lines(), self.source, chairs):
            # An unnamed line raised already if several chairs were named before it.
            if chairs.named and "chair" not in ev.model_fields_set:
                only = next(iter(chairs.named))
                if ev.chair != only:
                    _stamp(ev, "chair", only)
            yield ev
        self._resolve = chairs.resolve()
        self.chairs = tuple(chairs.named)
        self._checked = True
        if len(self.chairs) == 1 and chairs.first_unnamed:
            only = self.chairs[0]
            self.replay_again = only != DEFAULT_CHAIR and chairs.first_unnamed < chairs.named[only]

    def __iter__(self) -> Iterator[ScenarioEvent]:
        self.check()
        put = self._resolve
        for ev in _validated(self._lines(), self.source):
            if put is not None:
                put(ev)
            yield ev


def load_scenario(path: str | Path) -> list[ScenarioEvent]:
    """A whole scenario file as a list (small files and tests; replay streams)."""
    return list(ScenarioFile(path))


def to_engine_input(ev: ScenarioEvent, t0: float = 0.0) -> EngineInput | None:
    """A scenario event as an engine input at `t0 + ev.t`; None for `end` (the replay just
    advances its clock to it). Devices are named after their signal (`bp`, `hr`, `spo2`)."""
    t = float(t0 + ev.t)
    c = ev.chair
    # Most frequent first (1 Hz HR and SpO2 against a BP every few minutes).
    if isinstance(ev, Hr):
        return Sample(
            t, c, "hr", Kind.HR, {"hr_bpm": ev.hr}, True, contact=ev.contact, stored=ev.stored
        )
    if isinstance(ev, Spo2):
        contact = None if ev.probe_off is None else not ev.probe_off
        values = {"spo2_pct": ev.spo2, "pulse_bpm": ev.pulse}
        return Sample(t, c, "spo2", Kind.SPO2, values, True, contact, stored=ev.stored)
    if isinstance(ev, Bp):
        bp: dict[str, float | None] = {
            "sys_mmHg": ev.sys,
            "dia_mmHg": ev.dia,
            "map_mmHg": ev.map,
            "pulse_bpm": ev.pulse,
        }
        return Sample(t, c, "bp", Kind.BP, bp, valid=not ev.error, stored=ev.stored)
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
