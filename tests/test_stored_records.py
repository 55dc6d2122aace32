"""monitord/history.py: repeats and connection bursts (clinical-rules.md, stored records),
and the `stored` mark through the outbox and the InfluxDB line.

The hub's bookkeeping is pure (callers pass monotonic time), so these tests state the
rules directly; the daemon-level tests (tests/test_stored_records_daemon.py,
tests/faults/test_fault_bp_stuck_clock.py) show them on the real device paths.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitord.config import StorageConfig
from monitord.drivers.reject import Reject
from monitord.history import (
    BURST_GAP_S,
    BURST_OPEN_S,
    StoredRecords,
    legacy_key,
    seen_key,
    upgrade_keys,
)
from monitord.models import Kind, Reading, SessionEvent, utc
from monitord.outbox import Outbox
from monitord.report.record import build_record
from monitord.report.render import vitals_rows
from monitord.sinks.influx_rows import row_line

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
STUCK = datetime(2000, 1, 1, tzinfo=UTC)  # a cuff clock that never moves


def bp(sys_: float, dia: float, at: datetime | None, device: str = "cuff") -> Reading:
    return Reading(
        chair="chair-1",
        device=device,
        kind=Kind.BP,
        values={"sys_mmHg": sys_, "dia_mmHg": dia, "map_mmHg": None, "pulse_bpm": 70.0},
        measured_at=T0,
        received_at=T0,
        device_time=at,
    )


def vals(rs: list[Reading]) -> list[tuple[float | None, bool]]:
    return [(r.values["sys_mmHg"], r.stored) for r in rs]


def connected_long_ago(sr: StoredRecords, device: str = "cuff") -> None:
    sr.link(device, True, 0.0)
    assert sr.due(BURST_OPEN_S + 1) == []


def test_stuck_clock_new_values_are_taken_and_then_so_is_a_same_valued_re_measure() -> None:
    """Issue 12 defect 2: the same device time with new values is a new measurement.
    Then the clock is known stuck ("a stuck or unset device clock never hides a new
    measurement"): 130/85 again at that time is a re-measure, taken, not a repeat of the
    first (it hid the confirming reading of a BP rule)."""
    sr = StoredRecords()
    connected_long_ago(sr)
    now = 100.0
    assert vals(sr.offer(bp(130, 85, STUCK), now)[0]) == [(130, False)]
    assert sr.stuck == set()
    assert vals(sr.offer(bp(212, 124, STUCK), now + 60)[0]) == [(212, False)]
    assert sr.stuck == {"cuff"}
    assert vals(sr.offer(bp(130, 85, STUCK), now + 120)[0]) == [(130, False)]
    assert sr.repeats == 0
    # without a device time nothing is a repeat, not even identical values
    assert vals(sr.offer(bp(130, 85, None), now + 180)[0]) == [(130, False)]
    assert vals(sr.offer(bp(130, 85, None), now + 240)[0]) == [(130, False)]
    assert sr.repeats == 0


def test_a_stuck_clock_is_known_after_a_restart_and_only_for_its_device() -> None:
    """The keys a restart loads tell the stuck clock (two keys at one device time); a
    device whose clock runs keeps its repeats recognised, also at the stuck one's time."""
    sr = StoredRecords()
    connected_long_ago(sr)
    sr.offer(bp(130, 85, STUCK), 100.0)
    sr.offer(bp(212, 124, STUCK), 160.0)
    other = bp(140, 90, T0, device="cuff2")
    connected_long_ago(sr, "cuff2")
    assert vals(sr.offer(other, 170.0)[0]) == [(140, False)]
    again = StoredRecords(sr.seen_keys())
    assert again.stuck == {"cuff"}
    connected_long_ago(again)
    connected_long_ago(again, "cuff2")
    assert vals(again.offer(bp(212, 124, STUCK), 200.0)[0]) == [(212, False)]
    assert again.offer(other, 260.0) == ([], True)  # a running clock: a repeat
    assert again.repeats == 1


def test_an_unset_device_clock_never_hides_a_same_valued_measurement() -> None:
    """clinical-rules.md "Delivery of alarms": de-duplication "may drop a reading only
    when it repeats a stored one in device time *and* values; a stuck or unset device
    clock never hides a new measurement". A cuff that sends no device time at all (never
    known stuck, so only the missing time protects it) measures 130/85 twice: both are
    taken. The test above shows it only for a device already known stuck, where the
    stuck mark alone keeps them; a key made of the values for a reading without a device
    time passed it."""
    sr = StoredRecords()
    connected_long_ago(sr)
    assert vals(sr.offer(bp(130, 85, None), 100.0)[0]) == [(130, False)]
    assert vals(sr.offer(bp(130, 85, None), 400.0)[0]) == [(130, False)]
    assert sr.repeats == 0 and sr.stuck == set()


def test_one_measurement_at_a_device_time_keeps_its_repeat_recognised() -> None:
    """Until a second measurement shares its device time, a clock is not known stuck:
    the exact record again (a cuff re-pushing its memory) is a repeat."""
    sr = StoredRecords()
    connected_long_ago(sr)
    assert vals(sr.offer(bp(130, 85, STUCK), 100.0)[0]) == [(130, False)]
    assert sr.offer(bp(130, 85, STUCK), 160.0) == ([], True)
    assert sr.repeats == 1 and sr.stuck == set()


def test_burst_after_connection_only_newest_is_live() -> None:
    sr = StoredRecords()
    sr.link("cuff", True, 10.0)
    old = [bp(120 + i, 80, T0 - timedelta(days=5 - i)) for i in range(5)]
    old[2] = bp(190, 115, T0 - timedelta(days=3))
    t = 10.2
    for r in old:
        assert sr.offer(r, t) == ([], False)  # held while the burst runs
        t += 0.1
    assert sr.offer(bp(212, 124, T0), t) == ([], False)
    assert sr.next_due() == t + BURST_GAP_S
    assert sr.due(t + BURST_GAP_S / 2) == []
    out = sr.due(t + BURST_GAP_S + 0.1)
    history = [(120, True), (121, True), (190, True), (123, True), (124, True)]
    assert vals(out) == [*history, (212, False)]
    assert sr.stored == 5 and sr.holding == 0
    # later records of this connection are live at once, never held
    assert vals(sr.offer(bp(150, 90, T0 + timedelta(minutes=10)), t + 600)[0]) == [(150, False)]
    # the next connection re-pushes the memory: all repeats, dropped and counted
    sr.link("cuff", True, t + 700)
    for r in [*old, bp(212, 124, T0)]:
        assert sr.offer(r, t + 700.1) == ([], True)
    assert sr.repeats == 6 and sr.holding == 0


def test_burst_ends_with_the_link_and_at_shutdown() -> None:
    sr = StoredRecords()
    sr.link("cuff", True, 0.0)
    sr.offer(bp(190, 115, T0 - timedelta(days=1)), 0.1)
    sr.offer(bp(128, 82, T0), 0.2)
    assert vals(sr.link("cuff", False, 0.3)) == [(190, True), (128, False)]
    # records arriving before the link is reported up start a burst too
    sr.offer(bp(140, 90, T0 + timedelta(hours=1)), 50.0)
    assert vals(sr.flush()) == [(140, False)]  # a burst of one: its only record is live


def test_late_record_after_the_window_is_live() -> None:
    """When in doubt, live: a connection whose first record comes late has no burst."""
    sr = StoredRecords()
    sr.link("cuff", True, 0.0)
    assert vals(sr.offer(bp(190, 115, T0), BURST_OPEN_S + 0.5)[0]) == [(190, False)]


def test_repeats_of_a_long_memory_push_keep_the_connection_burst_going() -> None:
    """A memory re-push is one burst, its repeats included (dropped, but they keep the
    connection's window open): a record after repeats that took longer than BURST_OPEN_S
    is in it; only the newest is live. Before, each such record was live at once
    (tests/ble/test_burst_after_repeats.py). Repeats after a burst has begun do not
    keep it going (next test): a record before them is live when they outlast
    BURST_GAP_S (when in doubt, live)."""
    taken = [bp(120, 80, T0 - timedelta(days=1, minutes=i)) for i in range(30)]
    sr = StoredRecords()
    connected_long_ago(sr)
    for r in taken:
        sr.offer(r, 100.0)  # taken live long ago: their keys are known
    sr.link("cuff", True, 200.0)
    t = 200.1
    for r in taken:  # re-pushed, one a quarter second: 7.5 s of repeats
        assert sr.offer(r, t) == ([], True)
        t += 0.25
    assert sr.offer(bp(205, 125, T0 + timedelta(minutes=10)), t) == ([], False)
    assert sr.offer(bp(130, 82, T0 + timedelta(minutes=20)), t + 0.25) == ([], False)
    assert vals(sr.due(t + 0.25 + BURST_GAP_S + 0.1)) == [(205, True), (130, False)]
    # An unknown record first, then the repeats, then the new one: the burst ends
    # BURST_GAP_S after its record, whatever repeats follow; the new one is live at once.
    sr.link("cuff", True, 300.0)
    t = 300.1
    assert sr.offer(bp(190, 115, T0 - timedelta(days=2)), t) == ([], False)
    out = []
    for r in taken:
        t += 0.25
        assert sr.offer(r, t) == ([], True)
        out += sr.due(t)
    assert vals(out) == [(190, False)]
    assert vals(sr.offer(bp(128, 84, T0 + timedelta(minutes=30)), t + 0.25)[0]) == [(128, False)]


def test_repeats_never_hold_a_burst_begun_nor_make_its_record_history() -> None:
    """A cuff that goes on re-sending after its burst's newest record (its newest record
    every second, or a memory pushed newest first): the burst still ends BURST_GAP_S
    after that record, and it is live; the next measurement is live at once.
    Before, each repeat kept the burst going: the record was held as long as they came,
    with no bound but the link, and the next measurement made it history (205/125 fed
    to no rule: no `bp.crisis`; tests/ble/test_burst_after_repeats.py shows it on a
    real BLE link)."""
    taken = [bp(120, 80, T0 - timedelta(days=1, minutes=i)) for i in range(30)]
    sr = StoredRecords()
    connected_long_ago(sr)
    for r in taken:
        sr.offer(r, 100.0)
    sr.link("cuff", True, 200.0)
    x = bp(205, 125, T0)
    assert sr.offer(x, 200.5) == ([], False)  # the connection's burst: held
    out: list[Reading] = []
    t = 200.5
    for r in [x, *taken, x, x, x]:  # re-sent, one every 0.5 s: 17 s of repeats
        t += 0.5
        assert sr.offer(r, t) == ([], True)
        assert sr.next_due() in (200.5 + BURST_GAP_S, None)  # never put off
        out += sr.due(t)
    assert vals(out) == [(205, False)]
    assert vals(sr.offer(bp(128, 80, T0 + timedelta(minutes=1)), t + 0.5)[0]) == [(128, False)]
    assert sr.stored == 0


def test_a_record_after_repeats_that_went_quiet_is_live() -> None:
    """Repeats keep the window open only while they follow each other: a record coming
    BURST_GAP_S after the last of them, past BURST_OPEN_S, is live at once."""
    sr = StoredRecords()
    old = bp(120, 80, T0 - timedelta(days=1))
    connected_long_ago(sr)
    sr.offer(old, 10.0)
    sr.link("cuff", True, 100.0)
    assert sr.offer(old, 104.0) == ([], True)
    assert vals(sr.offer(bp(190, 115, T0), 104.0 + BURST_GAP_S + 0.5)[0]) == [(190, False)]


def test_other_kinds_and_devices_pass_through() -> None:
    sr = StoredRecords()
    sr.link("cuff", True, 0.0)
    hr = Reading("chair-1", "strap", Kind.HR, {"hr_bpm": 70.0}, T0, T0, device_time=T0)
    assert sr.offer(hr, 0.1) == ([hr], False)
    assert sr.offer(hr, 0.2) == ([hr], False)  # HR is not de-duplicated here


def test_keys_persist_only_once_released() -> None:
    """A key saved for a record still held (lost in a crash) would hide its re-push."""
    sr = StoredRecords()
    sr.link("cuff", True, 0.0)
    r = bp(130, 85, T0)
    sr.offer(r, 0.1)
    assert sr.seen_keys() == [] and not sr.dirty
    sr.due(0.1 + BURST_GAP_S + 0.1)
    assert sr.seen_keys() == [seen_key(r)] and sr.dirty
    assert StoredRecords(sr.seen_keys()).offer(r, 0.0) == ([], True)  # across a restart


def test_old_state_format_is_upgraded_with_the_stored_readings() -> None:
    taken = bp(184, 112, T0)
    keys = [legacy_key("cuff", T0), legacy_key("cuff", T0 - timedelta(hours=9))]
    new, lost = upgrade_keys(keys, lambda: [taken, bp(120, 80, T0 + timedelta(hours=1))])
    assert new == [seen_key(taken)] and lost == 1
    sr = StoredRecords(new)
    sr.link("cuff", True, 0.0)
    assert sr.offer(taken, 0.1) == ([], True)  # the same measurement: still a repeat
    assert sr.offer(bp(212, 124, T0), 0.2)[1] is False  # same time, new values: taken

    # nothing old: the store is not even asked
    def not_asked() -> list[Reading]:
        raise AssertionError("store read for a current-format state")

    assert upgrade_keys([str(seen_key(taken))], not_asked) == ([seen_key(taken)], 0)


def test_stored_mark_survives_the_outbox_and_tags_the_influx_line(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    ob = Outbox(path, StorageConfig(path=path))
    live = bp(128, 82, T0)
    # received after the live one (as a memory push can be): still never the "last" BP
    later = T0 + timedelta(minutes=1)
    old = replace(
        bp(190, 115, T0 - timedelta(days=1)), stored=True, measured_at=later, received_at=later
    )
    ob.add_readings([old, live], {"chair-1": "s-1"})
    ob.commit()
    assert [(r.values["sys_mmHg"], r.stored) for r, _ in ob.readings()] == [
        (128, False),
        (190, True),
    ]
    lines = [row_line(r, "site") for r in ob.fetch("influx", 10)]
    assert ",stored=true" in lines[0] and "stored" not in lines[1]
    assert ob.last_readings("chair-1")["bp"].values["sys_mmHg"] == 128  # status, demo
    ob.close()


def test_report_lists_stored_records_but_never_uses_them() -> None:
    """A stored 190/115 received just before the dose is not the pre-dose BP, does not
    start the monitoring time, and is listed as a stored record."""
    t = T0.timestamp()
    sessions = [
        SessionEvent(t, "chair-1", "start", "esketamine", "s-1"),
        SessionEvent(t + 600, "chair-1", "dose_start", "esketamine", "s-1"),
    ]

    def at(r: Reading, s: float) -> Reading:
        return replace(r, measured_at=utc(t + s), received_at=utc(t + s))

    old = replace(at(bp(190, 115, T0 - timedelta(days=3)), 10), stored=True)
    rs = [old, at(bp(130, 84, T0), 300), replace(at(bp(185, 112, None), 590), stored=True)]
    rec = build_record(rs, [], sessions)
    pre = rec.rems_field("pre_dose").reading
    assert pre is not None and (pre.sys_mmHg, pre.dia_mmHg) == (130, 84)
    assert rec.first_reading_t == t + 300
    assert rec.monitoring_s is None  # not ended; it counts from the dose anyway
    assert [(v.values["sys_mmHg"], v.device_time) for v in rec.stored] == [
        (190, (T0 - timedelta(days=3)).timestamp()),
        (185, None),
    ]
    rows = list(vitals_rows(rec))
    assert [(r["stored"], r["sys_mmHg"], r["device"]) for r in rows] == [
        ("true", "190", "cuff"),
        ("false", "130", "cuff"),
        ("true", "185", "cuff"),
    ]
    assert rows[0]["device_time_utc"] == "2026-11-27T09:00:00Z"
    assert rows[2]["device_time_utc"] == ""  # device time unknown


def spo2(pct: float, at: datetime | None, *, record: bool) -> Reading:
    return Reading(
        chair="chair-1",
        device="oxi",
        kind=Kind.SPO2,
        values={"spo2_pct": pct, "pulse_bpm": 70.0},
        measured_at=T0,
        received_at=T0,
        device_time=at,
        record=record,
    )


def test_plx_spot_check_resent_is_dropped_by_the_hub_not_the_transport() -> None:
    """A PLX spot-check (a record the oximeter re-sends on the next connection; marked by
    its decoder, drivers/ble_plx.py) is told new or repeated here, like BP, and the key
    is kept with `bp-seen`, so a re-push after a restart is still a repeat."""
    sr = StoredRecords()
    sr.link("oxi", True, 0.0)
    spot = spo2(97, T0, record=True)
    assert sr.offer(spot, 0.1) == ([spot], False)  # live at once: no burst for spot-checks
    sr.link("oxi", False, 5.0)
    sr.link("oxi", True, 9.0)
    assert sr.offer(spo2(97, T0, record=True), 9.1) == ([], True)  # pushed again
    newer = spo2(93, T0 + timedelta(minutes=5), record=True)
    assert sr.offer(newer, 9.2) == ([newer], False)
    assert sr.repeats == 1
    restarted = StoredRecords(sr.seen_keys())
    assert restarted.offer(spo2(93, T0 + timedelta(minutes=5), record=True), 0.0) == ([], True)
    # the decoder marks it: the PLX spot-check profile does, the continuous one does not
    from monitord.drivers.ble_plx import cont_sample, spot_sample

    m = spot_sample(bytes.fromhex("0061006200"), frozenset())  # flags 0: SpO2 97, PR 98
    assert not isinstance(m, Reject) and m.record
    c = cont_sample(bytes.fromhex("0061006200"), frozenset())
    assert not isinstance(c, Reject) and not c.record


def test_stream_samples_with_a_stuck_clock_are_never_repeats() -> None:
    """A serial oximeter's 1-s lines may carry a stuck device clock and steady values:
    samples of a stream are new by definition, whatever their clock says."""
    sr = StoredRecords()
    connected_long_ago(sr, "oxi")
    for i in range(5):
        s = spo2(97, STUCK, record=False)
        assert sr.offer(s, 100.0 + i) == ([s], False)
    assert sr.repeats == 0


def test_a_reading_its_device_sends_from_storage_is_history() -> None:
    """The PLX "Measurement From Storage" status (flag `from_storage`) on a spot-check:
    stored, counted; re-sent, still a repeat (tests/ble/test_plx_from_storage.py shows it
    on a real BLE link). On a stream sample it is not taken (when in doubt, live)."""
    sr = StoredRecords()
    at = T0 - timedelta(days=1)
    spot = Reading(
        "chair-1",
        "ox",
        Kind.SPO2,
        {"spo2_pct": 88.0},
        T0,
        T0,
        flags=("from_storage",),
        device_time=at,
        record=True,
    )
    ready, repeat = sr.offer(spot, 1.0)
    assert ready == [spot] and not repeat
    assert sr.as_told(spot).stored and sr.stored == 1
    stream = replace(spot, device_time=None, record=False)
    assert sr.as_told(stream) is stream and sr.stored == 1
    assert sr.offer(spot, 2.0) == ([], True)
    live = replace(spot, flags=())
    assert sr.as_told(live) is live and sr.stored == 1


def test_a_stuck_spot_check_clock_never_hides_a_same_valued_re_measure() -> None:
    """clinical-rules.md: "a stuck or unset device clock never hides a new measurement",
    for a PLX spot-check as for BP (history.py: a spot-check is told new or repeated like a
    BP record). Two spot-checks with different values at one device time tell the clock
    stuck; then 97 % again at that time is a new spot-check, taken, not a repeat of the
    first. Without the stuck check on the spot-check path, it was dropped as a repeat."""
    sr = StoredRecords()
    connected_long_ago(sr, "oxi")
    assert sr.offer(first := spo2(97, STUCK, record=True), 100.0) == ([first], False)
    assert sr.offer(second := spo2(88, STUCK, record=True), 160.0) == ([second], False)
    assert sr.stuck == {"oxi"}
    again = spo2(97, STUCK, record=True)
    assert sr.offer(again, 220.0) == ([again], False)
    assert sr.repeats == 0


def test_a_stored_cuff_error_is_no_rejected_bp_gap_of_the_session() -> None:
    """A stored record is history (clinical-rules.md: "stored, marked `stored`, shown in
    reports, and fed to no rule"): a cuff error from the cuff's memory, pushed during the
    session, is listed as a stored record, not as "BP reading rejected" in the session's
    gaps (that list is what the session's own readings lacked). Before this test, a
    record that counted stored readings among the rejected ones went unnoticed."""
    t = T0.timestamp()
    sessions = [
        SessionEvent(t, "chair-1", "start", "esketamine", "s-1"),
        SessionEvent(t + 600, "chair-1", "dose_start", "esketamine", "s-1"),
    ]
    at = utc(t + 300)
    err = replace(
        bp(190, 115, T0 - timedelta(days=2)),
        valid=False,
        flags=("cuff_error",),
        stored=True,
        measured_at=at,
        received_at=at,
    )
    live = replace(bp(130, 84, T0), measured_at=utc(t + 200), received_at=utc(t + 200))
    rec = build_record([live, err], [], sessions)
    assert [v.values["sys_mmHg"] for v in rec.stored] == [190]
    assert [g for g in rec.gaps if g.what == "invalid_bp"] == [], rec.gaps
