"""A listener on a transport's raw traffic, for `monitord capture` (monitord/capturefile.py).

Transports call the tap with the bytes exactly as they moved, before anything parses them,
so a recording is what the device sent, not what our decoders made of it. A tap must not
raise and must not block: it is called on the transport's hot path.
"""

from __future__ import annotations

from typing import Literal, Protocol

Direction = Literal["rx", "tx"]


class LinkTap(Protocol):
    def connected(self, name: str | None, address: str) -> None:
        """A link came up: the serial port was opened (`name` None, `address` the port),
        or a BLE device was connected (`name` as advertised, `address` its address)."""
        ...

    def chunk(self, direction: Direction, data: bytes, char: str | None = None) -> None:
        """Bytes received from (`rx`) or written to (`tx`) the device; `char` is the BLE
        characteristic UUID of a notification or indication (None on serial)."""
        ...

    def disconnected(self, reason: str) -> None:
        """The link that `connected` reported is gone."""
        ...
