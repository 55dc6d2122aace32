"""A live session command for a session that is not the chair's open one (extracted so
monitord/chair.py stays one responsibility).

The station sends `session_id` (the session its tile shows) with Dose start, Dose end and
End session (docs/mqtt.md `cmd/session`). A page behind the chair (a confirmation left open
while a colleague ended the session and started the next patient) sent its command without
it before, and the daemon applied it to the next patient's session: her baseline fixed by
the wrong tap, or her session ended. clinical-rules.md "Session": commands out of order are
refused, never implied; so a command for another session is refused before the engine
sees it, in the chair task's order of inputs (the session it is judged against is the one
open when the engine would apply it). A command without `session_id` (Home Assistant,
Node-RED, the CLI, an older station) is judged by the engine alone, as before.

Live only: the engine and its replay never see the refused command (nothing is stored).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from monitord.engine.inputs import SessionCmd
from monitord.models import Refusal, iso

# The sessions whose end a refusal can name: a station is minutes behind, never dozens of
# sessions; the oldest are forgotten (the refusal then names no end time).
ENDED_KEPT = 32

_WORDS = {"dose_start": "Dose start", "dose_end": "Dose end", "end": "End session"}


class SessionGuard:
    """One chair's check of a command's `session_id` against its open session."""

    def __init__(self, chair: str) -> None:
        self.chair = chair
        self._ended: OrderedDict[str, float] = OrderedDict()  # session id -> end (chair time)

    def ended(self, session_id: str, t: float) -> None:
        """The chair's session `session_id` ended at `t` (chair time)."""
        self._ended[session_id] = t
        self._ended.move_to_end(session_id)
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)

    def check(self, inp: SessionCmd, open_session: dict[str, Any] | None) -> Refusal | None:
        """The refusal of `inp` when it names a session that is not `open_session` (the
        engine's `session()` now), else None (the engine judges it)."""
        sent = inp.session_id
        if inp.action == "start" or sent is None:
            return None
        if not open_session or sent == open_session.get("session_id"):
            # No session open: the engine refuses it as before (every one of these needs
            # an open session), and the station words that (an End already done is a
            # duplicate, not a failure).
            return None
        now_id, started = str(open_session["session_id"]), float(open_session["started_t"])
        what = _WORDS.get(inp.action, inp.action)
        ended_t = self._ended.get(sent)
        was = f"session {sent}" + (f", ended at {iso(ended_t)}" if ended_t is not None else "")
        return Refusal(
            f"{self.chair}: this {what} was for {was}; the chair now has session {now_id} "
            f"(started {iso(started)}): press again on the board as it is now",
            "session",
            sent_session_id=sent,
            sent_session_ended=None if ended_t is None else iso(ended_t),
            open_session_id=now_id,
            open_session_started=iso(started),
        )
