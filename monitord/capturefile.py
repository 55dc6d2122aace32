"""Capture files: what a device sent, with receive times (`monitord capture`, docs/devices.md
"Field captures"). Read back by `monitord decode --file` and the capture players in
simulators/capture_play.py.

Format (JSON Lines, UTF-8, version 1): a header line, then one record per line, in order.

    {"format": "monitord-capture", "version": 1, "transport": "serial", "driver": "intellivue",
     "chair": "chair-1", "device": "mon", "config": {"port": "/dev/ttyUSB0", ...},
     "advertised_name": null, "address": "/dev/ttyUSB0", "started_at": "2026-...Z",
     "monitord": "0.1.0"}
    {"t": 0.0021, "event": "connected", "name": null, "address": "/dev/ttyUSB0"}
    {"t": 0.0023, "dir": "tx", "hex": "c01101..."}          serial: bytes we wrote (polls)
    {"t": 0.0410, "dir": "rx", "hex": "c01101..."}          serial: bytes as read
    {"t": 5.1200, "dir": "rx", "char": "00002a35-0000-1000-8000-00805f9b34fb", "hex": "16..."}
    {"t": 9.0000, "event": "disconnected", "reason": "end of file (device closed ...)"}
    {"t": 60.000, "event": "end"}

- `t`: seconds since `started_at` on the monotonic clock (never steps back).
- `config`: the device's configuration (without `id`, `driver`, `simulate`), so that the
  decode runs with the same options (poll interval, quirks ...).
- `advertised_name`/`address`: what the first connection saw (a BLE device's advertised
  name selects its model quirks); every `connected` record repeats them for its link.
- Serial chunks are split as the port delivered them, and BLE values are one notification
  or indication each: the decoders see exactly the same pieces again.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

from monitord.drivers.tap import Direction
from monitord.models import Reading

FORMAT = "monitord-capture"
VERSION = 1

RecordKind = Literal["connected", "disconnected", "end", "rx", "tx"]


class CaptureError(Exception):
    """A capture file that cannot be read; the message names the line and the problem."""


def iso_z(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Record:
    t: float
    kind: RecordKind
    data: bytes = b""
    char: str | None = None  # BLE characteristic UUID of an rx value
    name: str | None = None  # connected: advertised name (BLE)
    address: str = ""  # connected: port or BLE address
    reason: str = ""  # disconnected


@dataclass(frozen=True, slots=True)
class Segment:
    """One connection: its `connected` record, the data while it was up, and how it ended
    (`disconnected` or `end`; the time of the last record if the file stops short)."""

    connected: Record
    data: tuple[Record, ...]
    end_t: float
    end_reason: str
    dropped: bool  # True when the link was lost (a `disconnected` record)


@dataclass(frozen=True, slots=True)
class Capture:
    header: dict[str, Any]
    records: tuple[Record, ...]
    # the file ended inside a line (power cut while recording): that line was left out
    cut_short: bool = False

    @property
    def transport(self) -> str:
        return str(self.header["transport"])

    @property
    def driver(self) -> str:
        return str(self.header["driver"])

    @property
    def started_at(self) -> datetime:
        return datetime.fromisoformat(str(self.header["started_at"]).replace("Z", "+00:00"))

    def segments(self) -> list[Segment]:
        out: list[Segment] = []
        current: Record | None = None
        data: list[Record] = []
        for rec in self.records:
            if rec.kind == "connected":
                if current is not None:  # a new link without a recorded end of the old one
                    out.append(Segment(current, tuple(data), rec.t, "reconnected", True))
                current, data = rec, []
            elif rec.kind in ("rx", "tx"):
                if current is not None:
                    data.append(rec)
            elif current is not None:
                dropped = rec.kind == "disconnected"
                out.append(Segment(current, tuple(data), rec.t, rec.reason or rec.kind, dropped))
                current, data = None, []
        if current is not None:
            last = data[-1].t if data else current.t
            out.append(Segment(current, tuple(data), last, "end of capture", False))
        return out


# -- reading -----------------------------------------------------------------------------
def _num(obj: dict[str, Any], key: str, n: int) -> float:
    v = obj.get(key)
    # A whole number past a float's range (1 and 400 zeros) raised OverflowError, a
    # traceback; 1e400 read as inf, a record at no time (a replay waited for ever).
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < _T_MAX:
        shown = "a number too large" if isinstance(v, int | float) and v >= _T_MAX else repr(v)
        raise CaptureError(f"line {n}: {key!r} must be a number >= 0, got {shown}")
    return float(v)


# Seconds since the capture's start: a year of capture is 3.2e7; a time beyond this is no
# time a replay can wait for.
_T_MAX = 1e12


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (RFC 8259) has neither, and `"t": NaN`
    # passed `t >= 0` and every order check after it.
    raise ValueError(f"{name} is not a JSON number")


def _str(obj: dict[str, Any], key: str, n: int, *, optional: bool = False) -> str | None:
    v = obj.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise CaptureError(f"line {n}: {key!r} must be a string, got {v!r}")
    return v


def _header(obj: dict[str, Any], n: int) -> dict[str, Any]:
    if obj.get("format") != FORMAT:
        raise CaptureError(f'line {n}: not a monitord capture (no "format": {FORMAT!r})')
    if obj.get("version") != VERSION:
        raise CaptureError(
            f"line {n}: capture format version {obj.get('version')!r}; "
            f"this monitord reads version {VERSION}"
        )
    if obj.get("transport") not in ("serial", "ble"):
        raise CaptureError(f'line {n}: \'transport\' must be "serial" or "ble"')
    for key in ("driver", "chair", "device", "started_at"):
        _str(obj, key, n)
    try:
        datetime.fromisoformat(str(obj["started_at"]).replace("Z", "+00:00"))
    except ValueError:
        raise CaptureError(f"line {n}: 'started_at' is not an ISO 8601 time") from None
    if not isinstance(obj.get("config", {}), dict):
        raise CaptureError(f"line {n}: 'config' must be an object")
    return obj


def _record(obj: dict[str, Any], n: int, transport: str) -> Record:
    t = _num(obj, "t", n)
    event, direction = obj.get("event"), obj.get("dir")
    if event is not None and direction is not None:
        raise CaptureError(f"line {n}: a record has either 'event' or 'dir', not both")
    if event == "connected":
        return Record(
            t,
            "connected",
            name=_str(obj, "name", n, optional=True),
            address=_str(obj, "address", n, optional=True) or "",
        )
    if event == "disconnected":
        return Record(t, "disconnected", reason=_str(obj, "reason", n, optional=True) or "")
    if event == "end":
        return Record(t, "end")
    if event is not None:
        raise CaptureError(f"line {n}: unknown event {event!r}")
    if direction not in ("rx", "tx"):
        raise CaptureError(f"line {n}: needs 'event' or 'dir' (\"rx\" or \"tx\")")
    text = _str(obj, "hex", n) or ""
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise CaptureError(f"line {n}: 'hex' is not hex: {text[:40]!r}") from None
    char = _str(obj, "char", n, optional=True)
    if transport == "ble" and (direction != "rx" or not char):
        raise CaptureError(f"line {n}: a BLE record is an rx value with its 'char' UUID")
    if transport == "serial" and char is not None:
        raise CaptureError(f"line {n}: a serial record has no 'char'")
    return Record(t, "rx" if direction == "rx" else "tx", data, char.lower() if char else None)


def parse_capture(lines: Iterator[str]) -> Capture:
    header: dict[str, Any] | None = None
    records: list[Record] = []
    last_t = 0.0
    cut_short = False
    for n, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            obj = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as e:
            if not raw.endswith("\n") and header is not None:
                cut_short = True  # the last line, unfinished: what came before is whole
                break
            raise CaptureError(f"line {n}: not JSON: {e.msg}") from None
        except ValueError as e:  # NaN, Infinity; a whole number of over 4,300 digits
            why = "a number of more than 4300 digits" if "int_max_str" in str(e) else str(e)
            raise CaptureError(f"line {n}: not JSON: {why}") from None
        except RecursionError:  # json.loads recurses per level: a traceback before
            raise CaptureError(f"line {n}: not JSON: nested too deeply") from None
        if not isinstance(obj, dict):
            raise CaptureError(f"line {n}: must be a JSON object")
        if header is None:
            header = _header(obj, n)
            continue
        rec = _record(obj, n, str(header["transport"]))
        if rec.t < last_t:
            raise CaptureError(f"line {n}: t={rec.t:g} goes back in time (previous {last_t:g})")
        last_t = rec.t
        records.append(rec)
    if header is None:
        raise CaptureError("line 1: empty file, no capture header")
    return Capture(header, tuple(records), cut_short)


def read_capture(path: Path) -> Capture:
    """Parse a capture file; raises CaptureError (line and reason) or OSError."""
    with open(path, encoding="utf-8") as f:
        try:
            return parse_capture(iter(f))
        except UnicodeDecodeError:
            raise CaptureError("not UTF-8 text") from None


# -- writing -----------------------------------------------------------------------------
@dataclass
class CaptureWriter:
    """A `monitord.drivers.tap.LinkTap` that appends records to a file opened unbuffered in binary
    mode, one write per line (a capture cut short keeps what it had; a line the disk
    could not take whole is cut off again, so the file stays readable).

    `clock` is the event loop's monotonic time. The header goes out with the first
    connection, so that it carries the advertised name of the device actually found."""

    out: IO[bytes]
    header: dict[str, Any]
    clock: Callable[[], float]  # monotonic seconds
    start: float = 0.0
    last_t: float = 0.0
    chunks: int = 0
    _size: int = 0  # bytes of whole lines written
    _header_written: bool = False
    _connected: bool = False
    _closed: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # A write that failed (disk full ...): recording stops, the transport goes on (a tap
    # never raises into it); `on_error` lets the command end the capture and say so.
    error: OSError | None = None
    on_error: Callable[[OSError], None] | None = None

    def __post_init__(self) -> None:
        self.start = self.clock()
        self.header = {
            "format": FORMAT,
            "version": VERSION,
            **self.header,
            "advertised_name": None,
            "address": None,
            "started_at": iso_z(self.started_at),
        }

    def _t(self) -> float:
        return round(max(0.0, self.clock() - self.start), 6)

    def _write(self, obj: dict[str, Any]) -> None:
        if self._closed or self.error is not None:
            return
        data = (json.dumps(obj) + "\n").encode("utf-8")
        line = memoryview(data)
        try:
            while line:
                n = self.out.write(line) or 0
                line = line[n:]
        except OSError as e:
            self.error = e
            with contextlib.suppress(OSError):
                os.ftruncate(self.out.fileno(), self._size)  # no torn last line
            if self.on_error is not None:
                self.on_error(e)
            return
        self._size += len(data)

    def _ensure_header(self) -> None:
        if not self._header_written:
            self._header_written = True
            self._write(self.header)

    def now(self) -> datetime:
        """Receive time of the latest bytes: what a reading decoded from them gets."""
        return self.started_at + timedelta(seconds=self.last_t)

    # LinkTap
    def connected(self, name: str | None, address: str) -> None:
        if not self._header_written:
            self.header["advertised_name"] = name
            self.header["address"] = address
        self._ensure_header()
        self._connected = True
        self._write({"t": self._t(), "event": "connected", "name": name, "address": address})

    def chunk(self, direction: Direction, data: bytes, char: str | None = None) -> None:
        self._ensure_header()
        t = self._t()
        if direction == "rx":
            self.last_t = t
        self.chunks += 1
        rec: dict[str, Any] = {"t": t, "dir": direction}
        if char is not None:
            rec["char"] = char
        rec["hex"] = data.hex()
        self._write(rec)

    def disconnected(self, reason: str) -> None:
        if self._connected:
            self._connected = False
            self._write({"t": self._t(), "event": "disconnected", "reason": reason})

    def close(self) -> None:
        self._ensure_header()
        self._write({"t": self._t(), "event": "end"})
        self._closed = True
        try:
            self.out.close()
        except OSError as e:  # the last flush failed
            self.error = self.error or e


# -- output shared by `capture` and `decode --file` --------------------------------------
def reading_record(r: Reading, t: float) -> dict[str, Any]:
    """One reading as a JSON object with design.md section 4 field names, `t` being its
    receive time in seconds from the capture's start."""
    return {
        "t": t,
        "device": r.device,
        "kind": str(r.kind),
        **dict(r.values),
        "measured_at": iso_z(r.measured_at),
        "device_time": iso_z(r.device_time) if r.device_time is not None else None,
        "valid": r.valid,
        "status": list(r.flags),
        "contact": r.contact,
    }
