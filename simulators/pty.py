"""The device end of a serial line for simulators: a pseudo-terminal or a TCP socket.

`PtyPort` creates a pty pair; the daemon opens the slave path (`.port`, or the stable
`symlink` it keeps pointed at the current slave, like udev's /dev/serial/by-id links).
`close()` is an unplug: the master is closed, so the daemon's reads fail with EIO, the
slave node vanishes and so does the symlink. `open()` again is a replug under a *new*
/dev/pts path with the symlink re-pointed.

`SocketPort` serves `socket://127.0.0.1:PORT` (a serial-over-LAN server) to one client at
a time; `close()` drops the client and stops listening.

Writes never block the simulator: output the daemon is not reading is dropped, as bytes on
a real serial line are lost when nobody listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import struct
import termios
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

OnData = Callable[[bytes], None]


class SimPort(Protocol):
    @property
    def port(self) -> str: ...

    @property
    def is_open(self) -> bool: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def write(self, data: bytes) -> None: ...


class PtyPort:
    def __init__(self, symlink: Path | None = None, on_data: OnData | None = None) -> None:
        self.symlink = symlink
        self.on_data = on_data
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_path = ""

    @property
    def port(self) -> str:
        """The path the daemon should open (the symlink when one was asked for)."""
        return str(self.symlink) if self.symlink else self._slave_path

    @property
    def slave_path(self) -> str:
        return self._slave_path

    @property
    def is_open(self) -> bool:
        return self._master is not None

    async def open(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        # Raw mode at once: no echo, no CR/LF mapping, 8-bit clean, before any byte flows.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._slave_path = os.ttyname(slave)
        if self.symlink is not None:
            tmp = self.symlink.with_name(f".{self.symlink.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._slave_path)
            os.replace(tmp, self.symlink)  # atomic re-point
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data and self.on_data is not None:
            self.on_data(data)

    def unread(self) -> int:
        """Bytes written that the reader has not read yet (the slave's input queue): a
        test writing faster than a real device paces itself on it, since a full queue
        drops what is written (`write`)."""
        if self._slave is None:
            return 0
        raw = fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])

    def write(self, data: bytes) -> None:
        if self._master is None:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                return  # nobody reads the line: drop, as a real UART would
            except OSError as e:
                if e.errno in (errno.EIO, errno.EAGAIN):
                    return
                raise
            view = view[n:]

    async def close(self) -> None:
        if self._master is None:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        if self.symlink is not None:
            with contextlib.suppress(FileNotFoundError):
                if os.readlink(self.symlink) == self._slave_path:
                    self.symlink.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None


class SocketPort:
    def __init__(self, tcp_port: int = 0, on_data: OnData | None = None) -> None:
        self.tcp_port = tcp_port
        self.on_data = on_data
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> str:
        return f"socket://127.0.0.1:{self.tcp_port}"

    @property
    def is_open(self) -> bool:
        return self._server is not None

    async def open(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.tcp_port)
        self.tcp_port = self._server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for old in list(self._clients):  # one client at a time, the newest wins
            old.close()
        self._clients = {writer}
        try:
            while data := await reader.read(4096):
                if self.on_data is not None:
                    self.on_data(data)
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    def write(self, data: bytes) -> None:
        for w in list(self._clients):
            if w.transport.get_write_buffer_size() < 65536:
                w.write(data)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._clients):
            w.close()
        self._clients.clear()
        await self._server.wait_closed()
        self._server = None
