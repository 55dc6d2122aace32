"""A server's Retry-After (RFC 9110 section 10.2.3) read as seconds to wait, both forms.

InfluxDB sends delay-seconds; a proxy or load balancer in front of it (a clinic's central
database behind nginx or a cloud gateway) may send an HTTP date. The date was ignored
(the sink fell back to its own, shorter backoff and hammered a server asking for a pause).
"""

from __future__ import annotations

import pytest

from monitord.sinks.influx_http import MAX_RETRY_AFTER_S, _parse_retry_after

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z

CASES = [
    ("120", 120.0),
    ("0", 0.0),
    ("-5", 0.0),  # never a negative wait
    ("1e9", MAX_RETRY_AFTER_S),  # capped: a typo must not park delivery for years
    ("inf", MAX_RETRY_AFTER_S),
    ("nan", None),
    ("Thu, 28 May 2026 20:27:10 GMT", 30.0),  # IMF-fixdate, 30 s ahead
    ("Thursday, 28-May-26 20:27:10 GMT", 30.0),  # obsolete RFC 850 form
    ("Thu May 28 20:27:10 2026", 30.0),  # asctime form: no zone, UTC
    ("Thu, 28 May 2026 20:26:00 GMT", 0.0),  # already past: retry now
    ("Thu, 28 May 2026 22:26:40 GMT", MAX_RETRY_AFTER_S),
    ("soon", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("header", "wait_s"), CASES)
def test_retry_after_both_forms(header: str | None, wait_s: float | None) -> None:
    got = _parse_retry_after(header, now=NOW)
    assert got == (None if wait_s is None else pytest.approx(wait_s)), (header, got)
