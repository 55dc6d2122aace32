"""The numbers docs/mqtt.md and docs/delivery.md state are the code's.

An integrator builds a station, a dashboard or a phone forwarder on docs/mqtt.md, and the
clinic's engineer reads how soon a broken link is an alarm in docs/delivery.md; neither
reads the code. Most of these numbers were held by no test (the tests compare with the
module's own constant, or run with shorter settings): halving the takeover hold, tripling
the annunciator's SIGKILL grace or changing how many cleared alerts an ACK is answered
for passed with the old sentence. Each row is a sentence of the docs (whitespace folded)
and the constant or default it states; a change to either fails here. (The behaviour
behind them: tests/delivery/test_refused_retry_backoff.py, test_vitals_after_outage.py,
test_status_clean_stop.py, test_active_republished_new_broker.py, tests/faults/
test_cmd_errors_payload.py, tests/test_session_command_fields.py.)
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from monitord import annunciator, delivery, receipts
from monitord.backoff import Backoff
from monitord.commands.doctor_live import STALE_AFTER_S
from monitord.config import MqttConfig
from monitord.engine.book import CLEARED_KEPT, MAX_BY
from monitord.models import MAX_DEVICE_SKEW_S
from monitord.mqttv5 import session_properties
from monitord.sinks.commands import MAX_COMMAND_BYTES, MAX_COMMAND_DEPTH
from monitord.sinks.influx_http import MAX_RETRY_AFTER_S
from monitord.sinks.mqtt import MqttSink
from monitord.sinks.mqtt_incoming import ECHO_CHARS
from monitord.sinks.mqtt_link import STALL_S, ChairLink
from monitord.tlsclock import BOOT_WINDOW_S, CLOCK_RETRY_S

DOCS = Path(__file__).parents[1] / "docs"


def _text(name: str) -> str:
    return re.sub(r"\s+", " ", (DOCS / name).read_text(encoding="utf-8"))


def _g(x: float) -> str:
    return f"{x:g}"


_M = MqttConfig()
# A chair's link as the daemon makes it (monitord/daemon.py: MqttSink's default backoff).
_SINK = inspect.signature(MqttSink.__init__).parameters
_LINK = ChairLink(
    "chair-1", Backoff(_SINK["backoff_base_s"].default, _SINK["backoff_cap_s"].default)
)
_SESSION: Any = session_properties()  # paho's Properties sets its fields dynamically
_RETRY = _LINK.retry

ROWS: list[tuple[str, str]] = [
    # docs/mqtt.md
    ("mqtt.md", f"`prefix` is `[mqtt] prefix` (default `{_M.prefix}`)"),
    (
        "mqtt.md",
        f"held for twice the reconnect backoff's cap ({_g(_LINK.takeover.hold_s)} s)",
    ),
    (
        "mqtt.md",
        f"`measured_at` is the device's time when its clock is within "
        f"{_g(MAX_DEVICE_SKEW_S / 60)} min of the Pi's",
    ),
    ("mqtt.md", f"the ACK's `by`, at most {MAX_BY} characters"),
    ("mqtt.md", f"one of the chair's last {CLEARED_KEPT} alerts to clear"),
    (
        "mqtt.md",
        f"larger than {MAX_COMMAND_BYTES // 1024} KiB, nested deeper than "
        f"{MAX_COMMAND_DEPTH} levels",
    ),
    ("mqtt.md", f"`cmd/errors` carries the refused payload (its first {ECHO_CHARS} characters)"),
    (
        "mqtt.md",
        "keeps a chair's session, subscriptions included, for a "
        + {86_400: "day"}.get(_SESSION.SessionExpiryInterval, "?"),
    ),
    # docs/operations.md, docs/install.md, docs/station.md: a boot's short retry, bounded
    (
        "operations.md",
        f"The clock and the name are retried every {_g(CLOCK_RETRY_S)} s for the first "
        f"{_g(BOOT_WINDOW_S / 60)} minutes",
    ),
    (
        "install.md",
        f"The {_g(CLOCK_RETRY_S)} s retry lasts the first {_g(BOOT_WINDOW_S / 60)} minutes",
    ),
    ("station.md", f"That lasts the first {_g(BOOT_WINDOW_S / 60)} minutes of the failure"),
    # docs/delivery.md
    ("delivery.md", f"after `mqtt.delivery_alarm_after_s` ({_g(_M.delivery_alarm_after_s)} s)"),
    ("delivery.md", f"after `mqtt.receipt_timeout_s` ({_g(_M.receipt_timeout_s)} s)"),
    ("delivery.md", f"within `[mqtt] receipt_timeout_s` ({_g(_M.receipt_timeout_s)} s)"),
    ("delivery.md", f"ends after `mqtt.timeout_s` ({_g(_M.timeout_s)} s)"),
    ("delivery.md", f"`mqtt.keepalive_s` ({_g(_M.keepalive_s)} s)"),
    ("delivery.md", f"left unanswered for {_g(STALL_S)} s marks the chair's link down"),
    (
        "delivery.md",
        f"{_g(_M.keepalive_s + max(_M.delivery_alarm_after_s, _M.keepalive_s))} s with "
        f"the defaults, {_g(10 + max(_M.delivery_alarm_after_s, 10))} s with `keepalive_s = 10`",
    ),
    ("delivery.md", f"unasked it looks every {_g(delivery.LOOK_S)} s as a backstop. The MQTT"),
    (
        "delivery.md",
        f"the {_g(receipts.SETTLE_S)} s the stations' retained statuses have to arrive",
    ),
    ("delivery.md", f"unasked it looks every {_g(annunciator.LOOK_S)} s as a backstop. While"),
    (
        "delivery.md",
        f"retried on the same connection with backoff ({_g(_RETRY.initial_s)} s doubling, "
        f"at most {_g(_RETRY.cap_s)} s)",
    ),
    (
        "delivery.md",
        "(clean start off, session expiry 1 "
        + {86_400: "day"}.get(_SESSION.SessionExpiryInterval, "?"),
    ),
    (
        "delivery.md",
        f"has until {_g(annunciator.SETTLE_S)} s after its start to end by itself",
    ),
    ("delivery.md", f"and, {_g(annunciator.GRACE_S)} s later, SIGKILL"),
    (
        "delivery.md",
        f"reaches the command at most {_g(annunciator.SETTLE_S + annunciator.GRACE_S)} s "
        f"late ({_g(annunciator.SETTLE_S)} s for a loop that ends on SIGTERM)",
    ),
    ("delivery.md", f"older than three heartbeats ({_g(STALE_AFTER_S / 60)} min"),
    (
        "delivery.md",
        f"waits at least what it asks (seconds, or an HTTP date read against "
        f"the Pi's clock, as a proxy in front of the database may send), at most "
        f"{_g(MAX_RETRY_AFTER_S)} s",
    ),
]


@pytest.mark.parametrize(("doc", "sentence"), ROWS, ids=[s for _, s in ROWS])
def test_the_docs_state_the_codes_number(doc: str, sentence: str) -> None:
    assert sentence in _text(doc), f"docs/{doc} does not say: {sentence}"
