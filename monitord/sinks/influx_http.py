"""InfluxDB's HTTP side, for both wire APIs (monitord/sinks/influx.py): a write's failure
as one class per backoff policy (`_classify` from the HTTP status, `_http_errors` from the
client and the socket), a Retry-After read, the server's reason, and `ping`.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import html
import math
import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import aiohttp

from monitord.config import InfluxConfig
from monitord.config_tls import web_verifier
from monitord.sinks.commands import load_bounded
from monitord.tlsclock import clock_fact, clock_fix, expired, not_yet_valid, peer_certificate
from monitord.tlsrefused import RENEW_INFLUX, ca_expired, chain_cas, refused, renew_ca_influx

MAX_RETRY_AFTER_S = 300.0


# -- errors (one class per backoff policy) -----------------------------------------------
class WriteError(Exception):
    """A write that did not succeed; subclasses say what to do about it (`probe_advice`:
    when it was the idle probe, `ping`, that failed: no batch was sent)."""

    advice = ""
    probe_advice: str | None = None  # None: `advice`


class WriteUnreachable(WriteError):
    advice = "is InfluxDB running and influx.url right?"


class WriteClockBehind(WriteUnreachable):
    """HTTPS: the server's certificate is not yet valid on this machine's clock, a Pi booted
    on its last saved time before NTP (monitord/tlsclock.py). Before, "cannot connect ...
    certificate is not yet valid (is InfluxDB running and influx.url right?)"."""

    advice = probe_advice = clock_fix("InfluxDB server")


class WriteCertExpired(WriteUnreachable):
    """HTTPS: the server's certificate (or its CA) has expired on this machine's clock:
    made on install day with the broker's, it expires with them. Before, "cannot connect
    ... certificate has expired (is InfluxDB running and influx.url right?)": a server
    that was running."""

    advice = probe_advice = RENEW_INFLUX


async def whose_expiry(cfg: InfluxConfig, e: WriteError) -> WriteError:
    """`e`, or, when it is WriteCertExpired of a server whose own certificate is valid (or
    expired, as the CA that signed it), one that says its CA expired, with that fix
    (tlsrefused.ca_expired): before, "renew the InfluxDB server's certificate", which,
    reissued from that CA, expired as it was. The server's certificate from a second
    handshake that does not verify, within influx.timeout_s (at each failure while it
    lasts: one more handshake per backoff, 30 s at most; in the sink's task, not the
    write path's: the rows wait in the outbox as they would)."""
    if not isinstance(e, WriteCertExpired):
        return e
    u = urlsplit(cfg.url)
    der = await peer_certificate(u.hostname or "", u.port or 443, cfg.timeout_s)
    why = ca_expired("InfluxDB server", der, datetime.datetime.now(datetime.UTC))
    if why is None:
        return e
    ca = WriteCertExpired(f"TLS with {cfg.url} failed: {why}")
    ca.advice = ca.probe_advice = renew_ca_influx()
    ca.__cause__ = e.__cause__
    return ca


class WriteCertRefused(WriteUnreachable):
    """HTTPS: the server's certificate was refused, not trusted here or issued for another
    name than influx.url's (monitord/tlsrefused.py); the fix is the instance's. Before,
    "cannot connect ... certificate verify failed ... (is InfluxDB running and influx.url
    right?)": a server that was running."""

    def __init__(self, msg: str, fix: str) -> None:
        super().__init__(msg)
        self.advice = self.probe_advice = fix


class WritePlainToTls(WriteUnreachable):
    """influx.url says http:// for a server that serves HTTPS (TLS turned on after the
    install): Go's net/http (InfluxDB 1.x/2.x, VictoriaMetrics) answers every request 400
    `PLAIN_TO_TLS`, untyped. Before, that 400 read as InfluxDB refusing each point for
    good: every row was quarantined, never to be sent once influx.url was fixed."""

    advice = probe_advice = "the server speaks HTTPS: make influx.url https://"


PLAIN_TO_TLS = "Client sent an HTTP request to an HTTPS server"


class WriteTimeout(WriteError):
    advice = "the server is slow or frozen; the batch may have landed and is retried as is"
    probe_advice = "the server is slow or frozen"


class WriteServerError(WriteError):
    advice = "server-side error; retrying"


class WriteAuthError(WriteError):
    advice = "check influx.token_file (v2) or influx.username/password_file (v1)"


class WriteNotFound(WriteError):
    advice = "create the database/bucket, or fix influx.database/bucket/org"


