"""The station's HTTPS certificate renewed in place, served without a restart.

The station built its TLS context once, at start: a renewed station.pem/.key (the 825-day
certificate made on install day, docs/install.md "Renewal") was served only after a restart,
and a restart forgets every login (they live in the station's memory: docs/station.md), so
every wallboard asked a nurse's PIN again. Now the pair's files are looked at every
RELOAD_CHECK_S; once changed and loading together, they replace the pair in the listener's
context (new connections get it; open ones keep theirs). A pair that does not load (the
certificate copied, its key not yet) is said once per change and the previous pair served.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
from pathlib import Path

from monitord.certfiles import not_after

log = logging.getLogger("monitord.station")

# How often the files are looked at: a stat of two files, cheap; a renewal is served
# within a minute of being put in place.
RELOAD_CHECK_S = 60.0

Stamp = tuple[tuple[int, int, int], ...]


def _stamp(*paths: Path) -> Stamp | None:
    try:
        return tuple((s.st_mtime_ns, s.st_size, s.st_ino) for s in map(os.stat, paths))
    except OSError:
        return None  # being replaced (mv, cp): looked at again next time


def _missing(*paths: Path) -> list[Path]:
    return [p for p in paths if not p.exists()]


def _no_passphrase() -> bytes:
    return b""  # never OpenSSL's prompt: the station under its unit has no terminal


def _load(ctx: ssl.SSLContext, cert: Path, key: Path) -> None:
    ctx.load_cert_chain(str(cert), str(key), password=_no_passphrase)


def _snapshot(cert: Path, key: Path, into: Path) -> tuple[Path, Path]:
    """The pair's bytes read once, into private copies: the try and the listener's load
    see the same pair (read twice, a key rewritten between passed the try and then failed
    half way into the listener's context: its new certificate in, no key, every handshake
    refused)."""
    copies = into / "cert.pem", into / "key.pem"
    for src, dst in zip((cert, key), copies, strict=True):
        dst.write_bytes(src.read_bytes())
    return copies


async def follow(ctx: ssl.SSLContext, cert: Path, key: Path, every_s: float) -> None:
    """Reloads `cert`/`key` into the listener's `ctx` when they change; until cancelled."""
    seen = _stamp(cert, key)
    gone = 0  # looks in a row with a file missing
    while True:
        await asyncio.sleep(every_s)
        now = _stamp(cert, key)
        if now is None:
            # Missing at two looks in a row, no copy under way: said once (before, never,
            # and the station's next restart failed on it). The pair in memory still serves.
            gone += 1
            if gone == 2 and (lost := _missing(cert, key)):
                log.warning(
                    "station: TLS %s %s missing: still serving the pair loaded before, but the "
                    "station will not start again without it; put station.pem/.key back "
                    "(or renew them with make-certs.sh, docs/install.md)",
                    " and ".join(f"{'certificate' if p == cert else 'key'} {p}" for p in lost),
                    "is" if len(lost) == 1 else "are",
                )
            continue
        gone = 0
        if now == seen:
            continue
        seen = now
        pair: tuple[Path, Path] | None = None
        why: object = None
        end = None
        with tempfile.TemporaryDirectory(prefix="station-tls-") as tmp:
            try:
                pair = _snapshot(cert, key, Path(tmp))
                # Tried on a context of its own first: a pair that fails half way through
                # on the listener's own (a new certificate, the old key) leaves it unusable.
                _load(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH), *pair)
            except (ssl.SSLError, OSError) as e:
                pair = None
                why = getattr(e, "reason", None) or e
            else:
                _load(ctx, *pair)
                end = not_after(pair[0])
        if pair is None:
            log.warning(
                "station: TLS certificate %s or key %s changed and do not load together (%s): "
                "still serving the previous pair; put both in place (make-certs.sh writes "
                "them as a pair), it is tried again at their next change",
                cert,
                key,
                why,
            )
            continue
        log.info(
            "station: TLS certificate %s renewed on disk, now served to new connections%s",
            cert,
            f" (expires {end:%Y-%m-%d %H:%M} UTC)" if end else "",
        )
