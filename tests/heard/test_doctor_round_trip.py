"""Issue 16, acceptance 3: `monitord doctor` proves the round trip against the shipped
broker config (real mosquitto 2.0, config/mosquitto/): with the chair logging in under
another chair's name it fails (exit 1) naming the refused topic, the user and the fix;
with the chair's own login it publishes on events, active, vitals and status (marked
`"doctor": true`), reads every one back as station-1, and reports the station online.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from pathlib import Path

import aiomqtt

from tests.acl_kit import SITE, AclMosquitto
from tests.heard.heard_kit import USERS, add_station, password_file, station, write_config
from tests.kit import eventually


def doctor(cfg: Path, *extra: str) -> tuple[int, dict[str, str], str]:
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitord",
            "doctor",
            "--config",
            str(cfg),
            "--timeout",
            "3",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    lines: dict[str, str] = {}
    for ln in p.stdout.splitlines():
        status, rest = ln.split(None, 1)
        assert status in ("ok", "FAIL", "skip", "warn"), ln
        lines.setdefault(rest.split(":", 1)[0], ln)
    return p.returncode, lines, p.stdout + p.stderr


def station_args(tmp: Path) -> list[str]:
    return [
        "--station-user",
        "station-1",
        "--station-password-file",
        str(password_file(tmp, "station-1")),
    ]


async def publish_online(broker: AclMosquitto, payload: bytes | None = None) -> None:
    """A station online (its retained status, as the station app keeps it), or `payload`
    retained in its place."""
    assert broker.tls is not None
    online = {"state": "online", "time": "2026-01-01T00:00:00Z", "version": "t"}
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username="station-1",
        password=USERS["station-1"],
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=ssl.create_default_context(cafile=str(broker.tls.ca_file)),
    ) as c:
        await c.publish(
            f"monitord/{SITE}/stations/station-1",
            json.dumps(online).encode() if payload is None else payload,
            qos=1,
            retain=True,
        )


async def test_doctor_fails_on_the_mismatched_acl_and_passes_on_the_right_login(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    await publish_online(broker)
    bad = write_config(tmp_path, broker, username="chair-1", devices=False)
    rc, lines, text = doctor(bad, *station_args(tmp_path))
    print(text)
    assert rc == 1, text
    trip = lines["mqtt round trip chair-2"]
    assert trip.startswith("FAIL "), trip
    assert (
        f"broker refused publish on monitord/{SITE}/chair-2/alerts/events for user chair-1: "
        "not authorized (0x87)" in trip
    ), trip
    assert "-> fix: the broker's ACL must let user chair-1 write" in trip, trip
    assert 'mqtt_username = "chair-2"' in trip, trip
    # The config checks run too: check-config's warning about this very login.
    assert lines["config checks"].startswith("warn ") and "logs in as 'chair-1'" in text, text

    good_dir = tmp_path / "good"
    good_dir.mkdir()
    good = write_config(good_dir, broker, username="chair-2", per_chair=True, devices=False)
    mine = f"monitord/{SITE}/chair-2/"
    # An observer on its own account: the shipped broker config makes the user name the
    # client id, so a second station-1 connection (doctor's) would take over this one.
    add_station(broker, "station-2")
    async with station(broker, "station-2") as st:
        rc, lines, text = await asyncio.to_thread(doctor, good, *station_args(tmp_path))
        await eventually(lambda: sum(t.startswith(mine) for t, _p, _r in st.got) >= 4, 10)
    print(text)
    assert rc == 0, text
    trip = lines["mqtt round trip chair-2"]
    assert trip.startswith("ok ") and "read back as station station-1" in trip, trip
    assert lines["stations"].startswith("ok ") and "online: station-1" in lines["stations"]
    # What a station subscribed to the site saw: the four test messages, marked.
    doc = {t.removeprefix(mine): json.loads(p) for t, p, _r in st.got if t.startswith(mine)}
    assert set(doc) == {"alerts/events", "alerts/active", "vitals/bp", "status"}, st.got
    assert all(d["doctor"] is True for d in doc.values()), doc


def station_config(tmp_path: Path, broker: AclMosquitto) -> Path:
    """station.toml of station-1 (no [[chairs]]) on `broker`."""
    from tests.station.station_kit import write_nurses

    assert broker.tls is not None
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        f'[site]\nid = "{SITE}"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
        f'  [mqtt.tls]\n  ca_file = "{broker.tls.ca_file}"\n[station]\nid = "station-1"\n'
        f'nurses_file = "{write_nurses(tmp_path / "nurses")}"\nmqtt_username = "station-1"\n'
        f'mqtt_password_file = "{password_file(tmp_path, "station-1")}"\n'
    )
    return cfg


async def test_doctor_on_a_station_config_logs_in_as_the_station(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    """install.md: `monitord doctor` (`-c PATH` for another config) before a service is
    enabled; on the station's machine that config is station.toml, with no [[chairs]].
    Before, doctor died there with a traceback (IndexError in the mqtt check, which logged
    in only with the chairs' logins), after checking nothing on the network."""
    await publish_online(broker)
    cfg = station_config(tmp_path, broker)
    rc, lines, text = doctor(cfg)
    print(text)
    assert rc == 0 and "Traceback" not in text, text
    assert lines["mqtt"].startswith("ok ") and "connected as station-1" in lines["mqtt"], text
    assert lines["mqtt round trip"].startswith("skip ") and "no [[chairs]]" in text, text
    assert lines["stations"].startswith("ok ") and "online: station-1" in lines["stations"]
    assert lines["influx"].startswith("skip "), lines["influx"]
    assert lines["disk"].startswith("skip ") and "no outbox" in lines["disk"], lines["disk"]
    # A wrong password: the station's login is the one the fix names.
    (tmp_path / "station-1.pass").write_text("wrong\n")
    rc, lines, text = doctor(cfg)
    assert rc == 1 and "login refused for user station-1" in lines["mqtt"], text
    assert "-> fix: check station.mqtt_username and station.mqtt_password_file" in lines["mqtt"]


# Found by hand reading every json.loads on outside bytes after the fuzz round,
# 2026-12-05: a station status nested thousands deep, left retained (a broken station,
# any station account), raised RecursionError out of doctor's stations check: a traceback
# and no line for the checks after it.
async def test_doctor_reads_a_deeply_nested_station_status_as_no_status(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    await publish_online(broker, b'{"state": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    rc, lines, text = doctor(station_config(tmp_path, broker))
    assert rc == 1 and "Traceback" not in text, text
    assert lines["stations"].startswith("FAIL ") and "no station online" in text, text
    assert lines["disk"].startswith("skip "), text
