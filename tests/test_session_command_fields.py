"""`cmd/session` carries who gave it and, on dose_start, the dose and lot (station issue,
REMS form): screened at the edge, kept through the engine input, the store and InfluxDB."""

from __future__ import annotations

import json

import pytest

from monitord.engine.inputs import SessionCmd
from monitord.models import SessionEvent
from monitord.sinks.commands import CommandError, engine_input, parse_command
from monitord.store.codec import session_body, session_from_body


def test_dose_start_carries_by_dose_and_lot_to_the_engine_input() -> None:
    cmd = parse_command(
        "session", b'{"action": "dose_start", "by": "RN Lee", "dose_mg": 56, "lot": "A12"}'
    )
    inp = engine_input(cmd, 100.0, "chair-1")
    assert isinstance(inp, SessionCmd)
    assert (inp.by, inp.dose_mg, inp.lot) == ("RN Lee", 56.0, "A12")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"action": "end", "lot": "A12"}', "lot only with action dose_start"),
        (b'{"action": "start", "dose_mg": 56}', "dose_mg only with action dose_start"),
        (b'{"action": "dose_start", "dose_mg": -1}', "dose_mg: Input should be greater than 0"),
        (b'{"action": "dose_start", "by": ""}', "by: String should have at least 1 character"),
    ],
)
def test_bad_session_fields_are_refused_in_one_line(payload: bytes, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command("session", payload)


def test_session_record_round_trips_with_and_without_the_new_fields() -> None:
    full = SessionEvent(1.0, "chair-1", "dose_start", "esketamine", "s-1", "RN Lee", 84.0, "L9")
    assert session_from_body(session_body(full)) == full
    plain = SessionEvent(1.0, "chair-1", "start", "esketamine", "s-1")
    body = session_body(plain)
    # A body written before these fields existed has none of their keys.
    assert set(body) == {"t", "chair", "action", "protocol", "session_id"}
    assert session_from_body(body) == plain


@pytest.mark.parametrize("which", ["ack", "session"])
@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_time_out_of_range_is_refused_with_a_reason(which: str, when: str) -> None:
    # ISO 8601 with a zone, but no date in UTC: the age check's conversion overflowed
    # (an "internal error" on cmd/errors).
    body = {"alert_id": "a-1", "by": "RN Lee"} if which == "ack" else {"action": "end"}
    payload = json.dumps({**body, "time": when}).encode()
    for now in (None, 1_800_000_000.0):
        with pytest.raises(CommandError) as ei:
            parse_command(which, payload, now=now)
        assert str(ei.value) == f"time: out of range: {when} is no date in UTC"


def test_empty_payload_is_refused() -> None:
    with pytest.raises(CommandError, match=r"^payload is empty: a command is a JSON object$"):
        parse_command("session", b"")


def _nested(depth: int) -> bytes:
    """A `cmd/session` whose `by` nests `depth` levels in all (the object itself is 1)."""
    inner = "1"
    for _ in range(depth - 1):
        inner = f"[{inner}]"
    return f'{{"action": "end", "by": {inner}}}'.encode()


@pytest.mark.parametrize(
    ("which", "body", "refused"),
    [
        # docs/mqtt.md "Commands": the numbers given to stations, at and past each edge.
        ("session", {"action": "dose_start", "dose_mg": 1000}, None),
        ("session", {"action": "dose_start", "dose_mg": 1000.5}, "dose_mg: Input should be less"),
        ("session", {"action": "end", "by": "b" * 64}, None),
        ("session", {"action": "end", "by": "b" * 65}, "by: String should have at most 64"),
        ("session", {"action": "dose_start", "lot": "L" * 64}, None),
        (
            "session",
            {"action": "dose_start", "lot": "L" * 65},
            "lot: String should have at most 64",
        ),
        ("ack", {"alert_id": "a-1", "by": "b" * 64}, None),
        ("ack", {"alert_id": "a-1", "by": "b" * 65}, "by: String should have at most 64"),
    ],
)
def test_the_documented_limits_hold_at_their_edges(
    which: str, body: dict[str, object], refused: str | None
) -> None:
    payload = json.dumps(body).encode()
    if refused is None:
        parse_command(which, payload)
    else:
        with pytest.raises(CommandError, match=refused):
            parse_command(which, payload)


def test_size_and_nesting_are_refused_past_the_documented_4_kib_and_4_levels() -> None:
    """ "larger than 4 KiB, nested deeper than 4 levels" (docs/mqtt.md): a command nested 5
    deep is refused for its nesting before its schema is read; 4 deep it is the schema's."""
    with pytest.raises(CommandError, match=r"^payload is nested deeper than 4 levels$"):
        parse_command("session", _nested(5))
    with pytest.raises(CommandError, match=r"^by: Input should be a valid string$"):
        parse_command("session", _nested(4))
    pad = 4096 - len(b'{"action": "end", "by": ""}')
    exact = json.dumps({"action": "end", "by": " " * pad}).encode()
    assert len(exact) == 4096
    with pytest.raises(CommandError) as ei:  # refused for its `by` (all blank), not its size
        parse_command("session", exact)
    assert "too large" not in str(ei.value)
    with pytest.raises(CommandError, match=r"^command too large \(4097 bytes; limit 4096 bytes\)$"):
        parse_command("session", exact[:-2] + b' "}')


def test_a_session_id_over_64_names_a_generated_session_but_is_not_given_at_start() -> None:
    # `<chair>-<second>` for a chair id of 60: a dose_start, dose_end or end names it
    # (the station sends the id its tile shows); a nurse's own id at start stays within 64.
    sid = "b" * 60 + "-1796423269-2"
    for action in ("dose_start", "dose_end", "end"):
        cmd = parse_command("session", json.dumps({"action": action, "session_id": sid}).encode())
        inp = engine_input(cmd, 1.0, "c")
        assert isinstance(inp, SessionCmd) and inp.session_id == sid
    with pytest.raises(CommandError, match="session_id on start: at most 64 characters"):
        parse_command("session", json.dumps({"action": "start", "session_id": sid}).encode())
    with pytest.raises(CommandError, match="session_id"):
        parse_command("session", json.dumps({"action": "end", "session_id": "c" * 97}).encode())
