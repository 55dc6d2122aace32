"""A bare nurses' station for the fleet bench (stands in for `monitord station`).

Speaks the station side of the MQTT contract this round: MQTT v5; its retained status on
`{prefix}/{site}/stations/{id}` (`online`, Last Will `offline`); it reads the whole site
(`{prefix}/{site}/#`, as a station showing vitals does) and answers every alert event it
receives from `{chair}/alerts/events` with a receipt on `{chair}/alerts/receipts` (QoS 1,
not retained): `{"alert_id", "event", "level", "station", "shown_at", "sounded"}`;
`sounded` is true for a high or medium `raised`/`escalated` (a real station starts its
sound there). Messages with `"doctor": true` are ignored. It shows nothing: "shown" is
the moment the event is parsed, so the figure is the transport, not a UI.

Run as a child process: `python -m bench.station HOST PORT SITE ID OUT.json [PREFIX]`. On
SIGTERM it writes its counts to OUT.json (events per chair and rule:event, receipts sent,
other messages) and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

SOUNDED_EVENTS = {"raised", "escalated"}
SOUNDED_PRIORITIES = {"high", "medium"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def status(state: str) -> bytes:
    return json.dumps({"state": state, "time": now_iso(), "version": "bench"}).encode()


def receipt(ev: dict[str, Any], station: str) -> bytes:
    sounded = ev.get("event") in SOUNDED_EVENTS and ev.get("priority") in SOUNDED_PRIORITIES
    body = {
        "alert_id": ev.get("alert_id"),
        "event": ev.get("event"),
        "level": ev.get("level"),
        "station": station,
        "shown_at": now_iso(),
        "sounded": sounded,
    }
    return json.dumps(body).encode()


def _nodelay(client: aiomqtt.Client) -> None:
    """Nagle off, as the daemon does (monitord/sinks/mqtt.py `_nodelay`): a receipt
    published while a PUBACK is still in flight would otherwise wait ~40 ms."""
    sock = client._client.socket()
    setsockopt = getattr(sock, "setsockopt", None)  # no socket yet, or a wrapper without it
    if setsockopt is not None:
        with contextlib.suppress(OSError):
            setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def main(host: str, port: int, site: str, ident: str, out: Path, prefix: str) -> None:
    base = f"{prefix}/{site}"
    counts: Counter[str] = Counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    my_status = f"{base}/stations/{ident}"
    async with aiomqtt.Client(
        host,
        port,
        identifier=ident,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=aiomqtt.Will(my_status, status("offline"), 1, True),
    ) as client:
        _nodelay(client)
        await client.subscribe(f"{base}/#", qos=1)
        await client.publish(my_status, status("online"), qos=1, retain=True)

        async def consume() -> None:
            async for msg in client.messages:
                topic = str(msg.topic)
                parts = topic.split("/")
                payload = msg.payload if isinstance(msg.payload, bytes) else b""
                if len(parts) == 5 and parts[3:] == ["alerts", "events"]:
                    try:
                        ev = json.loads(payload)
                    except ValueError:
                        counts["bad_json"] += 1
                        continue
                    if not isinstance(ev, dict) or ev.get("doctor") is True:
                        counts["doctor_or_other"] += 1
                        continue
                    # Counted as handed to the client, before its PUBACK: a stop that comes
                    # while that is awaited (the subscriber has the receipt already) must
                    # not lose it from the counts.
                    counts[f"event|{parts[2]}|{ev.get('rule')}:{ev.get('event')}"] += 1
                    counts["receipts_sent"] += 1
                    await client.publish(
                        f"{base}/{parts[2]}/alerts/receipts", receipt(ev, ident), qos=1
                    )
                elif "/vitals/" in topic:
                    counts["vitals"] += 1
                else:
                    counts["other"] += 1

        task = asyncio.create_task(consume())
        await stop.wait()
        task.cancel()
        await client.publish(my_status, status("offline"), qos=1, retain=True)
    out.write_text(json.dumps(dict(counts)))  # noqa: ASYNC240 - once, at exit


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(a[0], int(a[1]), a[2], a[3], Path(a[4]), a[5] if len(a) > 5 else "monitord"))
