"""Phone escalation: a high-priority alert nobody acknowledged within `after_s` is POSTed
to a webhook (`[station.forwarder]`), once per alert.

`mode = "json"` posts `{"site", "chair", "alert_id", "rule", "priority", "message",
"raised_at", "unacknowledged_s"}`; `mode = "ntfy"` posts the message as text with ntfy's
`Title`, `Priority` (5 = max) and `Tags` headers (an ntfy topic URL). The deadline runs on
the station's monotonic clock from when the station saw the alert raised; it is a
forwarding delay, not alert logic. A failed POST is retried every few seconds until the
alert is acknowledged or cleared (logged at WARNING once, DEBUG on repeats).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from monitord.aio import Doze
from monitord.config import ForwarderConfig
from monitord.log import FailureLog
from monitord.station.model import ChairView

log = logging.getLogger("monitord.station.forwarder")
RETRY_S = 5.0


@dataclass
class _Pending:
    chair: str
    event: dict[str, Any]
    due: float  # monotonic
    sent: bool = False


class Forwarder:
    def __init__(self, cfg: ForwarderConfig, site: str) -> None:
        self.cfg = cfg
        self.site = site
        self._pending: dict[str, _Pending] = {}
        self._doze = Doze()  # the wait for the next deadline: a new alert ends it
        self._flog = FailureLog(log, "phone forwarder")
        self.sent = 0

    def on_event(self, ev: Mapping[str, Any]) -> None:
        aid, kind = ev.get("alert_id"), ev.get("event")
        if not isinstance(aid, str):
            return
        if kind == "raised" and ev.get("priority") == "high":
            if aid not in self._pending:
                self._pending[aid] = _Pending(
                    str(ev.get("chair")), dict(ev), time.monotonic() + self.cfg.after_s
                )
                self._doze.rouse()
        elif kind in ("acknowledged", "cleared"):
            self._pending.pop(aid, None)

    def on_chairs(self, chairs: Mapping[str, ChairView]) -> None:
        """An active set acknowledged or without the alert ends its countdown too (an ack
        made while the station was away arrives as the retained set only)."""
        for aid, p in list(self._pending.items()):
            view = chairs.get(p.chair)
            if view is None:
                continue
            match = [a for a in view.alerts if a.get("alert_id") == aid]
            if not match or match[0].get("ack"):
                del self._pending[aid]

    def _body(self, p: _Pending) -> dict[str, Any]:
        ev = p.event
        return {
            "site": self.site,
            "chair": p.chair,
            "alert_id": ev.get("alert_id"),
            "rule": ev.get("rule"),
            "priority": ev.get("priority"),
            "message": ev.get("message"),
            "raised_at": ev.get("time"),
            "unacknowledged_s": self.cfg.after_s,
        }

    async def _post(self, session: aiohttp.ClientSession, p: _Pending) -> None:
        body = self._body(p)
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_s)
        if self.cfg.mode == "ntfy":
            text = (
                f"{p.chair}: {body['message']} - not acknowledged for {self.cfg.after_s / 60:g} min"
            )
            headers = {
                "Title": f"monitord {self.site} {p.chair}: HIGH alarm",
                "Priority": "5",
                "Tags": "rotating_light",
            }
            req = session.post(self.cfg.url, data=text.encode(), headers=headers, timeout=timeout)
        else:
            req = session.post(self.cfg.url, json=body, timeout=timeout)
        async with req as resp:
            if resp.status >= 300:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=resp.reason or ""
                )

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                now = time.monotonic()
                for aid, p in list(self._pending.items()):
                    if p.sent or p.due > now:
                        continue
                    try:
                        await self._post(session, p)
                    except (aiohttp.ClientError, TimeoutError, OSError) as e:
                        p.due = time.monotonic() + RETRY_S
                        self._flog.failure(type(e).__name__, f"{self.cfg.url}: {e}")
                        continue
                    self._flog.success()
                    p.sent = True
                    self.sent += 1
                    log.warning("station: forwarded unacknowledged %s on %s", aid, p.chair)
                waits = [p.due for p in self._pending.values() if not p.sent]
                delay = max(0.05, min(waits) - time.monotonic()) if waits else 3600.0
                # Not asyncio.wait_for: in 3.11 it loses a stop that comes in the loop
                # turn of a new alert's wake, and the station hung on SIGTERM
                # (monitord/aio.py).
                await self._doze(delay)
