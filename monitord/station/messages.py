"""The shapes of the messages the station reads (docs/mqtt.md), screened at the edge.

Every message on a chair's topic (`status`, `vitals/{kind}`, `alerts/active`,
`alerts/events`, `cmd/errors`) and every station status is untrusted input: anything with
an account on the broker may publish it, and a retained one is read again at every
reconnect. So, before anything of it reaches the model (model.py), a payload is refused,
with one line saying what was wrong, when it is
- larger than `MAX_MESSAGE_BYTES` (checked before it is decoded),
- nested deeper than `MAX_DEPTH` (a linear scan before `json.loads`, whose C parser
  recurses per level: `[` x 200,000 raised RecursionError out of the model),
- not UTF-8, not JSON, or carrying NaN, Infinity or a number too large for a float (the
  station's JSON to the pages would not be JSON: `JSON.parse` refuses `NaN`),
- not an object, or not its topic's shape below: pydantic in strict mode (no coercion: a
  list as `alert_id`, `"1700000000"` as `raised_t`, `"true"` as `ack` are refused; each
  of them once broke the tiles or every page's `/api/events`), with bounded strings and
  lists. Fields the daemon does not always send are optional; unknown fields are kept
  (docs/mqtt.md adds fields, never changes one).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from monitord.sinks.commands import MAX_ALERT_ID, load_bounded

# The largest real message is an active set: ~500 bytes per alert, a few alerts at once.
MAX_MESSAGE_BYTES = 64 * 1024
# Real messages nest 4 deep (active set > alerts > alert > value); room for a richer value.
MAX_DEPTH = 8
MAX_ALERTS = 256
# At most this many of a message's errors are named in its log line.
MAX_ERRORS_NAMED = 3

Priority = Literal["high", "medium", "low", "info"]
Kind = Literal["physiological", "technical", "advisory"]
Phase = Literal["idle", "baseline", "dosing", "observation"]
OnOff = Literal["online", "offline"]
Name = Annotated[str, Field(max_length=128)]  # ids, rule names, flags, versions
Text = Annotated[str, Field(max_length=4096)]  # messages, refusals
Finite = Annotated[float, Field(allow_inf_nan=False)]
AlertId = Annotated[str, Field(min_length=1, max_length=MAX_ALERT_ID)]


def _iso_time(v: str) -> str:
    # ISO 8601 with a zone, in the extended form the pages' `Date.parse` reads too.
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None
    if t.tzinfo is None or len(v) < 16 or v[4] != "-" or v[10] != "T":
        raise ValueError("not an ISO 8601 time with a zone (2026-11-30T09:12:03.417Z)")
    return v


IsoTime = Annotated[str, Field(max_length=40), AfterValidator(_iso_time)]


class MessageError(ValueError):
    """A message refused; the text is one line naming what was wrong."""


class _Shape(BaseModel):
    # Strict: the station shows what the daemon sent, never a coerced guess. Extra fields
    # are kept (docs/mqtt.md may add some; vitals carry theirs named by unit).
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    def dump(self) -> dict[str, Any]:
        """The message as sent (fields it lacked stay absent), its values validated."""
        return self.model_dump(exclude_unset=True)


class Status(_Shape):
    """A chair's `status` (also its Last Will) or a station's status."""

    state: OnOff
    time: IsoTime | None = None
    version: Name | None = None
    # A chair's, while another client takes its connection over (docs/mqtt.md).
    conflict: Text | None = None
    # A chair's clock when it sent this (its alert times' clock; `time` is the wall's).
    chair_time: IsoTime | None = None
    # Seconds that clock leapt forward since the chair's link went down (docs/mqtt.md).
    leapt_s: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None


class Reading(_Shape):
    """`vitals/{kind}`: one reading, its values named by unit (extra fields)."""

    chair: Name | None = None
    device: Name | None = None
    kind: Name | None = None
    measured_at: IsoTime | None = None
    # The daemon's receive time (docs/mqtt.md): the page ages the reading on it.
    received_at: IsoTime | None = None
    valid: bool | None = None
    quality: Annotated[list[Name], Field(max_length=32)] | None = None
    contact: bool | None = None
    sys_mmHg: Finite | None = None
    dia_mmHg: Finite | None = None
    map_mmHg: Finite | None = None
    pulse_bpm: Finite | None = None
    hr_bpm: Finite | None = None
    spo2_pct: Finite | None = None


class Session(_Shape):
    """The `session` of an active set."""

    phase: Phase
    protocol: Name | None = None
    session_id: Name | None = None
    started: IsoTime | None = None
    dose_start: IsoTime | None = None
    dose_end: IsoTime | None = None
    observation_met: IsoTime | None = None
    bp_due: IsoTime | None = None
    bp_cycle_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class ActiveAlert(_Shape):
    """One alert of `alerts/active` (design: "active alerts with priority, state, ack")."""

    alert_id: AlertId
    priority: Priority
    ack: bool
    state: Literal["active", "inhibited", "clear_pending"] | None = None
    rule: Name | None = None
    kind: Kind | None = None
    raised_t: Finite | None = None  # the chair's clock, epoch seconds
    level: Annotated[int, Field(ge=0)] | None = None
    message: Text | None = None
    value: dict[str, Any] | None = None
    by: Name | None = None


class ActiveSet(_Shape):
    """`alerts/active`: the chair's whole active set, retained."""

    alerts: Annotated[list[ActiveAlert], Field(max_length=MAX_ALERTS)]
    time: IsoTime | None = None
    session: Session | None = None


