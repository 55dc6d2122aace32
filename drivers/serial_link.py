"""Serial transport: opens a tty (or `socket://host:port`), hands the byte stream to the
device's protocol, and reconnects. It never parses.

State machine (one per configured device, runs until cancelled):

    CLOSED --open ok--> OPEN --first frame decoded--> UP (ctx.link(True))
      ^                  |                             |
      |   open failed    |  LinkLost (EOF, read error, silence > silence_s,
      |                  |            bytes but no frame decoded for silence_s)
      +---- BACKOFF <----+-----------------------------+  (ctx.link(False, reason) when
                                                   it was up, on the first failure
                                                   after start, or when the failure's
                                                   class changed)

- Up means the device speaks its protocol, not that bytes arrive: the protocol calls
  `link.heard()` for each line, packet or message it decodes. A port that delivers only
  bytes none of which decode (a wrong baud rate or parity, a device in another output
  mode, a noisy line) is a lost link after `silence_s` of such bytes, so
  `tech.device_lost` runs; before this, the first garbage byte counted as up and the
  alarm never came while no reading did.
- Silence is judged on the line, not on the daemon: when the silence timer fires while
  bytes wait in the port (the daemon itself was stalled), they are read first; the
  undecodable-bytes clock counts at most `silence_s / 2` for one gap between chunks.
- The configured path is resolved again on every open, so a stable
  `/dev/serial/by-id/...` link (or any symlink) that now points at a new tty is followed.
- Ports are opened exclusively (pyserial `exclusive=True`, an advisory flock) so two
  daemons cannot interleave reads on one monitor.
- Backoff: capped exponential with full jitter (`PortBackoff`), counted per error class:
  a new kind of failure (the adapter unplugged after a silent line, or plugged back into
  a monitor that is still off) starts at the shortest delay instead of inheriting the
  other class's grown one, and a missing port is retried at a steady short pace (its
  own cap): looking for a path costs nothing and the moment it comes back is when the
  nurse has replugged the cable and waits for `tech.device_lost` to clear. Each error
  class is logged at WARNING once with operator advice, then at DEBUG while it repeats.
  Only a session that was up (its protocol decoded something: `heard()`) resets the
  counts and the once-per-class memory; bytes alone do not, or a device sending only
  garbage (a wrong baud rate) was reopened at the shortest delay forever. A silent line
  gets the driver's own advice when its descriptor has one (`silence_advice`).
- A protocol that raises anything but `LinkLost` (a bug in the driver) is a lost link of
  its own class (`driver error`, at ERROR with its traceback once per bug a run); the next
  connection is up only once the protocol decoded a second unit, so a driver crashing on
  each line its device sends is down (and `tech.device_lost` comes), not up once a line.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import os
import random
import re
import termios
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import serial
import serial_asyncio_fast
from pydantic import Field, ValidationInfo, field_validator, model_validator

from monitord.backoff import capped_delay
from monitord.config import DeviceConfig, DeviceOptions
from monitord.drivers.base import DeviceContext, DriverDescriptor, LinkLost, SerialDefaults
from monitord.drivers.tap import LinkTap

log = logging.getLogger(__name__)

READ_CHUNK = 4096


class LinkError(enum.Enum):
    """Why a port could not be opened or was lost; each has its own attempt count (a
    missing port also its own cap, `PortBackoff.missing_cap_s`) and advice."""

    PORT_MISSING = "port missing"
    NOT_A_PORT = "not a serial port"
    PERMISSION = "permission denied or port busy"
    LINE_SETTINGS = "line settings refused"
    IO = "I/O error"
    GARBLED = "undecodable data"
    DRIVER_BUG = "driver error"

    @property
    def advice(self) -> str:
        return {
            LinkError.PORT_MISSING: "check the cable/USB adapter is plugged in and the port "
            "path (prefer /dev/serial/by-id/...)",
            LinkError.NOT_A_PORT: "port names a directory or a device that is no "
            "serial line (/dev/null, a disk): set it to the adapter's own path, "
            "/dev/serial/by-id/... (`ls -l /dev/serial/by-id/` lists each adapter)",
            LinkError.PERMISSION: "add the monitord user to the 'dialout' group, and make sure "
            "no other program (or a second monitord) holds the port",
            LinkError.LINE_SETTINGS: "the port does not take this device's baud rate, "
            "parity or stop bits: check baudrate/parity/stopbits and that the adapter "
            "supports them",
            LinkError.IO: "the device stopped answering: check the monitor is on, its "
            "serial export is enabled and the baud rate matches",
            LinkError.GARBLED: "bytes arrive but no data decodes: check baudrate/parity/"
            "stopbits match the device's output settings, its output mode, that the "
            "configured driver is this device's, and (IntelliVue) that no other client "
            "holds its Data Export",
            LinkError.DRIVER_BUG: "a bug in monitord's driver for this device, on the data "
            "it sends: no reading of it arrives; please report this line and the "
            "traceback logged with it",
        }[self]


# A port named by the kernel's number for its adapter: the number goes to whichever adapter
# enumerates first, so after a reboot or a replug it may be another's (config_links warns).
KERNEL_NUMBERED = re.compile(r"/dev/tty(USB|ACM)[0-9]+")
BY_ID_ADVICE = (
    "name it by its adapter: /dev/serial/by-id/... (`ls -l /dev/serial/by-id/` lists "
    "each adapter and the tty it is now; unplug one to tell whose it is), or "
    "/dev/serial/by-path/... (the USB socket) for identical adapters without a serial "
    "number, which share one by-id name"
)


def renumbered_advice(port: str | None) -> str:
    """For undecodable data on a kernel-numbered port: it may now be another adapter,
    another monitor's at another baud rate (a reboot swapped them); "" for other ports."""
    if not port or not KERNEL_NUMBERED.fullmatch(os.path.normpath(port)):
        return ""
    return (
        f"; {port} is numbered by the kernel: after a reboot or a replug it may be another "
        f"adapter, another device's: {BY_ID_ADVICE}"
    )


