"""A nurse's command that the chair's full input queue cannot take is answered, not lost.

The MQTT sink hands a command to the chair and waits for its answer in the chair
connection's receive loop (sinks/mqtt_incoming.py): acknowledgements, session commands
and station receipts are read one after the other. Found by this round's audit of
delivery: when the chair's input queue was full (a stuck chair task), the command was
dropped and its answer never came, so that receive loop waited for ever; the ack was lost
without a word on `cmd/errors`, and every later ack and receipt of that chair with it
(design.md section 6: a command that is not applied is answered on `cmd/errors`).

A real chair (engine, outbox) whose task is not running, so that its queue fills.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from monitord.chair import QUEUE_MAX
from monitord.engine.inputs import Ack
from monitord.hub import Hub
from monitord.models import Kind, Reading
from tests.kit import make_chair


async def test_a_command_to_a_full_queue_is_refused_at_once(tmp_path: Path) -> None:
    chair = make_chair(tmp_path, Hub())
    now = datetime.now(UTC)
    hr = Reading("chair-1", "hr", Kind.HR, {"hr_bpm": 70.0}, now, now)
    for _ in range(QUEUE_MAX):
        chair.submit(hr)
    assert chair.queue.full()
    ack = Ack(now.timestamp(), "chair-1", alert_id="chair-1:spo2.very_low:1", by="nurse-1")
    # Bounded only so that the old behaviour fails instead of hanging the suite.
    err = await asyncio.wait_for(chair.command(ack), 10)
    assert err is not None and "queue is full" in err and "not applied" in err, err
    assert chair.overflow == 1
