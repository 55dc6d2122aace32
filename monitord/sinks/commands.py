"""Nurse commands from MQTT (`cmd/ack`, `cmd/session`): untrusted input, screened at the edge.

A command is refused, with one line saying why, when it is
- larger than `MAX_COMMAND_BYTES` (checked before anything is decoded: a 200 MiB payload
  must not be copied, decoded and parsed),
- nested deeper than `MAX_COMMAND_DEPTH` (checked by a linear scan before `json.loads`,
  whose C parser recurses per level: 50,000 levels raised RecursionError out of the sink),
- not UTF-8, not JSON, not an object, or not the command's schema,
- carrying a `time` (ISO 8601 with a zone) further than `max_age_s` from now: a command
  queued for hours or re-sent from a station's history is not today's intent.
Retained commands are refused by the sink before they get here (see sinks/mqtt.py).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitord.engine.inputs import Ack, SessionCmd

MAX_COMMAND_BYTES = 4096  # the largest real command is ~300 bytes
MAX_COMMAND_DEPTH = 4  # commands are flat objects (depth 1)
# The longest alert id the engine makes (monitord/engine/book.py `chair:rule[:device]:ms`,
# with a `-n` when an episode repeats within a millisecond): a 64-character chair and
# device id (config `Ident`) make a `tech.device_lost` id of ~160 characters. 128 refused
# the ack of such an alarm, which then could not be acknowledged from the station.
MAX_ALERT_ID = 256


class _Cmd(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    # When the station sent it (optional): lets the daemon refuse a stale command.
    time: AwareDatetime | None = None

    @field_validator("time")
    @classmethod
    def _in_range(cls, v: dt.datetime | None) -> dt.datetime | None:
        # ISO 8601 allows 0001-01-01T00:00:00+14:00, which is before year 1 in UTC: the
        # age check's conversion overflowed and the command got "internal error".
        if v is None:
            return v
        try:
            v.astimezone(dt.UTC)
        except OverflowError:
            raise PydanticCustomError(
                "time_range", "out of range: {time} is no date in UTC", {"time": v.isoformat()}
            ) from None
        return v


class AckCommand(_Cmd):
    """`cmd/ack`: acknowledge one active alert."""

    alert_id: Annotated[str, Field(min_length=1, max_length=MAX_ALERT_ID)]
    by: Annotated[str, Field(min_length=1, max_length=64)]


# The longest session id a dose_start, dose_end or end may name: one the daemon generated
# for a chair of the longest id (64) is `<chair>-<epoch second>-<n>`. Before, 64 here: the
# station's Dose start for such a session was refused as malformed (docs/mqtt.md).
MAX_SESSION_ID = 96


class SessionCommand(_Cmd):
    """`cmd/session`: session actions from the nurse station."""

    action: Literal["start", "dose_start", "dose_end", "end"]
    protocol: Literal["esketamine", "iv-ketamine"] | None = None
    # Up to MAX_SESSION_ID: on dose_start, dose_end and end it names a session the daemon
    # may have named itself (`<chair>-<second>-<n>`, longer than 64 for a long chair id);
    # one given at `start` stays within 64 (below).
    session_id: (
        Annotated[
            str,
            Field(min_length=1, max_length=MAX_SESSION_ID, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
        ]
        | None
    ) = None
    # Recorded with the session for the monitoring record (who, and for dose_start the
    # dose and lot); optional so a plain `mosquitto_pub` command still works.
    by: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    dose_mg: Annotated[float, Field(gt=0, le=1000)] | None = None
    lot: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _dose_fields_on_dose_start(self) -> SessionCommand:
        if self.action == "start" and self.session_id is not None and len(self.session_id) > 64:
            raise ValueError("session_id on start: at most 64 characters")
        if self.action != "dose_start":
            given = [k for k in ("dose_mg", "lot") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} only with action dose_start")
        return self


Command = AckCommand | SessionCommand


def engine_input(cmd: Command, t: float, chair: str) -> Ack | SessionCmd:
    """The engine's input for a screened command, stamped with the chair's time `t`."""
    if isinstance(cmd, AckCommand):
        return Ack(t, chair, alert_id=cmd.alert_id, by=cmd.by)
    return SessionCmd(
        t,
        chair,
        cmd.action,
        cmd.protocol,
        cmd.session_id,
        by=cmd.by,
        dose_mg=cmd.dose_mg,
        lot=cmd.lot,
    )


class CommandError(ValueError):
    """A malformed command; the message is one line naming what was wrong."""


def nesting_exceeds(text: str, limit: int) -> bool:
    """True if JSON `text` opens more than `limit` arrays/objects inside each other.
    Linear, no recursion; brackets inside strings do not count."""
    depth = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def load_bounded(payload: bytes, max_depth: int, **loads: Any) -> Any:
    """`json.loads` of a payload from the network with its recursion bounded: the text must
    be UTF-8 and nest at most `max_depth` deep (scanned first: a deeply nested payload
    would exhaust json.loads' recursion). Raises ValueError naming what was wrong; the
    caller checks the size first and the top level after. Commands and the station's
    messages (monitord/station/messages.py) both load through it."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("payload is not UTF-8") from None
    if nesting_exceeds(text, max_depth):
        raise ValueError(f"payload is nested deeper than {max_depth} levels")
    try:
        return json.loads(text, **loads)
    except RecursionError:  # unreachable after the scan; kept so it can never escape
        raise ValueError("payload is nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"payload is not JSON: {e}") from None


def parse_command(
    which: str, payload: bytes, *, now: float | None = None, max_age_s: float = 60.0
) -> Command:
    """The command on topic `cmd/{which}`; `now` (epoch s) enables the age check."""
    if not payload:
        # Only a retained empty message means something (it clears one): the sink drops
        # those before they get here.
        raise CommandError("payload is empty: a command is a JSON object")
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError(
            f"command too large ({len(payload)} bytes; limit {MAX_COMMAND_BYTES} bytes)"
        )
    try:
        obj = load_bounded(payload, MAX_COMMAND_DEPTH)
    except ValueError as e:
        raise CommandError(str(e)) from None
    if not isinstance(obj, dict):
        raise CommandError("payload must be a JSON object")
    model: type[_Cmd] = AckCommand if which == "ack" else SessionCommand
    try:
        cmd = model.model_validate(obj)
    except ValidationError as e:
        errs = [
            f"{'.'.join(str(p) for p in err['loc']) or '(object)'}: "
            + ("unknown field" if err["type"] == "extra_forbidden" else err["msg"])
            for err in e.errors()
        ]
        raise CommandError("; ".join(errs)) from None
    assert isinstance(cmd, AckCommand | SessionCommand)
    if cmd.time is not None and now is not None:
        _check_age(cmd.time, now, max_age_s)
    return cmd


def _check_age(sent: dt.datetime, now: float, max_age_s: float) -> None:
    """Each refusal names this machine's clock beside the command's: the station stamps its
    commands with its own clock, and after a Pi boots on fake-hwclock's saved time, before
    NTP, it is this Pi's clock that is off. Before, a command from a station whose clock
    was right was refused as "in the future ...: check the station's clock", sending the
    admin to the clock that was right."""
    age = now - sent.timestamp()
    when = sent.astimezone(dt.UTC).isoformat(timespec="seconds")
    here = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds")
    clocks = (
        "this Pi's clock not yet synchronized after a boot (`timedatectl` on the Pi: "
        "'System clock synchronized: no'; it boots on the last saved time), or the station's"
    )
    if age > max_age_s:
        raise CommandError(
            f"command is stale: sent {when}, {age:.0f} s before this Pi's clock ({here}), "
            f"older than {max_age_s:g} s (mqtt.command_max_age_s); send it again if it is "
            f"still meant; if it was just sent, one of the two clocks is wrong: {clocks}"
        )
    if -age > max_age_s:
        raise CommandError(
            f"command time {when} is {-age:.0f} s ahead of this Pi's clock ({here}; more "
            f"than {max_age_s:g} s): one of the two clocks is wrong: {clocks}; the command "
            "was not carried out"
        )
