"""Session records from InfluxDB (central reports, issue 18): the same `SessionRecord` as
from a Pi's local store, built from the `sessions`, `vitals` and `alerts` measurements
the daemons write (design.md section 7), so one machine reports for every chair.

InfluxQL over the v1 `/query` endpoint (InfluxDB 1.x, as Debian ships it; InfluxDB 2.x
answers it too through its v1 compatibility API when a DBRP mapping exists). Read-only.

What InfluxDB holds for a record (docs/report.md "From InfluxDB"): the daemon writes
`kind`, `contact`, `device_time` and `received_at` on vitals, `by`, `level` and `value`
on alerts, and the `clock_offset` measurement (monitord/sinks/influx_clock.py) for this;
points written by an older daemon lack them, and the record then infers a reading's kind
from its fields, places a reading on its point's time, shows an acknowledgement without
its nurse and, with no `clock_offset` points, no TIMES OFF UTC line.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from monitord.config import InfluxConfig, read_secret
from monitord.config_tls import web_verifier
from monitord.engine.rules import RuleSet
from monitord.engine.validity import IMPLAUSIBLE
from monitord.models import MAX_DEVICE_SKEW_S, AlertEvent, Kind, Reading, SessionEvent
from monitord.netaddr import idna_url
from monitord.report.clockoff import session_offsets
from monitord.report.load import CARRY_LOOKBACK_S, SessionSpan, spans_from_events
from monitord.report.record import SessionRecord, build_record, placed_t
from monitord.store.codec import from_ns
from monitord.tlsrefused import influx_refused

PAGE = 5000  # rows per query: under InfluxDB's default max-row-limit (10000)
_VALUE_FIELDS = ("sys_mmHg", "dia_mmHg", "map_mmHg", "pulse_bpm", "hr_bpm", "spo2_pct")


class InfluxReadError(RuntimeError):
    """The query failed; the message says where and why, in one line."""


def _q(s: str) -> str:
    """An InfluxQL string literal."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Also check-config --central's line: a central config it accepts must be one report reads.
V1_ONLY = (
    "reports from InfluxDB read with InfluxQL: set [influx] api = 'v1' and "
    "database (InfluxDB 2.x: its v1 compatibility API and a DBRP mapping)"
)


