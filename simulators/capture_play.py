"""Simulators that play a `monitord capture` file back (monitord/capturefile.py), so a
clinic's field problem becomes a test case: the daemon's real transport and decoder get
the recorded bytes again, with the recorded timing divided by `speed`.

- `SerialCapturePlayer`: a serial simulator (pty or `socket://`, as the others) that
  writes the recorded rx chunks as they were split. A chunk that was received after we
  had written (IntelliVue answers our association request and polls) waits until the
  daemon has written something new on this connection, so a dialog stays in step; the
  rest of the timing shifts by that wait. A recorded disconnect unplugs the port and a recorded
  connect plugs it in again.
- `BleCapturePlayer`: a BLE peripheral on a `VirtualBleLink` advertising the recorded
  name with the driver's service; once the central has subscribed, it sends each recorded
  value on its characteristic (indication or notification as the driver expects). Each
  recorded connection plays on one connection; a recorded disconnect hangs up.

Playback starts when a reader is there (the daemon opened the pty or connected), since a
serial port drops what arrived before it was opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from bumble.core import UUID
from bumble.gatt import Characteristic, Service

from monitord.aio import within
from monitord.capturefile import Capture, Segment
from monitord.drivers.ble_gatt import BleProfile
from monitord.drivers.registry import DRIVERS
from monitord.log import FailureLog
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.ble.devices import _NONE, _Peripheral
from monitord.simulators.ble.link import VirtualBleLink
from monitord.simulators.pty import PtyPort, SocketPort

log = logging.getLogger(__name__)

GATE_S = 10.0  # longest wait for the daemon's side of a dialog before playing on anyway
POLL_S = 0.02


def pty_openers(slave: str) -> int:
    """How many open file descriptors on this machine point at `slave` (ours included)."""
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == slave:
                        n += 1
    return n


class SerialCapturePlayer(SerialSim):
    def __init__(
        self,
        capture: Capture,
        *,
        symlink: Path | None = None,
        socket_port: int | None = None,
        speed: float = 1.0,
    ) -> None:
        if capture.transport != "serial":
            raise ValueError(f"a {capture.transport} capture does not play on a serial port")
        super().__init__(symlink=symlink, socket_port=socket_port, speed=speed, repeat=False)
        self.capture = capture
        self.client_bytes = 0  # written by the daemon on the current connection
        self.chunks_sent = 0
        self.finished = asyncio.Event()
        self._data = asyncio.Event()

    def on_data(self, data: bytes) -> None:
        self.client_bytes += len(data)
        self._data.set()

    def on_link_change(self) -> None:
        self.client_bytes = 0

    def _reader_present(self) -> bool:
        port = self.port_obj
        if isinstance(port, SocketPort):
            return bool(port._clients)
        if isinstance(port, PtyPort) and port.slave_path:
            return pty_openers(port.slave_path) > 1  # we hold the slave open ourselves
        return True

    async def wait_reader(self, limit_s: float = 60.0) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + limit_s
        while not self._reader_present():
            if loop.time() > end:
                return False
            await asyncio.sleep(POLL_S)
        return True

    async def play(self) -> None:
        """Play every recorded connection; returns when the capture is played out."""
        loop = asyncio.get_running_loop()
        segments = self.capture.segments()
        if not await self.wait_reader():
            log.warning("no reader on %s: playing anyway", self.port)
        origin_wall = loop.time()
        origin_t = segments[0].connected.t if segments else 0.0

        def due(t: float) -> float:
            return origin_wall + (t - origin_t) / self.speed

        for i, seg in enumerate(segments):
            if i > 0:
                await asyncio.sleep(max(0.0, due(seg.connected.t) - loop.time()))
                if not self.port_obj.is_open:
                    await self.restore_link()
                    await self.wait_reader()
            shift = await self._play_segment(seg, due)
            origin_wall += shift
            if seg.dropped:
                await asyncio.sleep(max(0.0, due(seg.end_t) - loop.time()))
                await self.drop_link()
        self.finished.set()

    async def _play_segment(self, seg: Segment, due: Any) -> float:
        loop = asyncio.get_running_loop()
        answered = 0  # client bytes already answered by an earlier chunk
        asked = False  # we wrote (in the recording) since the last chunk we got
        shift = 0.0
        for rec in seg.data:
            if rec.kind == "tx":
                asked = True
                continue
            await asyncio.sleep(max(0.0, due(rec.t) + shift - loop.time()))
            if asked:
                # An answer waits for a new request. Only "something new" is required, not
                # the recorded byte count: another monitord version may poll with other
                # bytes, and the monitor's answer is what the capture is about.
                gate_end = loop.time() + GATE_S
                while self.client_bytes <= answered and loop.time() < gate_end:
                    self._data.clear()
                    # `within`: asyncio.wait_for in 3.11 loses a stop (Ctrl-C) that comes
                    # in the loop turn the client's bytes do (monitord/aio.py).
                    with contextlib.suppress(TimeoutError):
                        await within(self._data.wait(), gate_end - loop.time())
                answered, asked = self.client_bytes, False
                shift = max(shift, loop.time() - due(rec.t))
            self.write(rec.data)
            self.chunks_sent += 1
        return shift


def _uuid(text: str) -> UUID:
    if text.endswith("-0000-1000-8000-00805f9b34fb") and text.startswith("0000"):
        return UUID.from_16_bits(int(text[4:8], 16))
    return UUID(text)


class BleCapturePlayer(_Peripheral):
    def __init__(
        self,
        capture: Capture,
        link: VirtualBleLink,
        *,
        name: str | None = None,
        speed: float = 1.0,
    ) -> None:
        if capture.transport != "ble":
            raise ValueError(f"a {capture.transport} capture does not play over BLE")
        profile = DRIVERS[capture.driver].ble_profile
        assert isinstance(profile, BleProfile)
        self.capture = capture
        self.profile = profile
        self.speed = speed
        self.service16 = int(profile.service_uuid[4:8], 16)
        self.values_sent = 0
        self.finished = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        super().__init__(name or capture.header.get("advertised_name") or "capture", link)
        self._flog = FailureLog(log, f"capture player {self.name}")

    def _services(self) -> list[Service]:
        self.chars: dict[str, tuple[Characteristic[bytes], str]] = {}
        for sub in self.profile.subscriptions:
            prop = (
                Characteristic.Properties.INDICATE
                if sub.mode == "indicate"
                else Characteristic.Properties.NOTIFY
            )
            self.chars[sub.uuid] = (Characteristic(_uuid(sub.uuid), prop, _NONE, b""), sub.mode)
        chars = [c for c, _ in self.chars.values()]
        return [Service(_uuid(self.profile.service_uuid), chars)]

    async def __aenter__(self) -> BleCapturePlayer:
        await super().__aenter__()
        self._task = asyncio.create_task(self.play())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await super().__aexit__(*exc)

    def _on_subscribed(self, characteristic: Characteristic[bytes]) -> None:
        self._changed.set()

    def _ready(self) -> bool:
        return self.connection is not None and all(
            self.is_subscribed(c) for c, _ in self.chars.values()
        )

    async def play(self) -> None:
        loop = asyncio.get_running_loop()
        segments = self.capture.segments()
        for i, seg in enumerate(segments):
            while not self._ready():
                self._changed.clear()
                await self._changed.wait()
            origin_wall = loop.time()
            origin_t = seg.data[0].t if seg.data else seg.connected.t
            for rec in seg.data:
                await asyncio.sleep(
                    max(0.0, origin_wall + (rec.t - origin_t) / self.speed - loop.time())
                )
                got = self.chars.get(rec.char or "")
                if got is None:
                    self._flog.failure(
                        "char",
                        f"value on {rec.char}: {self.capture.driver} has no such "
                        "characteristic (skipped)",
                    )
                    continue
                char, mode = got
                sent = await (self._indicate if mode == "indicate" else self._notify)(
                    char, rec.data
                )
                self.values_sent += sent
            if seg.dropped and i + 1 < len(segments):
                await self.drop_link()
                gap = (segments[i + 1].connected.t - seg.end_t) / self.speed
                await asyncio.sleep(max(0.0, gap))
                await self.restore_link()
        self.finished.set()
