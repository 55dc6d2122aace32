"""The station's HTTPS certificate renewed in place (docs/install.md, "Renewal"), followed
literally: station.pem and station.key copied over the old pair while the station runs.
Before, it served the old certificate until restarted (its context built once at start),
and a restart forgets every login, so every wallboard asked a nurse's PIN again. Now the
new pair is served to new connections without a restart; a certificate copied without its
key yet is said once and the previous pair kept serving (monitord/station/tlsreload.py).
Real station over TLS, real handshakes, two test CAs (the old pair's and the new one's).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import ssl
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.kit import eventually
from tests.servers import Mosquitto, TlsMaterial, make_tls_material
from tests.station.station_kit import station_config, station_in_process

RELOAD_S = 0.2  # the station's look at its files (RELOAD_CHECK_S, 60 s): not waited out


async def _verifies(host: str, port: int, ca: Path) -> bool:
    """A full handshake with the station verified against `ca` (and the name checked)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        _, w = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
    except ssl.SSLCertVerificationError:
        return False
    w.close()
    return True


class Served(NamedTuple):
    """Where the station listens and the pair of files it serves from."""

    host: str
    port: int
    cert: Path
    key: Path


@contextlib.asynccontextmanager
async def station_on_its_first_pair(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str
) -> AsyncIterator[tuple[Served, TlsMaterial]]:
    """A station in process over TLS, serving station.pem/station.key copied from a test
    CA's pair (yielded with it), looking at the files every RELOAD_S."""
    old = make_tls_material(tmp_path / "old")
    cert, key = tmp_path / "station.pem", tmp_path / "station.key"
    shutil.copy(old.server_cert, cert)
    shutil.copy(old.server_key, key)
    tls = f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"'
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=prefix, extra=tls)
    async with station_in_process(cfg, tls_reload_s=RELOAD_S) as (_, url):
        host, port = url.removeprefix("https://").rstrip("/").rsplit(":", 1)
        yield Served(host, int(port), cert, key), old


async def test_a_renewed_station_certificate_is_served_without_a_restart(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitord.station")
    new = make_tls_material(tmp_path / "new")
    async with station_on_its_first_pair(tmp_path, mosquitto, mqtt_prefix) as (on, old):
        host, port, cert, key = on.host, on.port, on.cert, on.key
        assert await _verifies(host, port, old.ca_file)
        # Half way: the new certificate beside the old key. The old pair served, said why.
        shutil.copy(new.server_cert, cert)
        await eventually(lambda: "do not load together" in caplog.text, 10, "the half pair said")
        assert await _verifies(host, port, old.ca_file)
        shutil.copy(new.server_key, key)
        await eventually(lambda: "now served to new connections" in caplog.text, 10, "reloaded")
        assert await _verifies(host, port, new.ca_file), "the renewed pair not served"
        assert not await _verifies(host, port, old.ca_file)
    said = [r.getMessage() for r in caplog.records if "do not load together" in r.getMessage()]
    assert len(said) == 1, said  # once per change, not at every look


async def test_a_removed_station_key_is_said_once_and_the_pair_kept_serving(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """station.key removed (an `rm` before a copy that never came, a clean-up gone wrong):
    before, nothing was said at any look (the files' stat failing was taken for a copy under
    way) and the next restart of the station failed. Now one WARNING naming the missing
    file, the pair in memory kept serving, not said again at every look."""
    caplog.set_level(logging.INFO, logger="monitord.station")
    async with station_on_its_first_pair(tmp_path, mosquitto, mqtt_prefix) as (on, old):
        host, port, key = on.host, on.port, on.key
        key.unlink()
        await eventually(lambda: "is missing" in caplog.text, 10, "the missing key said")
        assert await _verifies(host, port, old.ca_file)
        looks = caplog.text.count("is missing")
        await asyncio.sleep(RELOAD_S * 10)  # ten more looks at the files
        assert caplog.text.count("is missing") == looks == 1, caplog.text
        shutil.copy(old.server_key, key)  # put back: served again, said
        await eventually(lambda: "now served to new connections" in caplog.text, 10, "back")
        assert await _verifies(host, port, old.ca_file)
    said = [r for r in caplog.records if "is missing" in r.getMessage()]
    assert said[0].levelno == logging.WARNING and str(key) in said[0].getMessage(), said


def _feed(fifo: Path, payloads: list[bytes], stop: threading.Event) -> None:
    """Each reader opening `fifo` in turn gets the next payload (the last one repeated):
    a file whose content changes between two reads, at exactly that moment."""
    i = 0
    while not stop.is_set():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            time.sleep(0.005)
            continue
        with os.fdopen(fd, "wb") as w:
            os.set_blocking(fd, True)
            w.write(payloads[min(i, len(payloads) - 1)])
            # A fresh FIFO in its place before this one's end: the next opener is the next
            # reader, never this reader again (it gets its end of file at the close).
            fresh = fifo.with_name(fifo.name + ".next")
            os.mkfifo(fresh)
            os.replace(fresh, fifo)
        i += 1


async def test_a_key_changing_between_the_check_and_the_load_leaves_the_station_serving(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The pair was read twice: once to try it on a context of its own, again into the
    listener's. A key rewritten between the two reads (an editor saving it in place, a
    second copy) passed the try and then raised in the listener's load: the reload task
    died with it, unsaid, and no renewal was served again until a restart (which forgets
    every login); OpenSSL may also have put the new certificate in beside no key. FIFOs
    stand for the key changing at exactly that moment. Now the pair is read once and the
    same bytes tried and loaded."""
    caplog.set_level(logging.INFO, logger="monitord.station")
    new = make_tls_material(tmp_path / "new")
    stop = threading.Event()
    feeders: list[threading.Thread] = []
    async with station_on_its_first_pair(tmp_path, mosquitto, mqtt_prefix) as (on, old):
        host, port, cert, key = on.host, on.port, on.cert, on.key
        assert await _verifies(host, port, old.ca_file)
        for path, payloads in (
            (cert, [new.server_cert.read_bytes()]),
            (key, [new.server_key.read_bytes(), old.server_key.read_bytes()]),
        ):
            fifo = path.with_name(path.name + ".fifo")
            os.mkfifo(fifo)
            os.replace(fifo, path)
            feeders.append(threading.Thread(target=_feed, args=(path, payloads, stop)))
            feeders[-1].start()
        try:
            await eventually(lambda: "now served to new connections" in caplog.text, 10, "reloaded")
            assert await _verifies(host, port, new.ca_file), "the renewed pair not served"
        finally:
            stop.set()
            for t in feeders:
                t.join()
