"""Issue 16: journald priorities (acceptance 4 at the unit level), receipts' screening,
and `check-config`'s warnings about MQTT logins that the shipped ACL refuses or mixes up
(several chairs on one Pi)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.config_checks import check
from monitord.receipts import BadReceipt, Receipts, parse_receipt

LOGS = """
import logging
from monitord.log import setup_logging
setup_logging("DEBUG")
log = logging.getLogger("monitord.test")
log.critical("c"); log.error("e"); log.warning("w"); log.info("i"); log.debug("d")
"""


def run_logging(tmp: Path, journal: str | None) -> list[str]:
    err = tmp / "stderr"
    with open(err, "wb") as f:
        st = os.fstat(f.fileno())
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal == "match":
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        elif journal is not None:
            env["JOURNAL_STREAM"] = journal
        subprocess.run([sys.executable, "-c", LOGS], stderr=f, env=env, check=True, timeout=60)
    return [ln for ln in err.read_text().splitlines() if "monitord.test" in ln]


def test_journal_stream_prefixes_syslog_priorities(tmp_path: Path) -> None:
    assert run_logging(tmp_path, "match") == [
        "<2>CRITICAL monitord.test: c",
        "<3>ERROR monitord.test: e",
        "<4>WARNING monitord.test: w",
        "<6>INFO monitord.test: i",
        "<7>DEBUG monitord.test: d",
    ]


@pytest.mark.parametrize("journal", [None, "1:2", "garbage"])
def test_no_prefix_unless_stderr_is_the_journal_stream(tmp_path: Path, journal: str | None) -> None:
    # Unset, or inherited by a process whose stderr was redirected elsewhere.
    assert run_logging(tmp_path, journal)[0] == "CRITICAL monitord.test: c"


BASE = """
[site]
id = "clinic-north"
[mqtt]
{mqtt}
{chairs}
"""


def warnings(mqtt: str, chairs: str) -> list[str]:
    cfg = loads_config(BASE.format(mqtt=mqtt, chairs=chairs))
    errors, warns = check(cfg, "T")
    assert errors == []
    return [w for w in warns if "mqtt" in w]


def test_check_config_warns_when_a_login_cannot_publish_for_its_chair() -> None:
    two = '[[chairs]]\nid = "chair-1"\n[[chairs]]\nid = "chair-2"\n'
    got = warnings('username = "chair-1"', two)
    assert len(got) == 2, got
    assert got[0].startswith("T: mqtt.username: warning: chair 'chair-2' logs in as 'chair-1'")
    assert 'mqtt_username = "chair-2"' in got[0]
    assert "share the login 'chair-1'" in got[1] and "use_username_as_clientid" in got[1]
    # The supported way: one login per chair, each its chair id.
    own = (
        '[[chairs]]\nid = "chair-1"\nmqtt_username = "chair-1"\n'
        '[[chairs]]\nid = "chair-2"\nmqtt_username = "chair-2"\n'
    )
    assert warnings('username = "chair-1"', own) == []
    # One chair, its id as [mqtt] username; and a broker without logins: nothing to say.
    assert warnings('username = "chair-1"', '[[chairs]]\nid = "chair-1"\n') == []
    assert warnings("", two) == []
    # A chair's own login that is not its id.
    got = warnings("", '[[chairs]]\nid = "chair-2"\nmqtt_username = "chair-9"\n')
    assert len(got) == 1 and got[0].startswith("T: chairs[0].mqtt_username: warning:"), got


def test_check_config_command_prints_the_warning(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text(BASE.format(mqtt='username = "chair-1"', chairs='[[chairs]]\nid = "chair-2"\n'))
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0 and p.stdout == "ok\n", p
    assert "chair 'chair-2' logs in as 'chair-1'" in p.stderr, p.stderr


def test_chair_password_file_needs_its_username() -> None:
    with pytest.raises(Exception, match="mqtt_password_file needs mqtt_username"):
        loads_config(
            BASE.format(mqtt="", chairs='[[chairs]]\nid = "c"\nmqtt_password_file = "/x"\n')
        )


def test_receipts_are_screened_and_clear_what_waited() -> None:
    for bad, why in [
        (b"nope", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"event": "raised", "station": "s"}', "alert_id"),
        (b'{"alert_id": "a", "event": "seen", "station": "s"}', "event 'seen'"),
        (b'{"alert_id": "a", "event": "raised"}', "station"),
    ]:
        with pytest.raises(BadReceipt, match=why):
            parse_receipt(bad)
    r = Receipts(15.0)
    ev = {"alert_id": "a1", "event": "raised", "priority": "high", "rule": "bp.crisis"}
    r.accepted("chair-1", ev, 100.0)
    r.accepted("chair-1", {**ev, "alert_id": "a2", "priority": "low"}, 100.0)  # not tracked
    r.accepted("chair-1", {**ev, "alert_id": "a3", "event": "cleared"}, 100.0)  # not tracked
    assert list(r.waiting) == [("a1", "raised", 0)]
    assert r.overdue(114.9) == [] and len(r.overdue(115.0)) == 1
    r.receipt("zz", "raised", 120.0)  # any receipt: a station listens; the late one goes
    assert r.waiting == {} and r.heard_at == 120.0


def test_station_status_counts_once_the_retained_ones_had_time_to_arrive() -> None:
    r = Receipts(15.0)
    assert r.any_online(100.0) is None  # not subscribed: unknown (MQTT off, or not yet)
    r.subscribed_at = 100.0
    assert r.any_online(101.0) is None  # retained statuses may still be on their way
    assert r.any_online(102.0) is False
    r.station_status("station-1", b'{"state": "online", "time": "t"}')
    assert r.any_online(102.0) is True and r.online() == ["station-1"]
    r.station_status("station-1", b'{"state": "offline", "time": "t"}')  # its Last Will
    assert r.any_online(103.0) is False
    r.station_status("station-2", b"not json")  # ignored with a warning
    r.station_status("station-1", b"")  # retained status cleared
    assert r.stations == {}
