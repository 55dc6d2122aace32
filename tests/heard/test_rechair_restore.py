"""A Pi serving two chairs, one of them (chair-2, its monitor away for repair) commented out
of the config for one start and put back at the next: the release of a chair's MQTT queue
at a start without it (monitord/storeroutes.py) cannot be undone. A real `monitord run`
three times on one store, a real mosquitto with config/mosquitto/monitord.acl (each chair
its own login), a Masimo oximeter on a pty for chair-2, station-1 watching.

What is lost: chair-2's alert events the broker never took (it was away at the stop) are
never published on `alerts/events`, not even once chair-2 is back; they stay in the store
(reports). Before, the WARNING of the start without chair-2 said they "will not be"
delivered, with a reason that holds for a Pi moved to another chair only ("this chair's
login may not publish under 'chair-2'"): an admin who had commented a chair out for an
hour read it as "not while it is out". Now it says they never will be, even if the chair
id comes back.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.acl_kit import SITE, AclMosquitto, acl_config, oximeter_chair
from tests.e2e.e2e_kit import FAST_SPO2_ALERT, DaemonProcess, Store, port_path
from tests.heard.heard_kit import backlog_of, password_file, raise_queued, station
from tests.kit import eventually


def two_chairs(tmp: Path, broker: AclMosquitto, *, chair2: bool) -> Path:
    """chair-1 (no device) and chair-2 (the oximeter), each logging in as itself; with
    `chair2` False, chair-2's block commented out as an admin would."""
    assert broker.tls is not None
    login = f'mqtt_username = "chair-2"\nmqtt_password_file = "{password_file(tmp, "chair-2")}"\n'
    block = "\n" + oximeter_chair("chair-2", port_path(tmp), login=login)
    if not chair2:
        block = "".join(f"# {ln}\n" for ln in block.splitlines())
    return acl_config(
        tmp,
        broker,
        storage="commit_interval_s = 0.5",
        alerts=FAST_SPO2_ALERT,
        chairs=f"""[[chairs]]
id = "chair-1"
mqtt_username = "chair-1"
mqtt_password_file = "{password_file(tmp, "chair-1")}"
{block}""",
    )


async def test_chair_out_for_one_start_loses_its_undelivered_events_and_is_told_so(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    store = Store(tmp_path / "outbox.sqlite")
    # 1. Both chairs; chair-2 raises spo2.very_low while the broker is away.
    broker.stop()
    first = DaemonProcess(two_chairs(tmp_path, broker, chair2=True), tmp_path / "first.log")
    await raise_queued(tmp_path, store, first, "chair-2")
    queued = backlog_of(store, "chair-2")
    raised = [e for e in store.alert_events() if e["event"] == "raised"]
    assert raised and all(e["chair"] == "chair-2" for e in raised), store.alert_events()

    # 2. chair-2 commented out for its monitor's repair; the broker back.
    broker.start()
    out = DaemonProcess(two_chairs(tmp_path, broker, chair2=False), tmp_path / "second.log")
    out.start()
    try:
        await eventually(lambda: " ready: " in out.output(), 30, "the run without chair-2")
    finally:
        assert out.stop() == 0, out.output()
    line = next((ln for ln in out.output().splitlines() if "of chair 'chair-2'" in ln), "")
    assert "WARNING" in line and f"{queued} alert event(s)" in line, out.output()
    # It says what the next steps cannot undo: putting chair-2 back sends nothing.
    assert "never will be, even if 'chair-2' is put back in this config" in line, line
    assert "login may not publish" not in line, line
    assert backlog_of(store, "chair-2") == 0

    # 3. chair-2 put back: what the WARNING said holds, its raised event is never sent.
    back = DaemonProcess(two_chairs(tmp_path, broker, chair2=True), tmp_path / "third.log")
    async with station(broker) as st:
        back.start()
        try:
            await eventually(
                lambda: any(
                    t == f"monitord/{SITE}/chair-2/alerts/active" and not r for t, _p, r in st.got
                ),
                30,
                "chair-2's active set published live",
            )
        finally:
            assert back.stop() == 0, back.output()
    # Its alarm itself is not lost: resumed from the store, in its live active set.
    live = [
        json.loads(p)
        for t, p, r in st.got
        if t == f"monitord/{SITE}/chair-2/alerts/active" and not r
    ]
    assert live and [a["alert_id"] for a in live[-1]["alerts"]] == [
        e["alert_id"] for e in raised
    ], live
    sent = {e["alert_id"] for e in st.events("chair-2")}
    assert not sent & {e["alert_id"] for e in raised}, st.events("chair-2")
    # Kept in the store for reports.
    assert [e for e in store.alert_events() if e["event"] == "raised"][: len(raised)] == raised
