"""InfluxDB writer: drains the outbox's `influx` rows as line protocol (design.md section 7),
and the chairs' stretches off UTC from their clock rows (monitord/sinks/influx_clock.py).

Two wire APIs behind one class, chosen by `influx.api`:
- "v2": influxdb-client's async write API (`/api/v2/write`, org + bucket + token) for
  InfluxDB 2.x/3.x, 1.8+ and other servers of that API (VictoriaMetrics in the tests);
- "v1": aiohttp POST of line protocol to `/write?db=&rp=&precision=ns` (Basic auth) for
  InfluxDB 1.x as Debian and Raspberry Pi OS ship it (1.6).

Batches go out when `batch_size` rows are pending or the first pending row has waited
`flush_interval_s`. Errors, by class:
- unreachable / 5xx / 404 / auth: back off (capped, jittered) and retry the same rows;
- 429 / 503 with Retry-After: wait at least that long;
- timeout: the write *may have landed*; it is retried with the same timestamps, which
  InfluxDB treats as an overwrite of the same points (idempotent);
- 413: the batch is split;
- 400/422: the server rejected some point. The batch is bisected until the bad rows are
  isolated; those are quarantined in the outbox with the server's reason (counted,
  never retried) and the rest delivered. A single row still refused as too large (413)
  is quarantined the same way: retried, it held every later row behind it for ever.
  The first refusal of each reason is logged at ERROR with the point; repeats (a field
  type conflict refuses every point of that field for the shard's life) at DEBUG.
  A 400/422 web page is a proxy's, refusing every request: retried (influx_http._classify).
Rows are marked delivered only after a 2xx.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import aiohttp

from monitord.aio import Doze
from monitord.backoff import Backoff
from monitord.config import InfluxConfig, read_secret
from monitord.config_tls import web_verifier
from monitord.hub import CommittedBatch
from monitord.log import FailureLog
from monitord.outbox import Outbox, StoredRecord
from monitord.sinks.influx_clock import ClockOffsets
from monitord.sinks.influx_http import (
    NotInflux,
    WriteAuthError,
    WriteError,
    WriteNotFound,
    WriteRejected,
    WriteThrottled,
    WriteTimeout,
    WriteTooLarge,
    _classify,
    _http_errors,
    _reason_from_body,
    is_page,
    not_influx,
    ping,
    whose_expiry,
)
from monitord.sinks.influx_rows import row_line
from monitord.sinks.lineproto import LineProtocolError
from monitord.sinks.linkstate import LinkState

log = logging.getLogger("monitord.sinks.influx")

# The event-loop time a flush takes in one go before a loop turn (InfluxSink._fetch,
# _deliver): an alarm's reading or commit callback never waits behind a whole flush. One
# done in one go held the loop up to 9 ms under the alert bench's 16 chairs (~200 rows a
# second; issue 20, bench/results.md `inf`). By time, not rows: an alert row costs twice a
# reading, and a bulk drain (an outage's backlog) should not pay a turn every few rows.
SLICE_S = 0.00025
# Rows one query reads at most (a slice may stop decoding earlier, at SLICE_S).
FETCH_ROWS = 256
# A failure message's backlog is counted up to this many rows, which reads in about a
# millisecond here; an exact count of a long outage's backlog held the loop tens.
LOG_BACKLOG_AT_MOST = 10_000
# Nothing sent this long: the server is probed (`InfluxSink._probe`), so that status does
# not say "connected" of a server gone while the clinic is idle. One GET a minute, no disk.
PROBE_IDLE_S = 60.0
# Distinct refusal reasons logged at ERROR in a run; past this, all at DEBUG (a server
# naming each refused value would otherwise log one ERROR per point).
REFUSAL_REASONS_LOGGED = 100
# InfluxDB 1.x ends a refusal with the count of points it dropped; not part of the reason.
_DROPPED = re.compile(r"\s*dropped=\d+\s*$")


# -- transports --------------------------------------------------------------------------
class _Transport(Protocol):
    async def send(self, lines: Sequence[str]) -> None: ...
    async def close(self) -> None: ...


class _V1Transport:
    def __init__(self, cfg: InfluxConfig) -> None:
        self.cfg = cfg
        params = {"db": cfg.database or "", "precision": "ns"}
        if cfg.retention_policy:
            params["rp"] = cfg.retention_policy
        self._params = params
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if cfg.username:
            pw = read_secret(cfg.password_file, "MONITORD_INFLUX_PASSWORD") or ""
            cred = base64.b64encode(f"{cfg.username}:{pw}".encode()).decode()
            self._headers["Authorization"] = f"Basic {cred}"
        if cfg.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._session: aiohttp.ClientSession | None = None
        web_verifier()  # the system's CA store read here, at the start, not in the loop

    async def send(self, lines: Sequence[str]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.cfg.timeout_s)
            )
        body = ("\n".join(lines) + "\n").encode()
        if self.cfg.gzip:
            # zlib releases the GIL: compress off the event loop, on the other core.
            body = await asyncio.to_thread(gzip.compress, body, compresslevel=5)
        with _http_errors(self.cfg):
            async with self._session.post(
                f"{self.cfg.url}/write",
                params=self._params,
                data=body,
                headers=self._headers,
                ssl=web_verifier(),
            ) as resp:
                if 200 <= resp.status < 300:
                    # A web page (a proxy's login page a redirect led to) is not a write
                    # taken: before, its 200 marked the batch delivered, and it was lost.
                    moved = str(resp.url) if resp.history else None
                    kind = resp.headers.get("Content-Type", "")
                    if (why := not_influx(resp.status, resp.reason or "", kind, moved)) is None:
                        return
                    raise NotInflux(why)
                text = (await resp.read()).decode("utf-8", "replace")
                kind = resp.headers.get("Content-Type", "")
                raise _classify(
                    resp.status,
                    _reason_from_body(text, kind) or resp.reason or "",
                    resp.headers.get("Retry-After"),
                    page=is_page(kind, text),
                )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _V2Transport:
    def __init__(self, cfg: InfluxConfig) -> None:
        self.cfg = cfg
        self._token = read_secret(cfg.token_file, "MONITORD_INFLUX_TOKEN") or ""
        self._client: Any = None
        self._write: Any = None
        web_verifier()  # the system's CA store read here, at the start, not in the loop

    async def send(self, lines: Sequence[str]) -> None:
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
        from influxdb_client.domain.write_precision import WritePrecision

        if self._client is None:
            self._client = InfluxDBClientAsync(
                url=self.cfg.url,
                token=self._token,
                org=self.cfg.org or "-",
                timeout=int(self.cfg.timeout_s * 1000),
                enable_gzip=self.cfg.gzip,
                ssl_context=web_verifier(),  # its default is Python's, 3.13's stricter one
            )
            self._write = self._client.write_api()
        with _http_errors(self.cfg):
            try:
                # False: a 2xx but not InfluxDB's 201/204 (a proxy's login page, after the
                # redirect it follows): before, unread, and the batch was taken as delivered.
                if not await self._write.write(
                    bucket=self.cfg.bucket,
                    org=self.cfg.org or "-",
                    record="\n".join(lines),
                    write_precision=WritePrecision.NS,
                ):
                    raise NotInflux("answered 2xx, but not 201/204 as InfluxDB (a web page?)")
            except InfluxDBError as e:
                status = int(getattr(e, "status", 0) or getattr(e.response, "status", 0) or 0)
                # The client's message is the body as it came (bytes when not JSON): a
                # proxy's page is named by its title, as on v1.
                said = getattr(e, "message", "") or str(e)
                headers = getattr(e, "headers", None)
                kind = str(headers.get("Content-Type", "")) if headers is not None else ""
                text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
                raise _classify(
                    status,
                    _reason_from_body(text, kind),
                    getattr(e, "retry_after", None),
                    page=is_page(kind, text),
                ) from e

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None


@dataclass
class InfluxStats:
    batches: int = 0
    points: int = 0
    retries: int = 0
    timeouts: int = 0
    quarantined: int = 0
    invalid: int = 0
    last_error: str | None = None
    last_success: float | None = None  # wall-clock epoch seconds
    errors_by_class: dict[str, int] = field(default_factory=dict)


class InfluxSink:
    """Drains the outbox to InfluxDB forever (`run()`); `wake()` when rows were committed."""

    def __init__(
        self,
        cfg: InfluxConfig,
        site: str,
        outbox: Outbox,
        *,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        step_aside: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.cfg = cfg
        # Between slices: one loop turn, or (the daemon's) wait while an alarm is in
        # flight (monitord/alarmwindow.py).
        self._step_aside = step_aside or (lambda: asyncio.sleep(0))
        self.site = site
        self.outbox = outbox
        self.stats = InfluxStats()
        # For `monitord status` (sinks/linkstate.py): up at a write accepted, down at one
        # failed; nothing to say before the first write.
        self.link = LinkState(f"InfluxDB {cfg.api} {cfg.url}", initial="untried")
        self._doze = Doze()  # the wait for work: a commit (or `wake`) ends it
        self._backoff = Backoff(backoff_base_s, backoff_cap_s)
        self._flog = FailureLog(log, f"InfluxDB {cfg.api} {cfg.url}")
        self._transport: _Transport = _V2Transport(cfg) if cfg.api == "v2" else _V1Transport(cfg)
        self._idle = asyncio.Event()
        # Rows a partial batch can still take before it is full (None: no batch waiting),
        # and the rows committed since it was fetched (on_batch).
        self._room: int | None = None
        self._arrived = 0
        # The highest id this sink has settled (delivered or quarantined), in id order:
        # its next fetch starts above it (Outbox.fetch `after`).
        self._settled = 0
        # Refusal reasons already logged at ERROR (`_refused`).
        self._refusals_logged: set[str] = set()
        # The chairs' stretches off UTC, from their clock rows (not outbox records).
        self._clock = ClockOffsets(outbox, site)
        self._tried = time.monotonic()  # the last write or probe, answered or not

    def on_batch(self, batch: CommittedBatch) -> None:
        """Hub listener (monitord/hub.py): rows were committed to the outbox.

        While a partial batch waits for its flush interval, a commit wakes the sink only
        once the rows committed since its fetch could fill the batch. Waking it on every
        commit made it re-read (and decode) its whole pending window on the event loop at
        each alarm's commit: 17 % of the loop under the alert bench, and the alarm path's
        p99 (bench/results.md, issue 20 `inf`)."""
        if not batch.durable:
            return
        self._arrived += len(batch.readings) + len(batch.events) + len(batch.sessions)
        if self._room is None or self._arrived >= self._room:
            self.wake()

    def wake(self) -> None:
        self._doze.rouse()

    async def wait_idle(self) -> None:
        """Until the backlog is empty (tests, clean shutdown)."""
        while self.outbox.backlog("influx", at_most=0) or self._clock.due():
            self._idle.clear()
            self.wake()
            await self._idle.wait()

    async def run(self) -> None:
        try:
            await self._loop()
        finally:
            await self._transport.close()

    async def _loop(self) -> None:
        first_pending: float | None = None
        while True:
            self._arrived = 0
            try:
                # The chairs' stretches off UTC (influx_clock.py): seldom any.
                if await self._clock.flush(self._transport.send, (WriteRejected, WriteTooLarge)):
                    self._accepted()
            except WriteError as e:
                await self._on_error(e)
                continue
            rows = await self._fetch()
            if not rows:
                first_pending = None
                self._room = None
                self._idle.set()
                if time.monotonic() - self._tried >= PROBE_IDLE_S and not await self._probe():
                    continue
                await self._wait(None)
                continue
            now = time.monotonic()
            if len(rows) < self.cfg.batch_size:
                if first_pending is None:
                    first_pending = now
                remaining = first_pending + self.cfg.flush_interval_s - now
                if remaining > 0:
                    self._room = self.cfg.batch_size - len(rows)
                    await self._wait(remaining)
                    continue
            first_pending = None
            self._room = None
            try:
                await self._deliver(rows)
            except WriteError as e:
                await self._on_error(e)
            else:
                self._settled = rows[-1].id
                if self._flog.failing:
                    self._flog.success(f"backlog {self._backlog_text()}")
                self._backoff.reset()

    async def _fetch(self) -> list[StoredRecord]:
        """Up to a batch of pending rows above the last settled id, read and decoded in
        slices of SLICE_S with a loop turn between them (see `_deliver`)."""
        rows: list[StoredRecord] = []
        after = self._settled
        while len(rows) < self.cfg.batch_size:
            if rows:
                await self._step_aside()
            want = min(FETCH_ROWS, self.cfg.batch_size - len(rows))
            part = self.outbox.fetch("influx", want, after=after, budget_s=SLICE_S)
            if not part:
                break
            rows.extend(part)
            after = part[-1].id
        return rows

    async def _wait(self, wait_s: float | None) -> None:
        # Also poll now and then, in case a producer forgot to wake us.
        t = self.cfg.flush_interval_s if wait_s is None else wait_s
        # A Doze, not asyncio.wait_for: in 3.11 that loses a stop that comes in the loop
        # turn of a wake, and the daemon hung on SIGTERM (monitord/aio.py); nor `within`,
        # a task per wait (a flush interval's wait is the sink's most frequent step).
        await self._doze(max(t, 0.001))

    async def _on_error(self, e: WriteError, *, probe: bool = False) -> None:
        """A write failed (or, `probe`, the idle probe did: no batch was sent, and the
        next one comes after PROBE_IDLE_S or with the next write): said, backed off."""
        e = await whose_expiry(self.cfg, e)  # an expired CA said as such
        cls = type(e).__name__
        self._tried = time.monotonic()
        self.stats.retries += 1
        self.stats.last_error = f"{cls}: {e}"
        advice = (e.probe_advice or e.advice) if probe else e.advice
        what = f"GET /ping: {e} ({advice})" if probe else f"{e} ({advice})"
        self.link.down(what)
        self.stats.errors_by_class[cls] = self.stats.errors_by_class.get(cls, 0) + 1
        if isinstance(e, WriteTimeout):
            self.stats.timeouts += 1
        at_least = 0.0
        if isinstance(e, WriteThrottled) and e.retry_after_s is not None:
            at_least = e.retry_after_s
        delay = self._backoff.next_delay(at_least)
        level = logging.ERROR if isinstance(e, WriteAuthError | WriteNotFound) else logging.WARNING
        then = (
            f"asked again in {PROBE_IDLE_S:g} s, or at the next write"
            if probe
            else f"backlog {self._backlog_text()}, retrying in {delay:.1f} s"
        )
        self._flog.failure(cls, f"{what}; {then}", level)
        await asyncio.sleep(delay)

    def _backlog_text(self) -> str:
        """For a log line on the event loop: counted up to LOG_BACKLOG_AT_MOST only (see
        `Outbox.backlog`); `monitord status` gives the exact figure."""
        n = self.outbox.backlog("influx", at_most=LOG_BACKLOG_AT_MOST)
        return f"over {LOG_BACKLOG_AT_MOST:,} rows" if n > LOG_BACKLOG_AT_MOST else f"{n} rows"

    async def _deliver(self, rows: Sequence[StoredRecord]) -> None:
        good: list[tuple[StoredRecord, str]] = []
        bad: list[tuple[int, str, str | None]] = []
        began = time.perf_counter()
        for r in rows:
            if time.perf_counter() - began > SLICE_S:
                await self._step_aside()
                began = time.perf_counter()
            try:
                good.append((r, row_line(r, self.site)))
            except (LineProtocolError, KeyError, TypeError, AttributeError) as e:
                bad.append((r.id, f"invalid line protocol: {e}", None))
        if bad:
            self.stats.invalid += len(bad)
            self.stats.quarantined += len(bad)
            log.error(
                "InfluxDB: %d rows cannot be encoded as line protocol, quarantined (first: %s)",
                len(bad),
                bad[0][1],
            )
            self.outbox.quarantine("influx", bad)
        await self._send(good)

    async def _send(self, batch: Sequence[tuple[StoredRecord, str]]) -> None:
        """Send and mark delivered; bisect on 400/413 to isolate what the server refuses."""
        if not batch:
            return
        try:
            await self._transport.send([line for _, line in batch])
        except (WriteRejected, WriteTooLarge) as e:
            if len(batch) == 1:
                # One point the server refuses even alone: for good (its type conflicts
                # with the shard's, it is outside the retention policy, it is over the
                # body limit). Retrying it would hold every later row behind it.
                self._refused(batch[0], str(e))
                return
            mid = len(batch) // 2
            await self._send(batch[:mid])
            await self._send(batch[mid:])
            return
        self.outbox.mark_delivered("influx", [r.id for r, _ in batch])
        self.stats.batches += 1
        self.stats.points += len(batch)
        self.stats.last_success = time.time()
        self._accepted()

    async def _probe(self) -> bool:
        """Nothing sent for PROBE_IDLE_S: does the server still answer? A write's success
        is all `monitord status` knows, so before, it kept "connected since" for ever
        after InfluxDB stopped while nothing was sent. False: it did not (said, backed off)."""
        if self.link.state == "untried":  # nothing to say before a first write
            return True
        try:
            await ping(self.cfg)
        except WriteError as e:
            await self._on_error(e, probe=True)
            return False
        self._accepted()
        return True

    def _accepted(self) -> None:
        """InfluxDB took a write: the link is up, a failure streak ends, backoff restarts."""
        self._tried = time.monotonic()
        self.link.up()
        if self._flog.failing:
            self._flog.success(f"backlog {self._backlog_text()}")
        self._backoff.reset()

    def _refused(self, item: tuple[StoredRecord, str], reason: str) -> None:
        """Quarantine one row the server refused for good: counted in the store
        (`quarantined.influx` in `monitord status`), kept with the reason and the line."""
        row, line = item
        self.stats.quarantined += 1
        key = _DROPPED.sub("", reason)
        if key not in self._refusals_logged and len(self._refusals_logged) < REFUSAL_REASONS_LOGGED:
            self._refusals_logged.add(key)
            log.error(
                "InfluxDB refused row %d (%s %s) for good: %s; quarantined, not retried: %s. "
                "Further rows refused for this reason are counted (status: quarantined.influx) "
                "and logged at DEBUG",
                row.id,
                row.type,
                row.chair,
                reason,
                line[:1000],
            )
        else:
            log.debug("InfluxDB refused row %d (%s %s): %s", row.id, row.type, row.chair, reason)
        self.outbox.quarantine("influx", [(row.id, reason, line)])

    async def __aenter__(self) -> InfluxSink:
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._transport.close()
