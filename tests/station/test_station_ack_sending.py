"""An ACK tapped while the broker has stopped answering (docs/station.md "ACK"): the button
says "sending…" until the broker took it, then "sent". Before, it said "sent" at the tap,
for as long as the station waited for a PUBACK that did not come (its MQTT timeout, 10 s),
an acknowledgement shown on its way to the chair that had not left the station."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile


async def test_ack_says_sending_until_the_broker_took_it(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        a = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.chair("chair-1", [a], sess=session("dosing", "esketamine", 10))
        button = f"{tile('chair-1')}.querySelector('button.ack')"
        await page.until(f"{button}?.textContent === 'ACK'", 20, "ACK button")
        mosquitto.pause()  # TCP still up, nothing answered: no PUBACK
        try:
            await page.tap(".tile[data-chair='chair-1'] button.ack")
            await page.until(f"{button}.textContent === 'sending…'", 5, "sending")
            assert await page.js(f"{button}.disabled") is True
        finally:
            mosquitto.resume()
        await page.until(f"{button}.textContent === 'sent'", 10, "sent once taken")
