"""A BLE decoder that raised (a bug), said at ERROR with its traceback once per run and
at DEBUG after (drivers/ble_link.py's module docstring, "A decoder that raises"). Apart
from ble_link.py only to keep that module under the size limit."""

from __future__ import annotations

import logging

log = logging.getLogger("monitord.drivers.ble_link")  # the link's own lines


def told_once(
    told: set[tuple[str, str, str]],
    owner: str,
    key: tuple[str, str, str],
    what: str,
    e: Exception,
    then: str,
) -> None:
    """`owner`'s decoder bug `key` at ERROR with its traceback the first time (`told`
    remembers it), at DEBUG after."""
    level = logging.DEBUG if key in told else logging.ERROR
    told.add(key)
    log.log(
        level,
        "%s: %s decoder raised %s: %s (a bug: please report this line and its traceback); %s",
        owner,
        what,
        type(e).__name__,
        e,
        then,
        exc_info=e if level == logging.ERROR else None,
    )
