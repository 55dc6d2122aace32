"""Issue 16: several chairs on one Pi under the shipped broker config. The supported way
is one login per chair ([[chairs]] mqtt_username = its id, mqtt_password_file), one
connection each: both chairs' publishes are accepted (their `online` status and active
set reach a station) and no delivery alarm is raised. A real `monitord run` and a real
mosquitto with config/mosquitto/monitord.conf + monitord.acl.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.acl_kit import SITE, AclMosquitto
from tests.e2e.e2e_kit import DaemonProcess
from tests.heard.heard_kit import alarms, password_file, station
from tests.kit import eventually


async def test_two_chairs_each_with_its_own_login_both_deliver(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    assert broker.tls is not None
    chairs = "".join(
        f'[[chairs]]\nid = "{c}"\nmqtt_username = "{c}"\n'
        f'mqtt_password_file = "{password_file(tmp_path, c)}"\n'
        for c in ("chair-1", "chair-2")
    )
    cfg = tmp_path / "monitord.toml"
    db = tmp_path / "outbox.sqlite"
    cfg.write_text(
        f"""
[site]
id = "{SITE}"
[mqtt]
host = "{broker.host}"
port = {broker.port}
timeout_s = 5.0
  [mqtt.tls]
  ca_file = "{broker.tls.ca_file}"
[influx]
enabled = false
[storage]
path = "{db}"
max_mb = 1
{chairs}
"""
    )
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")

    def online(st_got: list[tuple[str, bytes, bool]], chair: str) -> bool:
        return any(
            t == f"monitord/{SITE}/{chair}/status"
            and json.loads(p)["state"] == "online"
            and "chair_time" in json.loads(p)  # each chair's own clock (docs/mqtt.md)
            for t, p, _r in st_got
            if p
        )

    async with station(broker) as st:
        daemon.start()
        try:
            await eventually(lambda: online(st.got, "chair-1") and online(st.got, "chair-2"), 30)
            await eventually(
                lambda: (
                    {f"monitord/{SITE}/{c}/alerts/active" for c in ("chair-1", "chair-2")}
                    <= {t for t, _p, _r in st.got}
                ),
                30,
                "both active sets",
            )
        finally:
            rc = daemon.stop()
    out = daemon.output()
    assert rc == 0, out
    assert "delivery.refused" not in (alarms(db)["active"] | alarms(db)["cleared"]), out
    assert "refused" not in out, out
