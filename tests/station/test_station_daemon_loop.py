"""The loop closed end to end (issues 16 and 17 together): a real mosquitto with the
shipped ACL and password file, a real `monitord run` (a Masimo oximeter on a pty fed by
the test, `mqtt.receipt_timeout_s = 3`, a real annunciator command), the real `monitord
station`, and a nurse logged in on a real headless Chromium page.

(a) A high alert is shown on the page; the station's receipt reaches the daemon, which
    never raises `delivery.unheard`, and its `status` shows the station online and no
    receipt waiting.
(b) The page is closed (the station server still runs, so its retained status still says
    online, but nobody shows alerts): the next high alert raises `delivery.unheard` at the
    timeout, on the annunciator command path.
(c) The station restarted after that alarm learns it from the retained active set only: its
    page receipts it (`raised`, level 0, sounded), which clears `delivery.unheard` with no
    new event and no ACK (before, it stood until one); a reload sends no second receipt.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from tests.acl_kit import AclMosquitto
from tests.e2e.e2e_kit import LiveFeed, Oximeter
from tests.heard.heard_kit import (
    CHAIR,
    JournalDaemon,
    alarms,
    annunciator_script,
    patterns,
    status_text,
    write_config,
)
from tests.kit import eventually
from tests.station.cdp import browser
from tests.station.station_kit import (
    SITE,
    login_page,
    mqtt_login,
    show_logs,
    station_config,
    station_process,
)

TIMEOUT_S = 3.0
COMMIT_S = 0.5  # storage.commit_interval_s (the default is 5 s)
TILE = f"document.querySelector('.tile[data-chair=\"{CHAIR}\"]')"


def raised(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "raised" and e["priority"] == "high"]


async def test_station_receipts_keep_the_daemon_quiet_and_a_closed_page_raises_unheard(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    section, out = annunciator_script(tmp_path)
    cfg = write_config(
        tmp_path,
        acl_broker,
        username=CHAIR,
        per_chair=True,
        annunciator=section,
        mqtt_extra=f"receipt_timeout_s = {TIMEOUT_S}",
        # `monitord status` shows what the group commits wrote: at 0.5 s, not every 5 s,
        # so the waits for it below take a moment, not up to two intervals.
        storage_extra=f"commit_interval_s = {COMMIT_S}",
    )
    db = tmp_path / "outbox.sqlite"
    (tmp_path / "st").mkdir()
    scfg = station_config(tmp_path / "st", acl_broker)
    daemon = JournalDaemon(cfg, tmp_path / "daemon.log")
    events: list[dict[str, Any]] = []
    receipts: list[dict[str, Any]] = []

    async with mqtt_login(acl_broker, "station-2") as spy:  # an observer's account
        await spy.subscribe(f"monitord/{SITE}/{CHAIR}/alerts/events", qos=1)
        await spy.subscribe(f"monitord/{SITE}/{CHAIR}/alerts/receipts", qos=1)

        async def listen() -> None:
            async for m in spy.messages:
                body = json.loads(bytes(m.payload))
                (receipts if str(m.topic).endswith("receipts") else events).append(body)

        listener = asyncio.create_task(listen())
        try:
            async with (
                station_process(scfg, tmp_path / "station.log") as (station, url),
                browser() as b,
                Oximeter(tmp_path) as ox,
                LiveFeed(ox, spo2=97.0) as feed,
            ):
                page = await b.new_page()
                await login_page(page, url, "alice")
                await page.until("window.__monitordAudio.armed", 20, "audio armed")
                daemon.start()
                async with show_logs(station):
                    try:
                        await page.until(
                            f"!!{TILE}?.querySelector('.state.online')", 30, "tile online"
                        )
                        # The daemon reads the station's retained status: online.
                        await eventually(
                            lambda: "stations: station-1 online" in status_text(db),
                            30,
                            "daemon sees the station online",
                        )

                        # (a) a high alert, shown and sounded: the receipt reaches the daemon.
                        feed.spo2 = 80.0
                        await page.until(f"{TILE}.classList.contains('p-high')", 30, "tile red")
                        await eventually(lambda: raised(events), 10, "raised on the broker")
                        first = raised(events)[0]
                        await eventually(
                            lambda: any(r["alert_id"] == first["alert_id"] for r in receipts),
                            10,
                            "the page's receipt",
                        )
                        r = next(r for r in receipts if r["alert_id"] == first["alert_id"])
                        assert r["event"] == "raised" and r["station"] == "station-1", r
                        assert r["sounded"] is True, r
                        # Past the timeout (a wait, not a timed assertion): quiet. Its wait
                        # began at the broker's PUBACK, before this receipt was seen here:
                        # 2 s more for its alarm to be written if it came.
                        await asyncio.sleep(TIMEOUT_S + 2)
                        # `status` is written with the group commits (COMMIT_S): the receipt
                        # count shows within two of them.
                        await eventually(
                            lambda: (
                                "receipts_received=" in status_text(db)
                                and "receipts_received=0" not in status_text(db)
                            ),
                            20,
                            "status counts the receipt",
                        )
                        shown = status_text(db)
                        assert "stations: station-1 online" in shown, shown
                        assert "receipts_waiting=0" in shown, shown
                        a = alarms(db)
                        assert "delivery.unheard" not in a["active"], a
                        assert "delivery.unheard" not in a["cleared"], a
                        assert "high" not in patterns(out), patterns(out)

                        # The alert clears; its `cleared` receipt too, before the page closes.
                        feed.spo2 = 97.0
                        await eventually(
                            lambda: any(
                                r["alert_id"] == first["alert_id"] and r["event"] == "cleared"
                                for r in receipts
                            ),
                            30,
                            "cleared shown",
                        )

                        # (b) nobody shows alerts: the page is closed, the station still runs.
                        await b.close_tab(page)
                        n_receipts = len(receipts)
                        feed.spo2 = 80.0
                        await eventually(lambda: len(raised(events)) >= 2, 30, "second raise")
                        second = raised(events)[1]
                        on_broker = time.monotonic()
                        await eventually(lambda: "high" in patterns(out), 30, "not received")
                        print(
                            f"FIGURE raised on the broker -> annunciator high: "
                            f"{time.monotonic() - on_broker:.1f} s (timeout {TIMEOUT_S:g} s)"
                        )
                        unheard = alarms(db)["active"]["delivery.unheard"]["text"]
                        assert unheard.startswith("alarm not received by any station"), unheard
                        assert f"{CHAIR} spo2.very_low (high)" in unheard, unheard
                        # The station's status still says online: the text says so too.
                        assert "stations online: station-1" in unheard, unheard
                        shown = status_text(db)
                        assert "delivery.unheard" in shown, shown
                        assert "stations: station-1 online" in shown, shown
                        assert len(receipts) == n_receipts, receipts[n_receipts:]
                        assert alarms(db)["active"]["delivery.unheard"]

                        # (c) A station started after the alarm (restarted: it never showed it)
                        # learns it from the retained active set only; its page receipts it once
                        # shown and sounding, and `delivery.unheard` clears: no new event, no ACK.
                        assert station.stop() == 0
                        log2 = tmp_path / "station2.log"
                        async with station_process(scfg, log2) as (again, url), show_logs(again):
                            page = await b.new_page()
                            await login_page(page, url, "alice")  # logins live in its memory
                            await page.until(f"{TILE}.classList.contains('p-high')", 30, "red")

                            def held() -> list[dict[str, Any]]:
                                return [r for r in receipts[n_receipts:]
                                        if r["alert_id"] == second["alert_id"]]  # fmt: skip

                            # Sounded: a second receipt if the first went out before the
                            # login's tap had armed the page's audio (docs/station.md).
                            await eventually(
                                lambda: held() and held()[-1]["sounded"], 20, "its receipt"
                            )
                            got = [(r["event"], r["level"], r["station"]) for r in held()]
                            assert got in ([("raised", 0, "station-1")] * n for n in (1, 2)), got
                            await eventually(
                                lambda: "delivery.unheard" in alarms(db)["cleared"], 10, "cleared"
                            )
                            await eventually(lambda: patterns(out)[-1:] == ["off"], 10, "quiet")
                            # Once per event and station: the page reloaded posts it again, the
                            # station does not publish it twice.
                            n = len(held())
                            await page.goto(url + "/")
                            await page.until(f"{TILE}.classList.contains('p-high')", 30, "reload")
                            await asyncio.sleep(1)  # nothing more comes
                            assert len(held()) == n, held()
                            # The nurse's ACK still brings its `acknowledged` event and receipt.
                            await page.tap(f'.tile[data-chair="{CHAIR}"] .alert.high button.ack')
                            await eventually(
                                lambda: any(r["event"] == "acknowledged" for r in held()),
                                20,
                                "acknowledged shown",
                            )
                            await page.close()
                            # The daemon stops before this station does: the station's
                            # `offline`, the alert still active, would sound `technical`.
                            daemon.stop()
                    except BaseException:
                        print(f"--- daemon log ---\n{daemon.output()[-6000:]}")
                        raise
                    finally:
                        rc = daemon.stop()
        finally:
            listener.cancel()
    text = daemon.output()
    assert rc == 0, text
    assert patterns(out) == ["high", "off"], patterns(out)
    # No receipt of the station was refused or malformed in the daemon's eyes.
    assert "receipt on" not in text, [ln for ln in text.splitlines() if "receipt on" in ln]
    critical = [ln for ln in text.splitlines() if "CRITICAL" in ln]
    assert sum("ALARM NOT RECEIVED" in ln for ln in critical) == 1, critical
