"""aiohttp's own log of a request it could not parse, as one line of the station's.

aiohttp answers a malformed request (a broken client, a port scanner, a header without
its colon) with 400 and logs "Error handling request from ADDR" at ERROR with the
parser's traceback, whose text quotes the request's bad bytes (a header line, which may
be a cookie). That is a fault of the network, not a bug of the station, and anyone who
reaches the port can repeat it: the house rule is one WARNING line naming what was wrong,
its repeats at DEBUG. Everything else aiohttp logs passes as it is (a handler's real bug
keeps its traceback).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from aiohttp.http_exceptions import HttpProcessingError, InvalidURLError

from monitord.log import one_line

SERVER_LOGGER = "aiohttp.server"
KEEP_SAID = 256  # kinds of fault remembered as said (bounded: a scanner tries many)
# A kind not seen for this long is said at WARNING again: remembered for the process's
# life, a client broken a month after a scanner's visit was a DEBUG line only.
QUIET_S = 3600.0
# A quoted repr of the request's bytes in a parser's message, to the last quote of its kind
# (or the end, if cut): "Invalid HTTP header: b'Cookie sid=...'", "Got more than 8190
# bytes when reading: b'Cookie: ...'", "Bad status line '...'".
_QUOTED = re.compile(r"""b?(['"]).*\1|b?['"].*""")


def fault_words(exc: HttpProcessingError) -> str:
    """What was wrong with a request, in the parser's words without the request's bytes:
    aiohttp's pure-Python parser (used where its compiled one is not installed) quotes the
    bad header line itself, both parsers quote an over-long line's first 100 bytes (a big
    Cookie header), and an invalid URL's text is the URL. Without the bytes, the kinds of
    fault are few, so its repeats are DEBUG as said, not a new WARNING per request."""
    if isinstance(exc, InvalidURLError):
        return "Invalid character in the URL"
    first = str(exc.message).strip().split("\n")[0]
    return one_line(_QUOTED.sub("(bytes withheld)", first).rstrip(": ."))[:120]


class BadRequests(logging.Filter):
    """On aiohttp's server logger: its "Error handling request" for a request it could
    not parse becomes one line; the first of each kind at WARNING, repeats at DEBUG, and
    at WARNING again after `QUIET_S` without it. `clock`: monotonic seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self.said: dict[str, float] = {}  # kind -> when it was last seen

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        # Its first line only ("Invalid header token"): the lines after quote the bytes.
        what = fault_words(exc)
        peer = str(record.args[0]) if isinstance(record.args, tuple) and record.args else "?"
        kind = f"{type(exc).__name__}: {what}"
        now = self.clock()
        seen = self.said.get(kind)
        again = seen is not None and now - seen < QUIET_S
        if seen is None and len(self.said) >= KEEP_SAID:  # forget the kinds gone quiet
            self.said = {k: t for k, t in self.said.items() if now - t < QUIET_S}
        if seen is not None or len(self.said) < KEEP_SAID:
            self.said[kind] = now
        level = logging.DEBUG if again else logging.WARNING
        if not logging.getLogger(record.name).isEnabledFor(level):
            return False
        record.levelno, record.levelname = level, logging.getLevelName(level)
        record.msg = (
            "station: a request from %s the station cannot read, answered 400 (%s, %s): a "
            "client or a scanner on the network sends malformed HTTP; the station is fine%s"
        )
        record.args = (peer, type(exc).__name__, what, "" if again else "; repeats at DEBUG")
        record.exc_info, record.exc_text = None, None
        return True


def quiet_bad_requests() -> None:
    """Put the filter on aiohttp's server logger, once per process."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, BadRequests) for f in logger.filters):
        logger.addFilter(BadRequests())
