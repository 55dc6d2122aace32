"""A URL's userinfo never reaches a log line (monitord/log.py `redact_urls`): the config
refuses a password in a URL (tests/config_cases/influx-url-password-refused), and the one
formatter every line passes through removes what got there anyway, from our messages, the
libraries' and exception texts alike (a retrying sink printed it at every retry)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitord.log import redact_urls

LOGS = """
import logging
from monitord.log import setup_logging
setup_logging("DEBUG")
log = logging.getLogger("monitord.test")
url = "http://admin:hunter2@127.0.0.1:8086"
log.warning("InfluxDB v1 %s: cannot connect to %s/write", url, url)
try:
    raise OSError(f"connect failed: {url}")
except OSError:
    log.exception("sink crashed")
"""


def test_no_log_line_prints_a_urls_password() -> None:
    r = subprocess.run([sys.executable, "-c", LOGS], capture_output=True, text=True, timeout=60)
    lines = [ln for ln in r.stderr.splitlines() if "monitord.test" in ln]
    assert len(lines) == 2, r.stderr
    assert "hunter2" not in r.stderr and "admin" not in r.stderr
    assert lines[0] == (
        "WARNING monitord.test: InfluxDB v1 http://***@127.0.0.1:8086: "
        "cannot connect to http://***@127.0.0.1:8086/write"
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://127.0.0.1:8086", "http://127.0.0.1:8086"),
        ("to https://u:p%40ss@h/x?a=b@c", "to https://***@h/x?a=b@c"),
        ("https://user@ntfy.lan/topic", "https://***@ntfy.lan/topic"),
        ("mail a@b, see http://h/p@q", "mail a@b, see http://h/p@q"),
    ],
)
def test_redact_urls(text: str, shown: str) -> None:
    assert redact_urls(text) == shown