class SerialLinkSettings(DeviceOptions):
    """The serial transport's keys of a device table. Unset line settings take the
    driver's `SerialDefaults`. A serial driver with options of its own extends this."""

    port: str | None = None
    baudrate: Annotated[int, Field(ge=300, le=4_000_000)] | None = None
    bytesize: Literal[5, 6, 7, 8] | None = None
    parity: Literal["N", "E", "O"] | None = None
    stopbits: Annotated[float, Field(ge=1, le=2)] | None = None  # 1, 1.5 or 2

    @field_validator("port")
    @classmethod
    def _port_in_full(cls, v: str | None) -> str | None:
        # The service runs in / : "ttyUSB0" (or "dev/ttyUSB0") named no device, passed
        # check-config, and the link then looked for it for ever as "port missing".
        if v is not None and not v.startswith("/") and "://" not in v:
            dev = v.removeprefix("dev/")
            raise ValueError(
                f"{v!r} is not a device path: name it in full (/dev/{dev}, or "
                "/dev/serial/by-id/... for an adapter that keeps its name) or as a "
                "pyserial URL (socket://HOST:PORT)"
            )
        return v

    @model_validator(mode="after")
    def _needs_port(self, info: ValidationInfo) -> SerialLinkSettings:
        ctx = info.context or {}
        if not ctx.get("simulated") and not self.port:
            driver = ctx.get("driver", "?")
            raise ValueError(f"driver {driver!r} is serial: set port (or simulate)")
        return self


@dataclass(frozen=True, slots=True)
class PortBackoff:
    """Delays between attempts to reopen a port: capped exponential backoff with full
    jitter, delay = U(min, min(cap, base*2^n)), n counted per `LinkError` by the link
    loop. A missing port is capped at `missing_cap_s`: a path that is not there costs a
    stat to look for, and the sooner a replugged adapter is found the sooner the link
    (and the alarm's clearing) is back. (Stateless; `monitord.backoff.Backoff` is the
    stateful one the sinks use.)"""

    base_s: float = 0.5
    cap_s: float = 30.0
    min_s: float = 0.05
    missing_cap_s: float = 2.0

    def delay(
        self, attempt: int, rng: random.Random | None = None, error: LinkError | None = None
    ) -> float:
        cap = self.cap_s
        if error is LinkError.PORT_MISSING:
            cap = min(cap, self.missing_cap_s)
        return capped_delay(attempt, self.base_s, cap, rng, low_frac=0.0, floor_s=self.min_s)


