"""`monitord doctor`'s database line: does InfluxDB answer `/ping` as the daemon's idle probe
judges it (monitord/sinks/influx_http.py `not_influx`), and take a write of nothing with the
daemon's credentials (its database or bucket there, the login allowed to write it)?
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from monitord.commands.checks import Check, SecretProblem, fail, ok, skip, sourced_secret
from monitord.config import Config, InfluxConfig
from monitord.config_tls import web_verifier
from monitord.netaddr import idna_url
from monitord.sinks.influx_http import (
    RP_MISSING,
    NotInflux,
    RetentionPolicyMissing,
    _reason_from_body,
    not_influx,
)
from monitord.tlsclock import clock_fact, clock_fix, not_yet_valid, peer_validity
from monitord.tlsrefused import chain_cas, influx_refused


def _clock_behind(i: InfluxConfig, limit_s: float) -> Check:
    """HTTPS to a server whose certificate is not yet valid on this machine's clock (a Pi
    booted behind, before NTP; monitord/tlsclock.py): the clock and the certificate's first
    valid time, as the daemon's line. Before, "not reachable (...) -> fix: is the database
    running?", sending the IT admin to a server that was running."""
    now = dt.datetime.now(dt.UTC)
    u = urllib.parse.urlsplit(i.url)
    host, port = u.hostname or "", u.port or 443
    dates = asyncio.run(peer_validity(host, port, limit_s))
    return fail(
        f"influx {i.api}",
        f"{i.url}: TLS failed: {clock_fact('InfluxDB server', now, dates, chain_cas())}",
        clock_fix("InfluxDB server"),
    )


def _http(
    url: str, limit_s: float, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, Any]:
    """(status, body, the answer: its reason, headers and geturl(), redirects followed)."""
    req = urllib.request.Request(
        idna_url(url),
        data=data,
        headers=headers or {},
        method="POST" if data is not None else "GET",
    )
    try:
        with urllib.request.urlopen(req, timeout=limit_s, context=web_verifier()) as r:
            return int(r.status), r.read(2000).decode("utf-8", "replace"), r
    except urllib.error.HTTPError as e:
        # As the daemon's sink reads it: InfluxDB's JSON error, or a proxy's page by its
        # title (its markup, line breaks and all, was printed into the check's line).
        body = e.read(2000).decode("utf-8", "replace")
        return int(e.code), _reason_from_body(body, e.headers.get("Content-Type", "")), e


def _influx_sync(i: InfluxConfig, creds: Path | None, limit_s: float) -> Check:
    name = f"influx {i.api}"
    source, pw, token = "", None, None
    try:
        # The environment first, as the daemon's sink (monitord.config.read_secret).
        if i.api == "v1":
            if i.username:
                pw, source = sourced_secret(
                    i.password_file, creds, "influx.password_file", "MONITORD_INFLUX_PASSWORD"
                )
        else:
            token, source = sourced_secret(
                i.token_file, creds, "influx.token_file", "MONITORD_INFLUX_TOKEN"
            )
    except SecretProblem as e:
        return fail(name, f"{i.url}: cannot authenticate", str(e))
    try:
        status, body, r = _http(f"{i.url}/ping", limit_s)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, BaseException) and not_yet_valid(reason):
            return _clock_behind(i, limit_s)
        # Expired or refused (monitord/tlsrefused.py): before, "not reachable (...) -> fix:
        # is the database running?" of a server that was running. An ssl.SSLError's
        # `reason` is OpenSSL's name for it, a string: then `e` itself.
        if said := influx_refused(
            reason if isinstance(reason, BaseException) else e, i.url, limit_s
        ):
            return fail(name, f"{i.url}: TLS failed: {said[0]}", said[1])
        return fail(
            name,
            f"{i.url}: not reachable ({reason})",
            "is the database running (systemctl status influxdb)? check influx.url",
        )
    # As the daemon's probe judges it: a login wanted (401/403) is up, its write says more;
    # before, that failed here, and a login page redirected to passed ("writable").
    if status >= 500:  # as the daemon's probe: a server error, not another server
        return fail(name, f"{i.url}/ping answered HTTP {status} ({body})", "see the database's log")
    moved = r.geturl() if r.geturl() != idna_url(f"{i.url}/ping") else None
    why = not_influx(status, r.reason, r.headers.get("Content-Type", ""), moved)
    if why is not None:
        return fail(name, f"{i.url}/ping answered {why}", NotInflux.probe_advice)
    # A write of nothing: the server checks credentials and target as for a real write.
    if i.api == "v1":
        params = {"db": i.database or "", "precision": "ns"}
        if i.retention_policy:
            params["rp"] = i.retention_policy
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if i.username:
            cred = base64.b64encode(f"{i.username}:{pw or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {cred}"
        target = f"database {i.database}"
        url = f"{i.url}/write?{urllib.parse.urlencode(params)}"
    else:
        params = {"org": i.org or "-", "bucket": i.bucket or "", "precision": "ns"}
        headers = {"Content-Type": "text/plain; charset=utf-8", "Authorization": f"Token {token}"}
        target = f"bucket {i.bucket}"
        url = f"{i.url}/api/v2/write?{urllib.parse.urlencode(params)}"
    try:
        status, body, _ = _http(url, limit_s, data=b"", headers=headers)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        return fail(
            name,
            f"{i.url}: write check failed ({getattr(e, 'reason', e)})",
            "is the database overloaded or behind a proxy?",
        )
    if status in (401, 403):
        who = f"user {i.username}" if i.api == "v1" else "the token"
        # The environment variable, when it was used: the daemon reads it before the file.
        held = source if source.startswith("environment") else ""
        fix = (
            (
                f"check influx.username and {held or 'influx.password_file'}; GRANT WRITE ON "
                f'"{i.database}" TO "{i.username}"'
            )
            if i.api == "v1"
            else f"check {held or 'influx.token_file'} holds a token that may write the bucket"
        )
        return fail(name, f"{i.url}: {who} may not write to {target} ({body})", fix)
    if status == 404 and body.endswith("(a web page)"):  # InfluxDB's own 404 is JSON
        return fail(name, f"{i.url}: write answered HTTP 404: {body}", NotInflux.advice)
    if status == 404:
        fix = (
            f'CREATE DATABASE "{i.database}" (influx CLI)'
            if i.api == "v1"
            else "create the bucket, or fix influx.org/bucket"
        )
        return fail(name, f"{i.url}: {target} not found ({body})", fix)
    # 2xx, or 400 for an empty body on servers that insist on data: credentials passed.
    if status >= 500 and body.startswith(RP_MISSING):  # influxd 1.x's 500, the admin's fix
        return fail(name, f"{i.url}: {target}: {body}", RetentionPolicyMissing.advice)
    if status >= 500:
        return fail(name, f"{i.url}: server error HTTP {status} ({body})", "see the database's log")
    auth = f" as {i.username}" if i.api == "v1" and i.username else ""
    what = "password" if i.api == "v1" else "token"
    return ok(name, f"{i.url}: {target} writable{auth}", f"{what} from {source}" if source else "")


async def check_influx(cfg: Config, creds: Path | None, limit_s: float) -> Check:
    if not cfg.influx.enabled:
        return skip("influx", "disabled in config (influx.enabled = false)")
    if not cfg.chairs:
        # `monitord station` writes no database: [influx] (its defaults) is not read.
        return skip("influx", "no [[chairs]] in this config (a station's): nothing writes it")
    return await asyncio.to_thread(_influx_sync, cfg.influx, creds, limit_s)
