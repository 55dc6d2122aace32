"""The station's answers and the request bodies it reads: the headers sent with every
answer, a refusal's JSON, and a POST's JSON object read so that no body, however made,
is a 500 (split from server.py by responsibility)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from monitord.aio import within
from monitord.sinks.commands import load_bounded

log = logging.getLogger("monitord.station")
MAX_BODY = 4096
MAX_BODY_DEPTH = 4  # the pages' requests are flat objects


# Sent with every answer (docs/station.md "Security"). Set as each answer's headers go out,
# not on what a handler returns: the guard's refusals (401, 403), the router's 404 and
# 405 and the event stream (headers sent before its handler returns) had none of them.
# Referrer `same-origin`: the page's own requests keep theirs, none goes to another site.
PROTECT = {
    "Cache-Control": "no-store",  # a shared tablet's cache keeps no alarms or nurse names
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # no other page frames the ACK buttons (clickjacking)
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    ),
}


async def protect(request: web.Request, resp: web.StreamResponse) -> None:
    for k, v in PROTECT.items():
        resp.headers.setdefault(k, v)


def error(status: int, why: str) -> web.Response:
    return web.json_response({"error": why}, status=status)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, else {} (each handler then says what it lacks). Read as
    UTF-8 with its nesting bounded (sinks/commands.py `load_bounded`): `request.json()`
    decoded by the request's own charset (`charset=nonesuch`: LookupError) and let
    json.loads recurse (`[` x 3,000 in the 4 KiB body: RecursionError), each a 500 and an
    ERROR traceback, from anyone who can reach the port: the login needs no login.
    A client gone mid-body (ConnectionError) is {} too.
    The body must come within the keep-alive time (server.py KEEPALIVE_S), as the headers
    must: waited for without end, a body that never came (a tablet off the Wi-Fi mid-POST,
    half-open; a client sending headers only) held its connection and a slot of the caps
    (admit.py) for hours, or for ever (test_station_body_stall.py). A page's body is a
    few hundred bytes, sent at once with its headers."""
    try:
        data = await within(request.read(), request.protocol.keepalive_timeout)
        body = load_bounded(data, MAX_BODY_DEPTH)
    except TimeoutError:
        log.debug("station: %s sent no whole body within the keep-alive time", request.remote)
        raise web.HTTPRequestTimeout(
            text="the request's body did not come in time\n", headers={"Connection": "close"}
        ) from None
    except (ValueError, web.HTTPRequestEntityTooLarge):
        return {}
    except ConnectionError:
        # Gone before its whole body came (a tablet off the Wi-Fi mid-request): nobody
        # to answer, and no bug. Raised out of the handler it was an ERROR traceback.
        log.debug("station: %s went away before its request's body came", request.remote)
        return {}
    return body if isinstance(body, dict) else {}


def text_field(body: dict[str, Any], key: str) -> str | None:
    """A string field of a request, else None: a list or an object where a chair id goes
    is a bad request (400), not an unhashable key (a 500)."""
    v = body.get(key)
    return v if isinstance(v, str) else None