class RetentionPolicyMissing(WriteNotFound):
    """InfluxDB 1.x has no retention policy influx.retention_policy names: dropped (to
    change its duration), or misspelt. It answers HTTP 500 (`RP_MISSING`), which read as
    its own fault, "server-side error; retrying", at WARNING; the fix is the admin's."""

    advice = (
        "create the retention policy (CREATE RETENTION POLICY ... ON the database), "
        "or fix influx.retention_policy"
    )


# influxd 1.x's words for a write to a retention policy it lacks (HTTP 500).
RP_MISSING = "retention policy not found"


class NotInflux(WriteNotFound):
    """What answered at influx.url is not InfluxDB (`not_influx`): the idle probe's
    `GET /ping` answered 404 (a proxy or another web server), or it or a write answered
    with a web page (a proxy's login page it was redirected to). Not a database or bucket
    to create; a write is retried, never taken as delivered."""

    advice = probe_advice = (
        "influx.url answers, but not as InfluxDB (its /ping answers 204): check influx.url, "
        "a reverse proxy's path included"
    )


class WriteThrottled(WriteError):
    def __init__(self, msg: str, retry_after_s: float | None) -> None:
        super().__init__(msg)
        self.retry_after_s = retry_after_s

    advice = "server asked us to slow down"


class WriteTooLarge(WriteError):
    advice = "batch too large for the server; splitting"


class WriteRejected(WriteError):
    """HTTP 400: some point in the batch is invalid for the server (reason in message)."""