def classify(exc: BaseException) -> LinkError:
    """Map an open/read failure to an error class."""
    if isinstance(exc, termios.error):
        return LinkError.LINE_SETTINGS
    err = getattr(exc, "errno", None)
    text = str(exc).lower()
    # Not a serial port: a directory (EISDIR, "[Errno 21]": it held "errno 2" and was
    # told as a missing port), or a device without a line to configure (ENOTTY, pyserial's
    # "Could not configure port: (25, 'Inappropriate ioctl for device')": it was told as
    # a monitor that stopped answering).
    if isinstance(exc, IsADirectoryError) or err in (errno.EISDIR, errno.ENOTTY):
        return LinkError.NOT_A_PORT
    if "is a directory" in text or "inappropriate ioctl" in text:
        return LinkError.NOT_A_PORT
    if isinstance(exc, FileNotFoundError) or err in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return LinkError.PORT_MISSING
    if "no such file" in text or ("could not open port" in text and "[errno 2]" in text):
        return LinkError.PORT_MISSING
    if isinstance(exc, PermissionError) or err in (errno.EACCES, errno.EBUSY, errno.EPERM):
        return LinkError.PERMISSION
    if "permission denied" in text or "exclusively lock" in text or "busy" in text:
        return LinkError.PERMISSION
    if isinstance(exc, ConnectionRefusedError) or err == errno.ECONNREFUSED:
        return LinkError.PORT_MISSING  # socket:// server not listening = device absent
    return LinkError.IO


class _StreamLink:
    """The open port as a `ByteLink` for the protocol."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        silence_s: float,
        on_first_heard: Callable[[], None],
        tap: LinkTap | None = None,
        up_after: int = 1,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._silence = silence_s
        self._on_first = on_first_heard
        self._tap = tap
        self.talking = False  # the protocol decoded something on this connection
        # Decoded units it takes to be up: 2 after a session that ended in a driver bug,
        # so a protocol that crashes on each unit it decoded is not up (see the loop).
        self._up_after = up_after
        self._heard_n = 0
        self.lost_reason = ""
        self.silent = False  # lost because nothing came for `silence_s`
        self.garbled = False  # lost because only undecodable bytes came for `silence_s`
        # Lost because the port went away under the read (a read error or end of file: a
        # USB adapter pulled out or reset, the socket's server gone), not the device's
        # silence: the port's own class, whose advice is the cable and adapter's.
        self.hung_up = False
        # Line time since the last decoded frame while bytes kept coming; each gap between
        # chunks counts at most silence_s / 2, so a stall of the daemon itself (SIGSTOP,
        # swapping) cannot make the bytes it then reads look undecodable.
        self._unheard_s = 0.0
        self._last_chunk: float | None = None

    def heard(self) -> None:
        self._unheard_s = 0.0
        self._heard_n += 1
        if not self.talking and self._heard_n >= self._up_after:
            self.talking = True
            self._on_first()

    async def read(self) -> bytes:
        if self.lost_reason:
            raise LinkLost(self.lost_reason)
        # The previous chunk has been through the protocol: did anything decode lately?
        if self._unheard_s >= self._silence:
            self.garbled = True
            self.lost_reason = (
                f"bytes for {self._unheard_s:.1f} s but no data decoded (limit {self._silence:g} s)"
            )
            raise LinkLost(self.lost_reason)
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: wait_for (3.11) runs the read as a task
                    # of its own, two more loop turns between a byte and the decoder.
                    async with asyncio.timeout(self._silence):
                        data = await self._reader.read(READ_CHUNK)
                    break
                except TimeoutError:
                    # After a stall of the daemon itself (SIGSTOP, swapping) the silence
                    # timer fires before the loop looks at the port: bytes waiting are the
                    # device talking, and closing the port now would flush them away.
                    if not self._buffered():
                        self.silent = True
                        self.lost_reason = f"silent for {self._silence:g} s"
                        raise LinkLost(self.lost_reason) from None
        except (OSError, serial.SerialException) as e:
            self.hung_up = True
            self.lost_reason = f"read error: {e}"
            raise LinkLost(self.lost_reason) from e
        if not data:
            self.hung_up = True
            self.lost_reason = "end of file (device closed or unplugged)"
            raise LinkLost(self.lost_reason)
        if self._tap is not None:
            self._tap.chunk("rx", data)
        now = asyncio.get_running_loop().time()
        if self._last_chunk is not None:
            self._unheard_s += min(now - self._last_chunk, self._silence / 2)
        self._last_chunk = now
        return data

    def _buffered(self) -> bool:
        """Bytes received but not read yet (in the stream or the kernel's port buffer)."""
        if getattr(self._reader, "_buffer", None):
            return True
        port = self._writer.transport.get_extra_info("serial")
        try:
            return bool(port is not None and port.in_waiting)
        except (OSError, serial.SerialException):
            return False  # a dead port has nothing for us: the next read says why

    async def write(self, data: bytes) -> None:
        if self.lost_reason:
            raise LinkLost(self.lost_reason)
        if self._tap is not None:
            self._tap.chunk("tx", data)
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, serial.SerialException, ConnectionError) as e:
            self.lost_reason = f"write error: {e}"
            raise LinkLost(self.lost_reason) from e

    def close(self) -> None:
        try:
            self._writer.close()
        except Exception:  # closing a dead port must not mask the original failure
            log.debug("closing port failed", exc_info=True)


