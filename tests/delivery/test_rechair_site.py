"""A site renamed (`[site] id` edited, the same Pi, chair and store): every topic's base
changes, and the broker keeps the old base's retained `status` (offline, from the clean
stop) and `alerts/active`, which every station of the old site shows for ever. A real
`monitord run` twice on one store against a real mosquitto.

Before: the start under the new site said nothing of it. Now it says once, at WARNING,
the old and the new base and where the procedure is (docs/operations.md, "A Pi moved to
another chair"); the next start under the same site says nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from tests.e2e.e2e_kit import CHAIR, DaemonProcess, mqtt_section, write_config
from tests.kit import eventually
from tests.servers import Mosquitto


async def run_once(tmp: Path, broker: Mosquitto, prefix: str, site: str, name: str) -> str:
    """`monitord run` on `tmp`'s store under `site` until its chair is subscribed; its log."""
    cfg = write_config(tmp, site=site, mqtt=mqtt_section(broker, prefix))
    d = DaemonProcess(cfg, tmp / f"{name}.log")
    d.start()
    try:
        await eventually(lambda: "subscribed to" in d.output(), 30, f"{name} subscribed")
    finally:
        assert d.stop() == 0, d.output()
    return d.output()


def retained(broker: Mosquitto, pattern: str) -> dict[str, str]:
    p = subprocess.run(
        ["mosquitto_sub", *broker.pub_args(), "-t", pattern, "-v", "-W", "2", "--retained-only"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return dict(line.partition(" ")[::2] for line in p.stdout.splitlines())


async def test_start_under_a_new_site_says_the_old_sites_retained_state_stays(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    await run_once(tmp_path, mosquitto, mqtt_prefix, "site-a", "first")
    out = await run_once(tmp_path, mosquitto, mqtt_prefix, "site-b", "second")
    # What it warns of is there: site-a's chair, offline, on the broker still.
    kept = await asyncio.to_thread(retained, mosquitto, f"{mqtt_prefix}/site-a/#")
    assert '"offline"' in kept.get(f"{mqtt_prefix}/site-a/{CHAIR}/status", ""), kept
    said = [ln for ln in out.splitlines() if "the MQTT base changed" in ln]
    assert len(said) == 1 and "WARNING" in said[0], out
    assert f"'{mqtt_prefix}/site-a' to '{mqtt_prefix}/site-b'" in said[0], said
    assert "A Pi moved to another chair" in said[0], said
    # Said once: the next start under site-b has nothing to say.
    again = await run_once(tmp_path, mosquitto, mqtt_prefix, "site-b", "third")
    assert "the MQTT base changed" not in again, again
