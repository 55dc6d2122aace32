"""The station's web server (aiohttp): one page, its static assets, a Server-Sent Events
stream of the live state, and the nurses' commands.

Security (docs/station.md): every API but login answers 401 without a logged-in nurse;
every POST needs the session cookie (HttpOnly, SameSite=Strict), the `X-CSRF-Token` header
of that login, and an `Origin` equal to this server's own (a cross-site POST is refused
with 403 even if a browser sent the cookie). Only `static/` is served, by name; the
nurses file, the config and the MQTT credentials never leave the process.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import re
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from monitord import __version__, certfiles
from monitord.aio import cancelled_all, within
from monitord.config import Config
from monitord.log import FailureLog
from monitord.models import iso
from monitord.sdnotify import Notifier, pace_watchdog
from monitord.sinks.commands import MAX_SESSION_ID
from monitord.station.admit import ClientCap
from monitord.station.answers import MAX_BODY, error, json_body, protect, text_field
from monitord.station.auth import Logins, NursesFileError, RateLimit, check_login, load_nurses
from monitord.station.bridge import Bridge, NotConfirmed, NotSent
from monitord.station.forwarder import Forwarder
from monitord.station.httplog import quiet_bad_requests
from monitord.station.model import SILENT_AFTER_S, Changes, StationModel
from monitord.station.order import natural_key
from monitord.station.stall import Taken, cut
from monitord.station.tlsreload import RELOAD_CHECK_S, follow

log = logging.getLogger("monitord.station")
STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "monitord_station"
# The logged-in nurse, kept on the request by the auth middleware: a typed key where this
# aiohttp has them (3.12+ warns NotAppKeyWarning at a plain string), else the string.
NURSE: Any = web.RequestKey("nurse", str) if hasattr(web, "RequestKey") else "nurse"
HEARTBEAT_S = 2.0  # the page goes stale after missing a few of these
# An idle connection (between requests, or one that never sends a whole request) is closed
# after this; aiohttp's default keeps it an hour, holding a descriptor and a slot of the
# caps (admit.py). A page's requests come in bursts (a load, an alarm's receipt, a tap):
# a burst reuses its connection, and a browser opens a new one for the next. An event
# stream is one long request: aiohttp never closes it as idle, its pings are for the page.
KEEPALIVE_S = 10.0
KEEP_RECEIPTS = 2000
# The daemon's cmd/session session_id (monitord/sinks/commands.py SessionCommand): as long
# as one the daemon generates for a long chair id, `<chair>-<second>-<n>` (over 64).
_SESSION_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_SESSION_ID - 1}}}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Station:
    def __init__(
        self,
        cfg: Config,
        notifier: Notifier | None = None,
        *,
        keepalive_s: float = KEEPALIVE_S,
        silent_after_s: float = SILENT_AFTER_S,
        tls_reload_s: float = RELOAD_CHECK_S,
    ) -> None:
        assert cfg.station is not None
        self.cfg = cfg
        self.tls_reload_s = tls_reload_s  # shorter only in tests (station/tlsreload.py)
        # KEEPALIVE_S; shorter only in the tests that wait it out (test_station_keepalive.py).
        self.keepalive_s = keepalive_s
        # sd_notify as the daemon does it (systemd/monitord-station.service: Type=notify,
        # WatchdogSec=): READY=1 once listening, WATCHDOG=1 from the event loop.
        self.notifier = notifier or Notifier()
        self.st = cfg.station
        # SILENT_AFTER_S; shorter only in the test that waits it out (test_station_silent_chair).
        self.model = StationModel(cfg.mqtt.prefix, cfg.site.id, silent_after_s)
        self.bridge = Bridge(cfg, self.model, self._changed)
        self.logins = Logins(self.st.session_ttl_s)
        self.limit = RateLimit()
        # The nurses file unreadable: once at ERROR, not at every nurse's login attempt.
        self._nurses_log = FailureLog(log, "station: the nurses file")
        self.forwarder = Forwarder(self.st.forwarder, cfg.site.id) if self.st.forwarder else None
        # A client's queue -> its connection; None in the queue: dropped for falling behind
        # (events() ends its stream; _broadcast cuts the connection).
        self._clients: dict[asyncio.Queue[str | None], asyncio.Transport | None] = {}
        # (alert_id, event, level) -> sounded, of the receipts already published
        self._receipts: OrderedDict[tuple[Any, ...], bool] = OrderedDict()
        # Receipts being published (-> set when done): the same one asked meanwhile (two
        # pages' hellos, a live event and the active set after it) waits for its answer.
        self._sending: dict[tuple[Any, ...], asyncio.Event] = {}

    # -- live updates ------------------------------------------------------------------
    def _changed(self, ch: Changes) -> None:
        now = time.monotonic()
        for cid in sorted(ch.chairs, key=natural_key):
            self._broadcast("chair", self.model.chairs[cid].to_json(now))
        for ev in ch.events:
            self._broadcast("alert", ev)
            if self.forwarder is not None:
                self.forwarder.on_event(ev, self.model.chairs.get(ev["chair"]))
        if ch.chairs and self.forwarder is not None:
            self.forwarder.on_chairs({c: self.model.chairs[c] for c in ch.chairs})
        if ch.stations:
            self._broadcast("stations", self._stations())

    def _stations(self) -> dict[str, Any]:
        return {"broker": self.bridge.connected, "stations": self.model.stations}

    def _broadcast(self, kind: str, data: Any) -> None:
        msg = f"event: {kind}\ndata: {json.dumps(data)}\n\n"
        for q, conn in list(self._clients.items()):
            if q.qsize() > 1000:
                # A browser that stopped reading: drop it and end its stream (events()).
                # Left open, it would get the heartbeats but no updates: a frozen page
                # that looks live. Ended, its EventSource reconnects and gets a hello.
                del self._clients[q]
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(None)
                # And cut: one that reads nothing at all (a TV asleep, its network on: its
                # TCP window full) holds events() in a write that never ends, so it never
                # reads the None; before, its connection, descriptor and slot of the caps
                # stayed until the browser read again, days (test_station_stream_stalled).
                cut(conn, "1000 updates queued")
                continue
            q.put_nowait(msg)

    def _hello(self, nurse: str) -> dict[str, Any]:
        return {
            "site": self.cfg.site.id,
            "timezone": self.cfg.site.timezone,
            "station": self.st.id,
            "version": __version__,
            "nurse": nurse,
            # The station's clock: the page counts on it, not on its browser's (station.js).
            "time": iso(time.time()),
            "silent_after_s": self.model.silent_after_s,
            **self.model.snapshot(time.monotonic()),
            **self._stations(),
        }

    # -- auth --------------------------------------------------------------------------
    def _login(self, request: web.Request) -> Any:
        return self.logins.get(request.cookies.get(COOKIE))

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is not None and origin == f"{request.scheme}://{request.host}"

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/api/") and path != "/api/login":
            login = self._login(request)
            if login is None:
                return error(401, "not logged in")
            if request.method == "POST":
                if not self._same_origin(request):
                    return error(403, "cross-site request refused")
                if request.headers.get("X-CSRF-Token") != login.csrf:
                    # `code`: the page tells a login replaced by another tab of its
                    # browser (the cookie is shared, its token is not) and asks a login.
                    return web.json_response(
                        {"error": "missing or wrong CSRF token", "code": "csrf"}, status=403
                    )
            request[NURSE] = login.nurse
        elif path == "/api/login" and request.method == "POST" and not self._same_origin(request):
            return error(403, "cross-site request refused")
        try:
            return await handler(request)
        except OSError as e:
            # A name under /static/ longer than the disk's (255 bytes a name, 4 KiB a path)
            # failed aiohttp's stat with ENAMETOOLONG: a 500 and an ERROR traceback for
            # anyone who can reach the port. No file of static/ has such a name.
            if e.errno != errno.ENAMETOOLONG or not path.startswith("/static/"):
                raise
            raise web.HTTPNotFound() from None

    async def login(self, request: web.Request) -> web.StreamResponse:
        who = request.remote or "?"
        body = await json_body(request)
        name, pin = body.get("name"), body.get("pin")
        if not isinstance(name, str) or not isinstance(pin, str):
            return error(400, "name and pin are required")
        # Counted as failed from here (no await between the check and the count), until
        # the PIN proves right: parallel guesses cannot all slip under the limit.
        if not self.limit.attempt(who):
            return error(429, "too many failed logins; wait a minute")
        try:
            nurses = load_nurses(self.st.nurses_file)
        except (OSError, NursesFileError) as e:
            self.limit.succeeded(who)  # the station's fault, not a guess
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self._nurses_log.failure(
                type(e).__name__,
                f"{self.st.nurses_file} cannot be read ({why}): no nurse can log in; write "
                "it with `monitord station --add-nurse NAME` (one `name:pbkdf2_sha256$...` "
                "line each), readable by the station's service user",
                logging.ERROR,
            )
            return error(500, "the nurses file cannot be read; see the station's log")
        self._nurses_log.success()
        if not await asyncio.to_thread(check_login, nurses, name, pin):
            # A name that is no nurse's is not echoed: the commonest slip at a login form
            # is the PIN typed in the name field, and the journal is kept for months.
            named = (
                repr(name)
                if name in nurses
                else f"a name that is no nurse's ({len(name)} characters)"
            )
            log.warning("station: failed login for %s from %s", named, who)
            return error(401, "wrong name or PIN")
        self.limit.succeeded(who)
        token, login = self.logins.open(name)
        resp = web.json_response({"nurse": name, "csrf": login.csrf})
        resp.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=self.st.tls_cert_file is not None,
            max_age=int(self.st.session_ttl_s),
            path="/",
        )
        log.info("station: %s logged in from %s", name, who)
        return resp

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.logins.close(request.cookies.get(COOKIE))
        resp = web.json_response({"ok": True})
        resp.del_cookie(COOKIE, path="/")
        return resp

    async def me(self, request: web.Request) -> web.StreamResponse:
        login = self._login(request)
        return web.json_response({"nurse": login.nurse, "csrf": login.csrf})

    # -- pages -------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await resp.prepare(request)
        q: asyncio.Queue[str | None] = asyncio.Queue()
        self._clients[q] = request.transport
        taken = Taken(request.transport, self.st.stream_stall_s)  # a client gone quiet (stall.py)
        try:
            hello = self._hello(request[NURSE])
            await resp.write(f"event: hello\ndata: {json.dumps(hello)}\n\n".encode())
            login = self._login(request)
            while request.cookies.get(COOKIE) and self._login(request) is not None:
                try:
                    # `within`, not asyncio.wait_for: in 3.11 that loses a stop (a page
                    # closed, the station stopping) in the turn a message comes (aio.py).
                    msg = await within(q.get(), HEARTBEAT_S)
                except TimeoutError:
                    msg = f"event: ping\ndata: {json.dumps({'time': iso(time.time())})}\n\n"
                if msg is None:  # fell behind (_broadcast): close, the page reconnects
                    resp.force_close()
                    return resp
                if not await taken.write(resp, msg.encode()):
                    cut(request.transport, taken.why)
                    return resp
            # Why, for the page's words: a login ended before its time was logged out,
            # with this browser's cookie (another tab of it); "expired" read then as a
            # fault of the station's logins.
            expired = login is None or login.expires <= self.logins.clock()
            why = {"reason": "expired" if expired else "logged_out"}
            await resp.write(f"event: logout\ndata: {json.dumps(why)}\n\n".encode())
        except ConnectionError:
            # A page closed: aiohttp does not cancel the handler (handler_cancellation is
            # off), the next write (a ping within HEARTBEAT_S) fails. A cancellation
            # (the station stopping) goes on up: aiohttp expects it back. Not only a
            # ConnectionResetError: a page gone while a write waited for room (its socket
            # full: a tab frozen then resumed, a TV switched off) fails that write with
            # aiohttp's plain ConnectionError("Connection lost"), which went on up and was
            # logged at ERROR with a traceback (test_station_stream_gone_log).
            pass
        finally:
            self._clients.pop(q, None)
        return resp

    # -- commands ----------------------------------------------------------------------
    async def _send(
        self, topic: str, body: dict[str, Any], command: str | None = None
    ) -> web.StreamResponse:
        """Publish; `command`: a nurse's command in words ("chair-2: start by alice"), for
        the log when the broker does not confirm it (receipts, the page's own, are not)."""
        try:
            await self.bridge.publish(topic, body)
        except NotSent as e:
            return error(503, str(e))
        except NotConfirmed as e:
            # Not a failure: the page words it so (a press again may apply it twice). Said
            # in the log too: before, it said nothing, and the admin asked why a nurse was
            # told "not confirmed" had nothing to go on.
            if command is not None:
                log.warning(
                    "station: %s not confirmed by the broker within %g s; it may still be "
                    "carried out",
                    command,
                    self.cfg.mqtt.timeout_s,
                )
            return web.json_response({"error": str(e), "code": "not_confirmed"}, status=504)
        return web.json_response({"sent": True})

    async def ack(self, request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        chair, alert_id = text_field(body, "chair"), body.get("alert_id")
        if chair not in self.model.chairs or not isinstance(alert_id, str) or not alert_id:
            return error(400, "chair and alert_id of a shown alert are required")
        cmd = {"alert_id": alert_id, "by": request[NURSE], "time": iso(time.time())}
        log.info("station: %s acknowledges %s on %s", request[NURSE], alert_id, chair)
        what = f"{chair}: ACK of {alert_id} by {request[NURSE]}"
        return await self._send(self.bridge.topic(chair, "cmd/ack"), cmd, what)

    async def session(self, request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        chair, action = text_field(body, "chair"), body.get("action")
        if chair not in self.model.chairs:
            return error(400, "unknown chair")
        if action not in ("start", "dose_start", "dose_end", "end"):
            return error(400, "action must be start, dose_start, dose_end or end")
        cmd: dict[str, Any] = {"action": action, "by": request[NURSE], "time": iso(time.time())}
        if action == "start" and body.get("protocol") is not None:
            if body["protocol"] not in ("esketamine", "iv-ketamine"):
                return error(400, "protocol must be esketamine or iv-ketamine")
            cmd["protocol"] = body["protocol"]
        if action != "start" and body.get("session_id") is not None:
            # The session the page showed when the nurse confirmed: the daemon refuses the
            # command if the chair has another one open by now (monitord/chair_session.py).
            sid = body["session_id"]
            if not isinstance(sid, str) or not _SESSION_ID.fullmatch(sid):
                return error(400, "session_id must be the id of the session shown")
            cmd["session_id"] = sid
        if action == "dose_start":
            dose, lot = body.get("dose_mg"), body.get("lot")
            if dose not in (None, ""):
                try:
                    cmd["dose_mg"] = float(dose)
                except (TypeError, ValueError):
                    return error(400, "dose_mg must be a number of mg")
                if not 0 < cmd["dose_mg"] <= 1000:
                    return error(400, "dose_mg must be more than 0 and at most 1000")
            if isinstance(lot, str) and lot.strip():
                if len(lot.strip()) > 64:
                    return error(400, "lot: at most 64 characters")
                cmd["lot"] = lot.strip()
        log.info("station: %s sends %s to %s", request[NURSE], action, chair)
        what = f"{chair}: {action} by {request[NURSE]}"
        return await self._send(self.bridge.topic(chair, "cmd/session"), cmd, what)

    async def receipt(self, request: web.Request) -> web.StreamResponse:
        """The page showed an alert event (and started its sound): tell the daemon."""
        body = await json_body(request)
        chair, event = text_field(body, "chair"), body.get("event")
        alert_id, sounded = body.get("alert_id"), bool(body.get("sounded"))
        if chair not in self.model.chairs or event not in (
            "raised",
            "escalated",
            "acknowledged",
            "cleared",
            "pending",
        ):
            return error(400, "chair and event of a shown alert event are required")
        if alert_id is not None and not isinstance(alert_id, str):
            return error(400, "alert_id must be a string or null")
        level = body.get("level")
        if level is not None and (not isinstance(level, int) or isinstance(level, bool)):
            return error(400, "level must be the event's level (a whole number) or null")
        rule = body.get("rule")
        if rule is not None and not isinstance(rule, str):
            return error(400, "rule must be the alert's rule id or null")
        # `raised` is level 0 whatever was sent (receipts.event_key): the page's receipt of
        # a live `raised` (its level as the event had it) and of the same alert learnt
        # from the active set (level 0) are one.
        key = (chair, alert_id, event, 0 if event == "raised" else level, rule)
        while (busy := self._sending.get(key)) is not None:
            await busy.wait()
        before = self._receipts.get(key)
        if before is not None and (before or not sounded):
            return web.json_response({"sent": False, "already": True})
        receipt = {
            "alert_id": alert_id,
            "event": event,
            # Which escalation was shown: the daemon matches a receipt to that very event
            # (a second receipt of level 1, below, must not answer level 2).
            "level": level,
            "station": self.st.id,
            "shown_at": iso(time.time()),
            "sounded": sounded,
        }
        done = self._sending[key] = asyncio.Event()
        try:
            resp = await self._send(self.bridge.topic(chair, "alerts/receipts"), receipt)
        finally:
            del self._sending[key]
            done.set()
        if resp.status == 200:
            self._receipts[key] = sounded
            while len(self._receipts) > KEEP_RECEIPTS:
                self._receipts.popitem(last=False)
        return resp

    def summary(self) -> str:
        broker = "connected" if self.bridge.connected else "not connected"
        if self.bridge.takeover.active:
            # Connected or not at this instant, it keeps losing the broker to the other
            # client: `systemctl status` says why, as the log said once.
            broker = "taken over by another client with its id: see the log"
        elif self.bridge.status_refused is not None and self.bridge.connected:
            broker = "connected, its status refused: chairs count it not online (see the log)"
        return f"broker {broker}; {len(self.model.chairs)} chairs; {len(self._clients)} pages"

    # -- app ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY)
        app.on_response_prepare.append(protect)
        app.router.add_get("/", self.index)
        app.router.add_post("/api/login", self.login)
        app.router.add_post("/api/logout", self.logout)
        app.router.add_get("/api/me", self.me)
        app.router.add_get("/api/events", self.events)
        app.router.add_post("/api/ack", self.ack)
        app.router.add_post("/api/session", self.session)
        app.router.add_post("/api/receipt", self.receipt)
        app.router.add_static("/static/", STATIC, follow_symlinks=False, show_index=False)
        return app

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.st.tls_cert_file is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.st.tls_cert_file), str(self.st.tls_key_file))
        return ctx

    async def serve(self, stop: asyncio.Event, ready: Callable[[str], None] | None = None) -> None:
        quiet_bad_requests()  # a malformed request: one line, not aiohttp's traceback
        # Open event streams are cut at stop rather than waited for.
        # auto_decompress off: the pages never compress a request, and a body sent with
        # `Content-Encoding: gzip` that was none raised out of the read (a 500 and an
        # ERROR traceback, at the login too) and out of the drain of a body left unread
        # (an ERROR "Unhandled exception"). Read as it came, it is a plain 400.
        runner = web.AppRunner(
            self.app(),
            access_log=None,
            shutdown_timeout=1.0,
            keepalive_timeout=self.keepalive_s,
            # A body left unread (answers.py json_body: not come within keepalive_s) is
            # waited for this long after the answer, then the connection closed; aiohttp's
            # 10 s regardless of the keep-alive time the tests shorten.
            lingering_time=self.keepalive_s,
            auto_decompress=False,
        )
        await runner.setup()
        server = runner.server
        assert server is not None  # set up
        # Our own listener instead of web.TCPSite: its connections pass the per-client cap
        # first (admit.py: one host's idle connections must not use up the descriptors).
        # `[::]` is every address, IPv4 too, as admins read it: asyncio makes an IPv6
        # socket IPv6-only, so "::" alone refused every IPv4 browser. None binds both.
        host = None if self.st.host == "::" else self.st.host
        ctx = self.ssl_context()
        listener = await asyncio.get_running_loop().create_server(
            ClientCap().factory(server), host, self.st.port,
            ssl=ctx, backlog=128,
            # The caps see a TLS connection only once its handshake is done: one that
            # never finishes it is closed as soon as an idle plain one (asyncio: 60 s).
            ssl_handshake_timeout=self.keepalive_s if self.st.tls_cert_file else None,
        )  # fmt: skip
        scheme = "https" if self.st.tls_cert_file else "http"
        url = f"{scheme}://{self.st.listen}/"
        log.info("station %s: serving %s", self.st.id, url)
        if ready is not None:
            ready(url)
        # Not among the tasks waited for below: it returns at once without a watchdog.
        watchdog = asyncio.create_task(
            pace_watchdog(self.notifier, status=self.summary), name="station-watchdog"
        )
        tasks = [asyncio.create_task(self.bridge.run(), name="station-mqtt")]
        # Its own HTTPS certificate, the broker's CA, said ahead of their expiry (certfiles.py).
        certs = certfiles.mqtt_files(self.cfg.mqtt.tls)
        if self.st.tls_cert_file is not None:
            certs.insert(0, ("station.tls_cert_file", self.st.tls_cert_file, "station"))
        side = [asyncio.create_task(certfiles.watch(certs), name="station-certs")]
        if ctx is not None and self.st.tls_cert_file and self.st.tls_key_file:
            # A renewed pair served without a restart, which would forget every login.
            pair = (self.st.tls_cert_file, self.st.tls_key_file)
            side.append(asyncio.create_task(follow(ctx, *pair, self.tls_reload_s)))
        if self.forwarder is not None:
            tasks.append(asyncio.create_task(self.forwarder.run(), name="station-forwarder"))
        self.notifier.ready(f"serving {url}; {self.summary()}")
        waiter = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not waiter:
                    t.result()
        finally:
            self.notifier.stopping()
            try:
                # A stop of serve() itself while they end goes on up (aio.py); the waiter
                # too, else left pending when a task ended first.
                await cancelled_all(*tasks, watchdog, *side, waiter)
            finally:
                listener.close()  # no new connections; runner.cleanup() closes the open ones
                await runner.cleanup()
                self.notifier.close()