def _parse_retry_after(v: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110: delay-seconds or an HTTP date,
    read against this machine's wall clock `now`), capped; None when absent or unreadable."""
    if not v:
        return None
    try:
        wait = float(v)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(v)
        except (TypeError, ValueError, IndexError):
            return None  # unreadable: our own backoff
        if when.tzinfo is None:  # "-0000": UTC by RFC 5322
            when = when.replace(tzinfo=datetime.UTC)
        wait = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(wait):
        return None
    return max(0.0, min(MAX_RETRY_AFTER_S, wait))


def _classify(status: int, reason: str, retry_after: str | None, page: bool = False) -> WriteError:
    """`page`: the answer was a web page. A 404 page is a proxy's or another web server's
    (InfluxDB answers its 404s in JSON): its advice is to check influx.url, not to create
    a database or bucket. So is a 400 or 422 page: no refusal of a point but of every
    request (nginx's "plain HTTP request was sent to HTTPS port"); before, each row was
    quarantined alone, for good, as InfluxDB's refusal of that point."""
    if status == 400 and reason.startswith(PLAIN_TO_TLS):
        return WritePlainToTls(f"HTTP {status}: {reason}")
    if (status == 400 or status == 422) and page:
        return NotInflux(f"HTTP {status}: {reason}")
    if status == 400 or status == 422:
        return WriteRejected(f"HTTP {status}: {reason}")
    if status in (401, 403):
        return WriteAuthError(f"HTTP {status}: {reason}")
    if status == 404:
        return (NotInflux if page else WriteNotFound)(f"HTTP {status}: {reason}")
    if status == 413:
        return WriteTooLarge(f"HTTP {status}: {reason}")
    if status in (429, 503):
        return WriteThrottled(f"HTTP {status}: {reason}", _parse_retry_after(retry_after))
    if status >= 500 and reason.startswith(RP_MISSING):
        return RetentionPolicyMissing(f"HTTP {status}: {reason}")
    return WriteServerError(f"HTTP {status}: {reason}")


REASON_CHARS = 500  # of the server's own words (InfluxDB's can name several fields)
# InfluxDB's error answers are one flat object ({"error": ...}, v2 {"code", "message"}).
REASON_DEPTH = 8
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def is_page(content_type: str, text: str) -> bool:
    """True when an answer is a web page (by its type, or by its start when untyped)."""
    kind = content_type.partition(";")[0].strip().lower()
    start = text.lstrip()[:14].lower()
    return kind in ("text/html", "application/xhtml+xml") or start.startswith(
        ("<!doctype html", "<html")
    )


def _reason_from_body(body: bytes | str | None, content_type: str = "") -> str:
    """The server's reason as one short line. A web page (a proxy's 502 "Bad Gateway", a
    login page) is named by its title and "(a web page)": before, its first 500
    characters of markup, carriage returns and all, went into the journal at every retry
    and into `monitord status` as the last error."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if is_page(content_type, text):
        m = _TITLE.search(text)
        words = html.unescape(_TAG.sub(" ", m.group(1) if m else text))
        title = " ".join(words.split())[:120]
        return f"{title} (a web page)" if title else "a web page"
    try:
        # Bounded: an answer nested thousands deep (a proxy's, a broken server's) made
        # json.loads raise RecursionError, which crashed the sink at each retry.
        obj = load_bounded(text.encode("utf-8", "replace"), REASON_DEPTH)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        for k in ("error", "message"):
            if isinstance(obj.get(k), str):
                text = obj[k]
                break
    return " ".join(text.split())[:REASON_CHARS]


@contextlib.contextmanager
def _http_errors(cfg: InfluxConfig) -> Iterator[None]:
    """The client's and the socket's failures as WriteErrors (a WriteError as it is)."""
    try:
        yield
    except WriteError:
        raise
    except TimeoutError as e:
        raise WriteTimeout(f"no answer within {cfg.timeout_s} s") from e
    except aiohttp.ClientConnectorCertificateError as e:
        if not_yet_valid(e.certificate_error):
            now = datetime.datetime.now(datetime.UTC)
            fact = clock_fact("InfluxDB server", now, None, chain_cas())
            raise WriteClockBehind(f"TLS with {cfg.url} failed: {fact}") from e
        if expired(e.certificate_error):
            raise WriteCertExpired(f"TLS with {cfg.url} failed: {e.certificate_error}") from e
        if said := refused(e.certificate_error, cfg.url, "InfluxDB server", "influx.url"):
            raise WriteCertRefused(f"TLS with {cfg.url} failed: {said[0]}", said[1]) from e
        raise WriteUnreachable(f"cannot connect to {cfg.url}: {e.certificate_error}") from e
    except aiohttp.ClientConnectorError as e:
        # A handshake the server ended (its alert: tlsrefused.py), not a server down.
        if said := refused(e, cfg.url, "InfluxDB server", "influx.url"):
            raise WriteCertRefused(f"TLS with {cfg.url} failed: {said[0]}", said[1]) from e
        raise WriteUnreachable(f"cannot connect to {cfg.url}: {e.os_error}") from e
    except (aiohttp.ClientError, OSError) as e:
        if said := refused(e, cfg.url, "InfluxDB server", "influx.url"):  # a client cert asked
            raise WriteCertRefused(f"TLS with {cfg.url} failed: {said[0]}", said[1]) from e
        raise WriteUnreachable(f"{type(e).__name__}: {e}") from e


def not_influx(status: int, reason: str, content_type: str, moved_to: str | None) -> str | None:
    """Why an answer below 500 to `GET /ping` is not InfluxDB's, or None. InfluxDB 1.x and
    2.x answer 204 (1.x JSON-typed), VictoriaMetrics 204 untyped (lib/httpserver "/ping"):
    any 2xx but a web page. A server that wants a login for /ping too (401, 403) is up, and
    its writes, not this probe, say whether the login is right. Anything else (a proxy's
    404) is not InfluxDB; nor a 200 HTML page, as a proxy's login page it redirected to
    (followed, as an http->https redirect to InfluxDB must be): before, that was "up".
    `monitord doctor` judges its /ping by this too."""
    what = f"HTTP {status}: {reason}".rstrip(": ")
    page = content_type.partition(";")[0].strip().lower() == "text/html"
    if status in (401, 403) or (200 <= status < 300 and not page):
        return None
    return (
        what
        + (" (a web page)" if page else "")
        + (f", redirected to {moved_to}" if moved_to else "")
    )


async def ping(cfg: InfluxConfig) -> None:
    """`GET /ping` (InfluxDB 1.x and 2.x, VictoriaMetrics): whether the server answers
    at all, for a sink with nothing to send (`InfluxSink._probe`); a WriteError if not
    (`not_influx`: an answer, but not InfluxDB's)."""
    timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
    with _http_errors(cfg):
        async with (
            aiohttp.ClientSession(timeout=timeout) as s,
            s.get(f"{cfg.url}/ping", ssl=web_verifier()) as r,
        ):
            if r.status >= 500:
                raise _classify(r.status, r.reason or "", r.headers.get("Retry-After"))
            moved = str(r.url) if r.history else None
            why = not_influx(r.status, r.reason or "", r.headers.get("Content-Type", ""), moved)
            if why is not None:
                raise NotInflux(why)
