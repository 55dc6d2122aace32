"""Phone escalation: a high-priority alert nobody acknowledged within `after_s` is POSTed
to a webhook (`[station.forwarder]`), once per alert.

`mode = "json"` posts `{"site", "chair", "alert_id", "rule", "priority", "message",
"raised_at", "unacknowledged_s"}`; `mode = "ntfy"` posts the message as text with ntfy's
`Title`, `Priority` (5 = max) and `Tags` headers (an ntfy topic URL). The deadline runs on
the station's monotonic clock; it is a forwarding delay, not alert logic. A failed POST is
retried every few seconds until the alert is acknowledged or cleared, logged at WARNING
once per alert and cause (`_cause`: a timeout, an HTTP status, a connection refused, each
TLS refusal as tlsrefused.refusal names it, an expired or not yet valid certificate), DEBUG
on its repeats, until a POST is taken. Before, the causes were told apart by exception type
(a certificate "not trusted", then "expired", at DEBUG) and once per run of failures: an
alarm raised after the others were acknowledged, while the webhook kept failing, had its
failure at DEBUG, and the IT admin never heard its phone call had failed.

Where the countdown starts: at a live `raised` event, from its time on the chair's clock
when it was stamped before its connection's live `online` said that clock (`chair_time`,
docs/mqtt.md: a raise held in the daemon's outbox while its link was down comes late), as
of that `online` (`ChairView.age`); at once otherwise (a raise stamped later came live; a
daemon that sends no `chair_time`). An alert
the station learns otherwise, from a chair's retained `alerts/active` (the station started
or restarted, or reconnected to the broker after the raise; or an `escalated` event of an
alert it never saw raised), starts it too: from the alert's `raised_t` when the set carries
it (so it is posted `after_s` after the raise, at once when that is past), else from when
it is seen. Before (an audit found it), such an alert was never forwarded however long it
stayed unacknowledged. `raised_t` is the chair's clock, so the alert's age is read on that
clock as the station learnt it from the chair's sets and events heard live
(`ChairView.age_clock`: never ahead of it, less the leaps its `online` said; learnt anew
at each new connection's `online`, also one replayed as the station gets the broker
back): a chair clock behind the station's no longer reads the alert as old (its phone
was called at once, up to `after_s` early).
Before the station heard the chair live (it started after the raise), its clock is taken
as the station's. Read ahead, the age counts from when seen: a countdown is never longer than
`after_s` from then.

What ends it: only an acknowledgement or a clear the station sees (an `acknowledged` or
`cleared` event, or the alert shown with `ack`), or its POST. An alert merely missing from
the station's view (a set of the same millisecond without it, two daemons on one chair id,
a replayed set then a live one) pauses its countdown: shown again unacknowledged, it
resumes, due no later than before (posted at once when that is past). Before, missing
once ended it for good, and the alarm shown again was never forwarded however long it
stayed unacknowledged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from monitord.aio import Doze
from monitord.config import ForwarderConfig
from monitord.config_station import FORWARDER_TOKEN_ENV, token_problem
from monitord.config_tls import web_verifier
from monitord.log import FailureLog
from monitord.models import iso
from monitord.sinks.mqtt_errors import PasswordUnreadable, read_password
from monitord.station.model import ChairView
from monitord.tlsclock import clock_fact, clock_fix, expired, not_yet_valid, peer_certificate
from monitord.tlsrefused import chain_cas, expired_said, refusal, refused, renew, renew_ca

log = logging.getLogger("monitord.station.forwarder")
RETRY_S = 5.0
# Alert ids forwarded, acknowledged or cleared in this process: never counted down again
# when a retained active set shows them once more (a broker reconnect). Thousands of
# alerts: weeks of a clinic. As many paused countdowns are kept (an alert cleared while
# the station was away is missing for good and never resumes: the oldest are forgotten).
KEEP_DONE = 4096
# The webhook's server as the fixes for its expired certificate name it (tlsrefused.renew):
# a self-hosted ntfy or paging gateway, its certificate set in its own config.
WEBHOOK = "webhook server"
WEBHOOK_CERT = "the one served at station.forwarder.url"
WEBHOOK_RESTART = "that server"
# The cause of a failure whose line waits for the webhook's certificate (`_failed`).
EXPIRED = "certificate expired"


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
        self._done: OrderedDict[str, None] = OrderedDict()
        # Countdowns of alerts missing from the view, neither acknowledged nor cleared
        # there: resumed if the alert shows again (`_count_down`).
        self._paused: OrderedDict[str, _Pending] = OrderedDict()
        self._doze = Doze()  # the wait for the next deadline: a new alert ends it
        self._flog = FailureLog(log, "phone forwarder")
        web_verifier()  # the system's CA store read here, at the start, not in the loop
        # The webhook as the journal names it: its scheme and host only. Its path and
        # query may be the credential (a Slack-style webhook's path, ntfy's `?auth=`).
        parts = urlsplit(cfg.url)
        self._where = f"{parts.scheme}://{parts.netloc}"
        self.sent = 0
        # The webhook's certificate when OpenSSL said one of its chain expired, read once
        # per run of failures (`_failed`), and the failures whose lines wait for it: each
        # alert's first (by alert id: its line's head). Before, one line waited, and a
        # second alert failing meanwhile was at DEBUG only.
        self._peer: asyncio.Task[bytes | None] | None = None
        self._unsaid: dict[str, str] = {}

    def on_event(self, ev: Mapping[str, Any], view: ChairView | None = None) -> None:
        """A live alert event of the chair `view` (as the model holds it, this applied)."""
        aid, kind = ev.get("alert_id"), ev.get("event")
        if not isinstance(aid, str):
            return
        if kind == "raised" and ev.get("priority") == "high":
            now = time.monotonic()
            # From the raise, on the chair's clock: a raise held in the daemon's outbox
            # while its link was down comes late, and counted from when it came it was
            # phoned up to `after_s` late. Only one stamped before the `online` said the
            # chair's clock (`ChairView.age`): a later one came live, counted from now.
            age = None if view is None else view.age(ev.get("time"), now)
            age = min(max(age or 0.0, 0.0), self.cfg.after_s)
            self._count_down(aid, str(ev.get("chair")), dict(ev), now - age)
        elif kind in ("acknowledged", "cleared"):
            self._end(aid)

    def on_chairs(self, chairs: Mapping[str, ChairView]) -> None:
        """The chairs' alerts as the station holds them (their retained active sets, and
        the events applied since). An alert shown acknowledged ends its countdown for good
        (an ack made while the station was away arrives as the retained set only); one
        missing pauses it (`_pause`); a high one not acknowledged and not counting down
        starts it from its raise time, or resumes its paused one."""
        for aid, p in list(self._pending.items()):
            view = chairs.get(p.chair)
            if view is None:
                continue
            match = [a for a in view.alerts if a.get("alert_id") == aid]
            if not match:
                self._pause(aid)
            elif match[0].get("ack"):
                self._end(aid)
        now, wall = time.monotonic(), time.time()
        for chair, view in chairs.items():
            for a in view.alerts:
                key = a.get("alert_id")
                if not isinstance(key, str):
                    continue
                if a.get("ack"):
                    self._end(key)  # seen acknowledged: also a paused or future countdown
                    continue
                if a.get("priority") != "high":
                    continue
                raised = a.get("raised_t")
                if isinstance(raised, int | float) and not isinstance(raised, bool):
                    if math.isfinite(raised):
                        # How long it has been up, on the chair's clock (`raised_t` is on
                        # it): one behind the station's read the alert as old, and the
                        # phone was called at once. Heard nothing live from the chair, its
                        # clock is taken as the station's. One ahead counts from now.
                        at = view.age_clock(now)
                        age = (wall if at is None else at) - raised
                        age = min(max(age, 0.0), self.cfg.after_s)
                        ev = {**a, "chair": chair, "time": iso(raised)}
                        self._count_down(key, chair, ev, now - age)
                        continue
                self._count_down(key, chair, {**a, "chair": chair}, now)

    def _count_down(self, aid: str, chair: str, ev: dict[str, Any], since: float) -> None:
        """Start `aid`'s countdown from `since` (monotonic), unless it is counting down
        already or was forwarded or ended in this process: once per alert. A paused one
        resumes, due no later than it was (the earlier deadline of the two)."""
        if aid in self._pending or aid in self._done:
            return
        due = since + self.cfg.after_s
        paused = self._paused.pop(aid, None)
        if paused is None:
            self._pending[aid] = _Pending(chair, ev, due)
        elif paused.sent:  # its POST, in flight when it went missing, was taken
            self._remember(aid)
            return
        else:
            # The same countdown, not a new one: its POST may be in flight (`run` marks
            # that object sent). A new one, due at once and never marked, posted it twice.
            paused.due = min(due, paused.due)
            paused.event = {**paused.event, **ev}  # the raise's `time` when this view lacks it
            self._pending[aid] = paused
        self._doze.rouse()

    def _pause(self, aid: str) -> None:
        """`aid` is missing from its chair's view, with no ack or clear seen: its
        countdown waits for it to show again. One already posted is done (never twice);
        one whose POST is in flight is marked sent when it is taken (`_count_down`)."""
        p = self._pending.pop(aid)
        if p.sent:
            self._remember(aid)
            return
        self._paused[aid] = p
        while len(self._paused) > KEEP_DONE:
            self._forget(self._paused.popitem(last=False)[0])

    def _end(self, aid: str) -> None:
        """An ack or a clear seen: `aid` is never counted down again in this process."""
        self._paused.pop(aid, None)
        self._pending.pop(aid, None)
        self._remember(aid)

    def _remember(self, aid: str) -> None:
        self._done[aid] = None
        while len(self._done) > KEEP_DONE:
            self._done.popitem(last=False)
        self._forget(aid)

    def _forget(self, aid: str) -> None:
        """`aid` will not be posted again: its failures' causes are not kept (a webhook
        failing for weeks of alarms)."""
        if self._flog.failing:
            self._flog.forget(lambda cls: isinstance(cls, tuple) and cls[0] == aid)

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

    def _why(self, e: BaseException) -> str:
        """What went wrong with a POST, in words, without the URL's path or query (an
        ntfy token is `?auth=...`): a TimeoutError's text is empty, a refusal's repeats
        the whole URL."""
        if isinstance(e, TimeoutError):
            return f"no answer within {self.cfg.timeout_s:g} s (station.forwarder.timeout_s)"
        if isinstance(e, aiohttp.ClientResponseError):
            return f"HTTP {e.status} {e.message}".rstrip()
        return f"{type(e).__name__}: {e}".replace(self.cfg.url, self._where)

    def _cause(self, e: BaseException) -> str:
        """What a failed POST's line is news for, beside its alert: each cause said at
        WARNING once per alert (`_failed`). The TLS faults as the lines tell them apart
        (`_advice`; all one exception type), a timeout, the HTTP status, the OS error (a
        connection refused, no route), else the exception's type."""
        cause = e.certificate_error if isinstance(e, aiohttp.ClientConnectorCertificateError) else e
        if not_yet_valid(cause):
            return "certificate not valid yet"
        if expired(cause):
            return EXPIRED
        if (kind := refusal(cause)) is not None:
            return kind
        if isinstance(e, TimeoutError):
            return "timeout"
        if isinstance(e, aiohttp.ClientResponseError):
            return f"HTTP {e.status}"
        errno = getattr(e, "errno", None)
        return f"{type(e).__name__} {errno}" if errno else type(e).__name__

    def _advice(self, e: BaseException) -> tuple[str, str]:
        """(why, the fix) of a failed POST. The webhook's certificate refused here (not
        trusted, another host's, not a server's), not valid yet on this machine's clock (a
        Pi booted behind, before NTP), it or its CA expired, or a client certificate asked
        (monitord/tlsrefused.py, tlsclock.py: the InfluxDB lines' words) is said as such:
        before, "check the webhook service" of one that was up, while every escalation to
        the phones failed."""
        cause = e.certificate_error if isinstance(e, aiohttp.ClientConnectorCertificateError) else e
        said = None
        if not_yet_valid(cause):  # as the InfluxDB sink's line: the clock, then its fix
            said = (
                clock_fact(WEBHOOK, dt.datetime.now(dt.UTC), None, chain_cas()),
                clock_fix(WEBHOOK),
            )
        elif expired(cause):
            said = self._expired()
        else:
            said = refused(cause, self.cfg.url, WEBHOOK, "station.forwarder.url")
        if said is None:
            return self._why(e), "check the webhook service and station.forwarder.url"
        return f"TLS failed: {said[0]}", said[1]

    def _failed(self, e: BaseException, aid: str, head: str) -> None:
        """Log alert `aid`'s failed POST (`head`: which alert, where): at WARNING the first
        of each cause for this alert (`_cause`), at DEBUG its repeats. OpenSSL's
        "certificate has expired" is of the server's certificate or a CA's: which, the
        webhook's certificate says, from a second handshake that does not verify
        (`_read_peer`), read in a task of its own and once per run of failures. Before, it
        was read in this loop at each failed POST: every alert due after it waited up to
        timeout_s more (the phone escalation), every RETRY_S. Each alert's line is said
        when it is read."""
        cause = e.certificate_error if isinstance(e, aiohttp.ClientConnectorCertificateError) else e
        cls = (aid, self._cause(e))
        if expired(cause) and (self._peer is None or not self._peer.done()):
            if self._peer is None:
                self._peer = asyncio.create_task(self._read_peer())
                self._peer.add_done_callback(lambda t: self._said() if t is self._peer else None)
            if aid in self._unsaid or self._flog.warned(cls):  # its line to come, or said
                log.debug("phone forwarder: %s%s (its certificate being read)", head, cause)
            else:
                self._unsaid[aid] = head
            return
        why, fix = self._advice(e)
        self._flog.failure(cls, self._line(head, why, fix))

    def _line(self, head: str, why: str, fix: str) -> str:
        return f"{head}{why}; retried every {RETRY_S:g} s until acknowledged ({fix})"

    def _said(self) -> None:
        """The expired certificate's lines, waiting for the webhook's certificate (or said
        without it: read past timeout_s, or the POST took before it was read)."""
        if self._unsaid:
            why, fix = self._expired()
            unsaid, self._unsaid = self._unsaid, {}
            for aid, head in unsaid.items():
                line = self._line(head, f"TLS failed: {why}", fix)
                self._flog.failure((aid, EXPIRED), line)

    def _expired(self) -> tuple[str, str]:
        """(why, the fix) of an expired certificate of the webhook's chain: its CA's expiry
        said as such from its certificate, when read (tlsrefused.expired_said)."""
        return expired_said(
            WEBHOOK,
            self._certificate(),
            renew(WEBHOOK, WEBHOOK_CERT, WEBHOOK_RESTART),
            lambda: renew_ca(WEBHOOK, WEBHOOK_CERT, WEBHOOK_RESTART),
        )

    def _certificate(self) -> bytes | None:
        """The webhook's certificate as read (`_read_peer`), None while it is not."""
        t = self._peer
        if t is None or not t.done() or t.cancelled() or t.exception() is not None:
            return None
        return t.result()

    def _end_reading(self) -> None:
        """A run of failures over (a POST taken, the forwarder stopped): the next one
        reads the certificate again; a line still waiting for it is said without it."""
        if self._peer is not None:
            self._said()
            self._peer.cancel()
            self._peer = None

    async def _read_peer(self) -> bytes | None:
        """The webhook's certificate (DER) from a second handshake that does not verify
        (tlsclock.peer_certificate: whose CA expired, the server's or the one above),
        within timeout_s in all (its close waits too): None past it."""
        u = urlsplit(self.cfg.url)
        try:
            async with asyncio.timeout(self.cfg.timeout_s):
                return await peer_certificate(u.hostname or "", u.port or 443, self.cfg.timeout_s)
        except TimeoutError:
            return None

    def _auth(self) -> dict[str, str]:
        """`Authorization: Bearer <token>` from `token_file` (or FORWARDER_TOKEN_ENV),
        read at each POST so a token replaced is used without a restart; none without
        one. ntfy takes its access tokens so (docs.ntfy.sh/publish "Access tokens"), as
        a JSON webhook does. Unreadable: an OSError naming the file, never its content
        (read_password), logged as a failed POST and retried."""
        token = read_password(self.cfg.token_file, FORWARDER_TOKEN_ENV)
        if token and (bad := token_problem(token)):
            # Refused by aiohttp as a ValueError, it ended the forwarder and the station.
            where = FORWARDER_TOKEN_ENV if os.environ.get(FORWARDER_TOKEN_ENV) else None
            raise PasswordUnreadable(f"{where or self.cfg.token_file}: the token {bad}")
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _post(self, session: aiohttp.ClientSession, p: _Pending) -> None:
        body = self._body(p)
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_s)
        auth = self._auth()
        tls = web_verifier()
        if self.cfg.mode == "ntfy":
            text = (
                f"{p.chair}: {body['message']} - not acknowledged for {self.cfg.after_s / 60:g} min"
            )
            headers = {
                "Title": f"monitord {self.site} {p.chair}: HIGH alarm",
                "Priority": "5",
                "Tags": "rotating_light",
                **auth,
            }
            req = session.post(
                self.cfg.url, data=text.encode(), headers=headers, timeout=timeout, ssl=tls
            )
        else:
            req = session.post(self.cfg.url, json=body, headers=auth, timeout=timeout, ssl=tls)
        async with req as resp:
            if resp.status >= 300:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=resp.reason or ""
                )

    async def run(self) -> None:
        try:
            await self._run()
        finally:  # stopped: the certificate's reading ends with it
            peer = self._peer
            self._end_reading()
            if peer is not None:
                await asyncio.wait([peer])

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                now = time.monotonic()
                for aid, p in list(self._pending.items()):
                    if p.sent or p.due > now or self._pending.get(aid) is not p:
                        # Not `p` any more: acknowledged, cleared or missing while an
                        # earlier POST of this pass was in flight (up to timeout_s each).
                        # Posted from the list taken before, an alarm the nurse had just
                        # acknowledged called her phone.
                        continue
                    try:
                        await self._post(session, p)
                    except (aiohttp.ClientError, TimeoutError, OSError) as e:
                        p.due = time.monotonic() + RETRY_S
                        self._failed(e, aid, f"{aid} on {p.chair} not posted to {self._where}: ")
                        continue
                    self._end_reading()
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