def _bug_key(e: BaseException) -> tuple[str, str]:
    """A driver bug's identity: its exception type and the line that raised it."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    at = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""
    return type(e).__qualname__, at


def _defaults(desc: DriverDescriptor) -> SerialDefaults:
    # drivers/registry.py refuses a serial descriptor without them: no 9600 8N1 assumed.
    if desc.serial is None:
        raise ValueError(f"driver {desc.name!r} states no serial line settings (serial=)")
    return desc.serial


def line_settings(link: SerialLinkSettings, desc: DriverDescriptor) -> dict[str, Any]:
    """pyserial's line settings: the device's, else its driver's defaults."""
    d = _defaults(desc)
    return {
        "baudrate": link.baudrate or d.baudrate,
        "bytesize": link.bytesize or d.bytesize,
        "parity": link.parity or d.parity,
        "stopbits": link.stopbits or d.stopbits,
    }


def line_text(settings: dict[str, Any]) -> str:
    """`line_settings` as a monitor's menu says them: "9600 8N1"."""
    return (
        f"{settings['baudrate']} {settings['bytesize']}{settings['parity']}{settings['stopbits']:g}"
    )


async def open_port(
    url: str, settings: dict[str, Any]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if url.startswith("socket://"):
        return await serial_asyncio_fast.open_serial_connection(url=url, **settings)
    # Re-resolve every time: a by-id/by-path symlink may now point at another tty.
    path = await asyncio.to_thread(os.path.realpath, url)
    if not await asyncio.to_thread(os.path.exists, path):
        raise FileNotFoundError(errno.ENOENT, "no such port", url)
    return await serial_asyncio_fast.open_serial_connection(url=path, exclusive=True, **settings)


async def run_serial_device(
    dev: DeviceConfig,
    desc: DriverDescriptor,
    ctx: DeviceContext,
    *,
    port: str | None = None,
    backoff: PortBackoff | None = None,
    tap: LinkTap | None = None,
) -> None:
    """Run one serial device forever (until cancelled): open, run protocol, reconnect.
    `tap` sees every byte read and written (`monitord capture`)."""
    if desc.make_protocol is None:
        raise ValueError(f"driver {desc.name!r} has no serial protocol")
    link_settings = dev.settings_as(SerialLinkSettings)
    named = link_settings.port  # as configured: the name the admin may have to change
    url = port or named
    if not url:
        raise ValueError(f"device {dev.id!r}: no port configured")
    settings = line_settings(link_settings, desc)
    silence_s = dev.silence_s or _defaults(desc).silence_s
    backoff = backoff or PortBackoff()
    protocol = desc.make_protocol(dev.settings)
    warned: set[LinkError] = set()
    # Driver bugs told with their traceback, once per run per bug (its exception type and
    # where it was raised): not per outage, as a bug that strikes after a connection went
    # up (its second line) would be told again at each reconnect; and a different bug is
    # told even in the same outage (`warned` holds one memory per class).
    bugs_told: set[tuple[str, str]] = set()
    attempts: dict[LinkError, int] = {}  # failures per class since the link was last up
    failure = LinkError.IO  # the class of the last failure (set by went_down)
    up = False
    reported_down: LinkError | None = None  # the class of the down last told
    where = f"{ctx.chair}/{ctx.device} ({url})"

    def went_up() -> None:
        nonlocal up, reported_down
        up, reported_down = True, None
        warned.clear()
        log.info("%s: link up", where)
        ctx.link(True)

    def went_down(
        error: LinkError, reason: str, advice: str | None = None, bug: Exception | None = None
    ) -> None:
        nonlocal up, reported_down, failure
        failure = error
        # A down is told again when its class changed (the port gone, then permission
        # denied): the status kept the first reason for the whole outage.
        if up or reported_down is not error:
            ctx.link(False, reason)
            reported_down = error
        up = False
        if tap is not None:  # (a capture stopped by cancelling records no disconnect)
            tap.disconnected(reason)
        told = _bug_key(bug) if bug is not None else None
        if told is not None and told not in bugs_told:
            bugs_told.add(told)
            warned.add(error)
            log.error(
                "%s: %s: %s; retrying with backoff (%s)",
                where,
                error.value,
                reason,
                advice or error.advice,
                exc_info=bug,
            )
        elif error not in warned:
            warned.add(error)
            log.warning(
                "%s: %s: %s; retrying with backoff (%s)%s",
                where,
                error.value,
                reason,
                advice or error.advice,
                " (its traceback was logged before)" if told is not None else "",
            )
        else:
            log.debug("%s: %s again: %s", where, error.value, reason)

    me = asyncio.current_task()
    while True:
        # A cancellation swallowed by a racing asyncio.wait_for (Python 3.11) is still
        # recorded on the task: honour it, so a stop never waits on a reconnect loop.
        if me is not None and me.cancelling():
            raise asyncio.CancelledError
        link: _StreamLink | None = None
        try:
            reader, writer = await open_port(url, settings)
        # termios.error: the tty refused the line settings (pyserial lets it through)
        except (OSError, serial.SerialException, ValueError, termios.error) as e:
            went_down(classify(e), f"cannot open: {e}")
        else:
            up_after = 2 if failure is LinkError.DRIVER_BUG else 1
            link = _StreamLink(reader, writer, silence_s, went_up, tap, up_after)
            if tap is not None:
                tap.connected(None, url)
            try:
                await protocol.run(link, ctx)
                went_down(LinkError.IO, "protocol ended")  # protocols normally never return
            except LinkLost as e:
                # A silent line has a likelier cause per device than "it stopped answering"
                advice = desc.silence_advice if link.silent else None
                error = LinkError.GARBLED if link.garbled else LinkError.IO
                if link.hung_up:
                    # An unplug was told as IO, "the device stopped answering: check the
                    # monitor is on", then as the missing port it is at the reopen: two
                    # lines for one unplug, the first sending the nurse to a monitor that
                    # was on. As the port's class, the reopen's failure repeats it.
                    error = LinkError.PORT_MISSING
                if link.garbled:
                    # What to compare with the monitor's menu: the advice alone sent the
                    # engineer to the config and the driver's defaults to learn it.
                    advice = f"this port is read at {line_text(settings)}; {error.advice}"
                    if swapped := renumbered_advice(named):
                        advice += swapped
                went_down(error, str(e) or "link lost", advice)
            except (OSError, serial.SerialException) as e:
                went_down(classify(e), f"I/O error: {e}")
            except asyncio.CancelledError:
                link.close()
                raise
            except Exception as e:  # a protocol bug must not kill the device loop
                # Said once a run (with its traceback) per bug, not at every line: the
                # bug recurs on each reconnect (`bugs_told`). Its link is down until a
                # connection outlives the first unit it decoded (`up_after`): a protocol
                # that crashed on each line flapped up and down once a line, so
                # `tech.device_lost` never came while no reading arrived, and reconnected
                # at once for ever.
                went_down(LinkError.DRIVER_BUG, f"protocol {desc.name} failed: {e!r}", bug=e)
            finally:
                link.close()
        if link is not None and link.talking:
            # A session that was up resets every class. Not one that merely got bytes:
            # garbage (a wrong baud rate) is a failure like silence and backs off too.
            attempts.clear()
        n = attempts.get(failure, 0)
        attempts[failure] = n + 1
        # A port that opened and ended at once, nothing decoded (a socket:// server that
        # closes each connection, an adapter failing while plugged in), is there: told as
        # the port's class, paced as any failure. At a missing path's steady cap it was
        # reopened about once a second for ever. An unplug's reopen finds the path
        # missing, and that is looked for at the short cap.
        pace = LinkError.IO if link is not None and link.hung_up and not link.talking else failure
        await asyncio.sleep(backoff.delay(n, error=pace))
