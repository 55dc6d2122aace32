"""docs/delivery.md "MQTT v5 and refused publishes": a publish the broker refused (an
alert event, the active set, the `online` status) is retried on the same connection
"with backoff (0.5 s doubling, at most 10 s)", so that once the ACL is fixed and the
broker reloaded the queued alarms go out within 10 s. Nothing held the cap: raised to
40 s, every delivery test still passed while a fixed ACL could leave an alarm queued
for up to 40 s more. Deterministic: the retry's delays themselves (equal jitter,
monitord/backoff.py: each in [hi/2, hi] for hi = min(10, 0.5 x 2^n))."""

from __future__ import annotations

import random

from monitord.backoff import Backoff
from monitord.sinks.mqtt_link import ChairLink


def test_refused_publishes_are_retried_from_half_a_second_doubling_to_ten() -> None:
    link = ChairLink("chair-1", Backoff(0.5, 30.0))  # the reconnect backoff: not this one
    link.retry.rng = random.Random(20261204)
    for n in range(12):
        hi = min(10.0, 0.5 * 2.0**n)
        d = link.retry.next_delay()
        assert hi / 2 <= d <= hi, (n, d, hi)
    # Accepted again (sinks/mqtt.py `_accepted`): the next refusal starts over at 0.5 s.
    link.retry.reset()
    assert link.retry.next_delay() <= 0.5