class InfluxReader:
    def __init__(self, cfg: InfluxConfig, site: str) -> None:
        if cfg.api != "v1":
            raise InfluxReadError(V1_ONLY)
        self.cfg = cfg
        self.site = site
        self._headers: dict[str, str] = {}
        if cfg.username:
            pw = read_secret(cfg.password_file, "MONITORD_INFLUX_PASSWORD") or ""
            cred = base64.b64encode(f"{cfg.username}:{pw}".encode()).decode()
            self._headers["Authorization"] = f"Basic {cred}"

    def _query(self, q: str) -> list[dict[str, Any]]:
        params = {"db": self.cfg.database or "", "q": q, "epoch": "ns"}
        if self.cfg.retention_policy:
            params["rp"] = self.cfg.retention_policy
        url = f"{idna_url(self.cfg.url)}/query?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, headers=self._headers)
        try:
            with urllib.request.urlopen(
                req, timeout=self.cfg.timeout_s, context=web_verifier()
            ) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise InfluxReadError(f"{self.cfg.url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            why = getattr(e, "reason", e)
            # Expired, not trusted, or another host's: said with its fix (tlsrefused.py);
            # before, OpenSSL's words alone.
            cause = why if isinstance(why, BaseException) else e  # an SSLError's: a name
            if said := influx_refused(cause, self.cfg.url, self.cfg.timeout_s):
                raise InfluxReadError(f"cannot query {self.cfg.url}: {'; '.join(said)}") from None
            raise InfluxReadError(f"cannot query {self.cfg.url}: {why}") from None
        except ValueError:
            raise InfluxReadError(f"{self.cfg.url}: the answer is not JSON") from None
        except RecursionError:
            # Not bounded before json.loads as the daemon's inputs are: a query's answer
            # runs to megabytes, too long for a scan in Python; the C parser's own limit
            # is caught instead (before, a traceback out of `monitord report`).
            raise InfluxReadError(f"{self.cfg.url}: the answer is nested too deeply") from None
        if "error" in body:
            raise InfluxReadError(f"{self.cfg.url}: {body['error']}")
        out: list[dict[str, Any]] = []
        for res in body.get("results", []):
            if "error" in res:
                raise InfluxReadError(f"{self.cfg.url}: {res['error']}")
            for series in res.get("series", []):
                cols = series["columns"]
                out += [dict(zip(cols, v, strict=True)) for v in series.get("values", [])]
        return out

    def _rows(
        self,
        measurement: str,
        chair: str | None,
        lo_ns: int | None,
        hi_ns: int | None,
        also: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every point of the site (and chair) in [lo, hi] (and meeting `also`, an
        InfluxQL condition), paged by time."""
        where = [f'"site" = {_q(self.site)}', *([f"({also})"] if also else [])]
        if chair is not None:
            where.append(f'"chair" = {_q(chair)}')
        if hi_ns is not None:
            where.append(f"time <= {hi_ns}")
        seen: set[tuple[Any, ...]] = set()
        start = lo_ns
        while True:
            w = [*where, f"time >= {start}"] if start is not None else where
            rows = self._query(
                f'SELECT * FROM "{measurement}" WHERE {" AND ".join(w)} '
                f"ORDER BY time ASC LIMIT {PAGE}"
            )
            fresh = 0
            for r in rows:
                key = tuple(sorted((k, json.dumps(v)) for k, v in r.items()))
                if key in seen:
                    continue  # the page boundary repeats the last instant's points
                seen.add(key)
                fresh += 1
                yield r
            if len(rows) < PAGE or fresh == 0:
                return
            start = int(rows[-1]["time"])

    # -- records --------------------------------------------------------------------
    def session_events(self, chair: str | None = None) -> list[SessionEvent]:
        return [
            SessionEvent(
                r["time"] / 1e9,
                r["chair"],
                r["action"],
                r["protocol"],
                r["session_id"],
                by=r.get("by"),
                dose_mg=r.get("dose_mg"),
                lot=r.get("lot"),
            )
            for r in self._rows("sessions", chair, None, None)
        ]

    def spans(self, chair: str | None = None) -> list[SessionSpan]:
        return spans_from_events(self.session_events(chair))

    def record(
        self, span: SessionSpan, tz: str = "UTC", rules: RuleSet | None = None
    ) -> SessionRecord:
        # As load.record_for: readings around the session by up to a device clock's
        # accepted error (placed by receive time), alerts from a bounded look-back for
        # the episodes active at the start.
        lo = int(span.start_t * 1e9) - 1_000  # the store's ns, give or take rounding
        hi_t = span.end_t if span.end_t is not None else span.next_start_t
        hi = int(hi_t * 1e9) + 1_000_000 if hi_t is not None else None
        skew = int(MAX_DEVICE_SKEW_S * 1e9)
        readings = [
            _reading(r)
            for r in self._rows("vitals", span.chair, lo - skew, hi + skew if hi else None)
        ]
        week = lo - int(CARRY_LOOKBACK_S * 1e9)
        alerts = [
            *self._active_at(span.chair, week - 1),
            *(_alert(r) for r in self._rows("alerts", span.chair, week, hi)),
        ]
        if span.end_t is None and span.next_start_t is not None:
            readings = [r for r in readings if placed_t(r) < span.next_start_t]
            alerts = [a for a in alerts if a.t < span.next_start_t]
        rec = build_record(readings, alerts, span.events, tz, rules)
        # Times off UTC (a wall-clock step the chair did not follow): the `clock_offset`
        # points, as the chair's clock row (load.record_for); a chair has few.
        offs = [
            [int(r["time"]) / 1e9, _time(r.get("until")), float(r["offset_s"])]
            for r in self._rows("clock_offset", span.chair, None, hi)
        ]
        return replace(rec, clock_offs=session_offsets(offs, span.start_t, hi_t))

    def _active_at(self, chair: str, at_ns: int) -> list[AlertEvent]:
        """As the store's `alert_events_active_at`: every point up to `at_ns` of the
        chair's alert episodes still active then (their last raise or clear a raise),
        however old; the raises and clears found first, escalations left on the server."""
        marks = "\"event\" = 'raised' OR \"event\" = 'cleared'"
        last: dict[str, str] = {}
        for r in self._rows("alerts", chair, None, at_ns, marks):
            if r.get("alert_id"):
                last[r["alert_id"]] = r["event"]
        active = sorted(aid for aid, event in last.items() if event != "cleared")
        if not active:
            return []
        ids = " OR ".join(f'"alert_id" = {_q(aid)}' for aid in active)
        return [_alert(r) for r in self._rows("alerts", chair, None, at_ns, ids)]


def _time(iso: str | None) -> float | None:
    """An ISO 8601 time field as epoch seconds; None for none (or "")."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


def _kind(r: Mapping[str, Any]) -> Kind:
    k = r.get("kind")
    if k:
        return Kind(k)
    # Points from a daemon before `kind` was written: the fields tell, except for a
    # reading with no value at all (a cuff error), taken as BP (the only kind that has
    # value-less error readings).
    if r.get("hr_bpm") is not None:
        return Kind.HR
    if r.get("spo2_pct") is not None:
        return Kind.SPO2
    return Kind.BP


def _reading(r: Mapping[str, Any]) -> Reading:
    at = from_ns(int(r["time"]))
    kind = _kind(r)
    keys = {
        Kind.BP: ("sys_mmHg", "dia_mmHg", "map_mmHg", "pulse_bpm"),
        Kind.HR: ("hr_bpm",),
        Kind.SPO2: ("spo2_pct", "pulse_bpm"),
    }[kind]
    dt = r.get("device_time")
    rx = r.get("received_at")  # only when it is not the point's time (influx_rows.py)
    return Reading(
        chair=r["chair"],
        device=r["device"],
        kind=kind,
        values={k: (float(r[k]) if r.get(k) is not None else None) for k in keys},
        measured_at=at,
        received_at=datetime.fromisoformat(rx.replace("Z", "+00:00")) if rx else at,
        valid=bool(r.get("valid", True)),
        # The artifact check's rejection (influx_rows.py), so the record names the check
        # that failed, not the device; absent on points of an older daemon.
        flags=(IMPLAUSIBLE,) if r.get("implausible") else (),
        contact=r.get("contact"),
        device_time=datetime.fromisoformat(dt.replace("Z", "+00:00")) if dt else None,
        stored=r.get("stored") == "true",
    )


def _alert(r: Mapping[str, Any]) -> AlertEvent:
    raw = r.get("value")
    level = r.get("level")
    return AlertEvent(
        t=int(r["time"]) / 1e9,
        chair=r["chair"],
        rule=r["rule"],
        event=r["event"],
        priority=r["priority"],
        kind=r["kind"],
        alert_id=r.get("alert_id"),
        phase=r.get("phase") or "",
        value=json.loads(raw) if raw else {},
        message=r.get("message") or "",
        level=int(level) if level is not None else None,
        by=r.get("by"),
    )