class AlertEvent(_Shape):
    """`alerts/events`: one alert event (`alert_id` null only for `pending`)."""

    event: Literal["pending", "raised", "escalated", "acknowledged", "cleared"]
    alert_id: AlertId | None = None
    time: IsoTime | None = None
    chair: Name | None = None
    rule: Name | None = None
    priority: Priority | None = None
    kind: Kind | None = None
    phase: Phase | None = None
    value: dict[str, Any] | None = None
    message: Text | None = None
    level: Annotated[int, Field(ge=0)] | None = None
    by: Name | None = None


class CmdError(_Shape):
    """`cmd/errors`: the daemon's refusal of a command (its payload's first 500 chars)."""

    time: IsoTime | None = None
    topic: Annotated[str, Field(max_length=1024)] | None = None
    error: Text | None = None
    payload: Annotated[str, Field(max_length=2048)] | None = None
    # Optional, from daemons that say what an ACK found (docs/mqtt.md "cmd/errors"):
    # `acknowledged` (by `acked_by` at `acked_at`), `cleared` (at `cleared_at`), `unknown`.
    code: Name | None = None
    alert_id: AlertId | None = None
    rule: Name | None = None
    acked_by: Name | None = None
    acked_at: IsoTime | None = None
    cleared_at: IsoTime | None = None
    # `session`: a session command for a session that is not the chair's open one (a page
    # behind): the session it was for (and when it ended) and the one open now.
    sent_session_id: Name | None = None
    sent_session_ended: IsoTime | None = None
    open_session_id: Name | None = None
    open_session_started: IsoTime | None = None


Message = Status | Reading | ActiveSet | AlertEvent | CmdError


_SHAPES: dict[str, type[Message]] = {
    "status": Status,
    "alerts/active": ActiveSet,
    "alerts/events": AlertEvent,
    "cmd/errors": CmdError,
}


def shape_of(rest: str) -> type[Message] | None:
    """The shape of a chair's topic `rest` (after `{prefix}/{site}/{chair}/`)."""
    if rest.startswith("vitals/") and rest.count("/") == 1:
        return Reading
    return _SHAPES.get(rest)


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):  # 1e999: json.loads made it inf
        raise ValueError(f"number {text[:20]} is out of range")
    return v


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def load(payload: bytes) -> dict[str, Any]:
    """The JSON object of `payload`, or MessageError; the checks before json.loads keep
    its cost and its recursion bounded."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise MessageError(f"payload too large ({len(payload)} bytes; limit {MAX_MESSAGE_BYTES})")
    try:
        body = load_bounded(payload, MAX_DEPTH, parse_constant=_constant, parse_float=_finite)
    except ValueError as e:
        raise MessageError(str(e)) from None
    if not isinstance(body, dict):
        raise MessageError(f"payload is a JSON {type(body).__name__}, not an object")
    return body


def validate(shape: type[Message], body: dict[str, Any]) -> Message:
    """`body` as `shape`, or MessageError naming the first few fields that are wrong."""
    try:
        return shape.model_validate(body)
    except ValidationError as e:
        errs = e.errors(include_url=False, include_input=False)
        named = [
            f"{'.'.join(str(p) for p in err['loc']) or '(object)'}: {err['msg']}"
            for err in errs[:MAX_ERRORS_NAMED]
        ]
        more = len(errs) - len(named)
        raise MessageError("; ".join(named) + (f" (and {more} more)" if more else "")) from None
