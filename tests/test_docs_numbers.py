"""The numbers docs/reliability.md and docs/devices.md state are the code's.

The engineer reads how long a link waits (a reconnect's backoff, a scan, a connect, a
hang-up), how long a hung disk is waited for and what is kept in memory, in the docs, not
in the code; the link numbers decide how soon a replugged adapter or a paired cuff is read
again and its `tech.device_lost` cleared. No test held most of them: the tests compare
with the module's own constants, so a changed constant and a stale sentence passed
together. Each row is a sentence of the docs (whitespace folded) and the constant it
states; a change to either fails here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from monitord.config import MqttConfig
from monitord.drivers.ble_errors import AmbiguousName, NeedsPairing, NoAdapter, Transient
from monitord.drivers.ble_link import LinkTiming
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff

DOCS = Path(__file__).parents[1] / "docs"


def _text(name: str) -> str:
    return re.sub(r"\s+", " ", (DOCS / name).read_text(encoding="utf-8"))


def _g(x: float) -> str:
    return f"{x:g}"


_PORT = PortBackoff()
_BLE = LinkTiming()

ROWS: list[tuple[str, str]] = [
    # serial reconnects (reliability.md "the serial reconnect backoff")
    ("reliability.md", f"shortest delay ({_g(_PORT.min_s)} to {_g(_PORT.base_s)} s)"),
    ("reliability.md", f"capped at {_g(_PORT.missing_cap_s)} s (`PortBackoff.missing_cap_s`"),
    ("reliability.md", f"The other classes keep the {_g(_PORT.cap_s)} s cap"),
    ("reliability.md", f"(its cable and USB adapter advice, its {_g(_PORT.missing_cap_s)}-s cap)"),
    # BLE reconnects, per error class
    (
        "reliability.md",
        f"(`Transient`: {_g(Transient.backoff_base_s)} s doubling to "
        f"{_g(Transient.backoff_cap_s)} s)",
    ),
    (
        "reliability.md",
        f"backoff of {_g(AmbiguousName.backoff_base_s)} s doubling to "
        f"{_g(AmbiguousName.backoff_cap_s)} s",
    ),
    (
        "reliability.md",
        f"retried from {_g(NeedsPairing.backoff_base_s)} s up to "
        f"{_g(NeedsPairing.backoff_cap_s)} s",
    ),
    (
        "devices.md",
        f"retried every {_g(NeedsPairing.backoff_base_s)} s doubling to "
        f"{_g(NeedsPairing.backoff_cap_s)} s",
    ),
    ("reliability.md", f"at most {_g(NoAdapter.backoff_cap_s)} s apart, however long"),
    # BLE scan, name window, connect and hang-up
    (
        "reliability.md",
        f"for `name_window_s` ({_g(_BLE.name_window_s)} s; at most a quarter of the "
        f"{_g(_BLE.scan_timeout_s)}-s scan)",
    ),
    ("devices.md", f"the scan goes on for up to {_g(_BLE.name_window_s)} s"),
    ("devices.md", f"A connect that does not finish in {_g(_BLE.connect_timeout_s)} s"),
    (
        "devices.md",
        f"(at most {_g(_BLE.disconnect_timeout_s)} s, {_g(2 * _BLE.disconnect_timeout_s)} s "
        "for a connect cut short)",
    ),
]


@pytest.mark.parametrize(("doc", "sentence"), ROWS, ids=[s for _, s in ROWS])
def test_the_docs_state_the_codes_number(doc: str, sentence: str) -> None:
    assert sentence in _text(doc), f"docs/{doc} does not say: {sentence}"


def test_the_serial_silences_devices_md_states() -> None:
    # devices.md, "A serial device's silence": the default and each driver's own
    silence = {name: DRIVERS[name].default_silence_s for name in ("nonin-2", "contec-cms50")}
    default = DRIVERS["masimo-ascii"].default_silence_s
    assert default is not None
    said = (
        f"(default: {_g(default)} s; Nonin {_g(silence['nonin-2'] or 0)} s, "
        f"CMS50 {_g(silence['contec-cms50'] or 0)} s)"
    )
    assert said in _text("devices.md"), said


def _n(x: float) -> str:
    """A count as the docs print it (50,000; 16,384)."""
    return f"{x:,.0f}"


def _store_rows() -> list[tuple[str, str]]:
    from monitord.config import StorageConfig
    from monitord.daemon import Daemon
    from monitord.history import SEEN_MAX
    from monitord.receipts import KEEP_BAD_STATIONS, KEEP_EARLY, KEEP_HEARD, KEEP_WAITING
    from monitord.sinks.commands import MAX_COMMAND_BYTES, MAX_COMMAND_DEPTH
    from monitord.sinks.mqtt_incoming import FOREIGN_SAID_MAX
    from monitord.store.space import FULL_DISK_BYTES
    from monitord.store.stamps import BASES, HORIZON_NS, KEPT_MAX, RESTART_IDS, WINDOW
    from monitord.storeguard import HELD_READINGS_MAX, RETRY_CAP_S, RETRY_INITIAL_S
    from monitord.storestall import CLEAR_AFTER
    from monitord.storestop import STOP_WAIT_S
    from monitord.supervisor import HEALTHY_AFTER_S, RELAPSE_WINDOW_S
    from monitord.taskalarm import CRASH_ALARM_AFTER

    stall = StorageConfig.model_fields["stall_alarm_after_s"].default
    restart_cap = inspect.signature(Daemon).parameters["restart_backoff_s"].default[1]
    age = MqttConfig.model_fields["command_max_age_s"].default
    return [
        # "Full disk"
        (
            "reliability.md",
            f"(retries with backoff {_g(RETRY_INITIAL_S)} s to {_g(RETRY_CAP_S)} s)",
        ),
        ("reliability.md", f"held readings beyond {_n(HELD_READINGS_MAX)} are dropped oldest"),
        # "A disk that hangs"
        ("reliability.md", f"`storage.stall_alarm_after_s` ({_g(stall)} s)"),
        (
            "reliability.md",
            f"for {CLEAR_AFTER} x `stall_alarm_after_s` ({_g(CLEAR_AFTER * stall)} s by default)",
        ),
        ("reliability.md", f"for at most {_g(STOP_WAIT_S)} s from its start (`STOP_WAIT_S`;"),
        # "A task that crashes at every start"
        ("reliability.md", f"after a backoff capped at {_g(restart_cap)} s"),
        (
            "reliability.md",
            f"crashed {CRASH_ALARM_AFTER} times in a row (no run in between lasting "
            f"{_g(HEALTHY_AFTER_S)} s)",
        ),
        ("reliability.md", f"once the task has run {_g(HEALTHY_AFTER_S)} s since its last"),
        (
            "reliability.md",
            f"crashed {CRASH_ALARM_AFTER} times within {_g(RELAPSE_WINDOW_S / 60)} min",
        ),
        # "Retained and stale commands", "Hostile commands"
        ("reliability.md", f"`[mqtt] command_max_age_s` ({_g(age)} s)"),
        ("reliability.md", f"more than {MAX_COMMAND_BYTES // 1024} KiB is refused before"),
        ("reliability.md", f"nesting deeper than {MAX_COMMAND_DEPTH} levels is refused"),
        # "A bad store at start"
        ("reliability.md", f"(under {FULL_DISK_BYTES >> 20} MiB free where its file is"),
        # "A months-long run": the bounds of the long-lived maps
        ("reliability.md", f"`SEEN_MAX` ({SEEN_MAX})"),
        ("reliability.md", f"| {KEEP_WAITING}, {KEEP_EARLY}, {KEEP_HEARD} |"),
        ("reliability.md", f"refused ones capped at {KEEP_BAD_STATIONS}"),
        (
            "reliability.md",
            f"| {WINDOW} stamps each, and every stamp within {_g(HORIZON_NS / 1e9)} s of the "
            f"series' highest (at most {_n(KEPT_MAX)}) |",
        ),
        ("reliability.md", f"| {BASES} each / the newest {_n(RESTART_IDS)} records"),
        ("reliability.md", f"| {FOREIGN_SAID_MAX} (`FOREIGN_SAID_MAX`;"),
    ]


STORE_ROWS = _store_rows()


@pytest.mark.parametrize(("doc", "sentence"), STORE_ROWS, ids=[s for _, s in STORE_ROWS])
def test_the_store_and_task_numbers_are_the_codes(doc: str, sentence: str) -> None:
    assert sentence in _text(doc), f"docs/{doc} does not say: {sentence}"


def _commit_rows() -> list[tuple[str, str]]:
    from monitord.alarmwindow import MAX_WAIT_S
    from monitord.chair import SNAPSHOT_EVERY_S
    from monitord.config import StorageConfig
    from monitord.gcpacer import pace
    from monitord.sinks.influx import LOG_BACKLOG_AT_MOST
    from monitord.store.checkpoint import CHECKPOINT_EVERY_S, CHECKPOINT_READINGS, WAL_RESET_BYTES
    from monitord.storeflood import FLOOD_INTERVAL_S, GROUP_COMMIT_READINGS
    from monitord.storeguard import SYNC_EVERY_S

    commit = StorageConfig.model_fields["commit_interval_s"].default
    prune = StorageConfig.model_fields["prune_interval_s"].default
    gc_wait = inspect.signature(pace).parameters
    wal = f"{WAL_RESET_BYTES >> 20} MiB"
    return [
        # "Commits off the event loop, group commit and the loss window"
        ("reliability.md", f'("backlog over {_n(LOG_BACKLOG_AT_MOST)} rows")'),
        ("reliability.md", f"`storage.commit_interval_s` (default {_g(commit)} s"),
        ("reliability.md", f"(a backlog, a burst: {_n(GROUP_COMMIT_READINGS)} queued)"),
        ("reliability.md", f"after each of its commits follows {_g(FLOOD_INTERVAL_S)} s later"),
        # "SD-card writes"
        (
            "reliability.md",
            f"(PASSIVE, every {_g(CHECKPOINT_EVERY_S)} s, after {_n(CHECKPOINT_READINGS)} "
            f"readings, or once the WAL file has grown past {wal})",
        ),
        ("reliability.md", f"a readings commit at least every {_g(SYNC_EVERY_S)} s"),
        ("reliability.md", f"otherwise every {_g(SNAPSHOT_EVERY_S)} s (was 2 s)"),
        # "The alarm's right of way", "The collector and the WAL", "A prune"
        ("reliability.md", f"the writer waits for it, at most {_g(MAX_WAIT_S * 1000)} ms"),
        (
            "reliability.md",
            f"a loop timer every {_g(gc_wait['interval_s'].default * 1000)} ms to "
            f"{_g(gc_wait['max_interval_s'].default)} s",
        ),
        ("reliability.md", f"checkpoints early once the file has grown past {wal}"),
        ("reliability.md", f"every `storage.prune_interval_s` ({_g(prune)} s)"),
    ]


COMMIT_ROWS = _commit_rows()


def _log_rows() -> list[tuple[str, str]]:
    from monitord.logwriter import BACKLOG, BACKLOG_CHARS, DRAIN_S, RESERVE, RESERVE_CHARS

    return [
        (
            "reliability.md",
            f"The queue holds {_n(BACKLOG)} lines, and {_n(RESERVE)} more for WARNING and above",
        ),
        ("reliability.md", f"A clean stop waits {_g(DRAIN_S)} s at most for the lines still held"),
        (
            "reliability.md",
            f"at most {_n(BACKLOG_CHARS)} characters, and {_n(RESERVE_CHARS)} more for "
            "WARNING and above",
        ),
        (
            "operations.md",
            f"{_n(BACKLOG_CHARS)} characters, and {_n(RESERVE_CHARS)} more for WARNING and above",
        ),
        (
            "operations.md",
            f"({_n(BACKLOG)} lines, and {_n(RESERVE)} more for WARNING and above;",
        ),
        ("operations.md", f"A clean stop waits {_g(DRAIN_S)} s at most for the lines still held"),
    ]


LOG_ROWS = _log_rows()


@pytest.mark.parametrize(("doc", "sentence"), LOG_ROWS, ids=[s for _, s in LOG_ROWS])
def test_the_log_queues_numbers_are_the_codes(doc: str, sentence: str) -> None:
    assert sentence in _text(doc), f"docs/{doc} does not say: {sentence}"


@pytest.mark.parametrize(("doc", "sentence"), COMMIT_ROWS, ids=[s for _, s in COMMIT_ROWS])
def test_the_commit_and_checkpoint_numbers_are_the_codes(doc: str, sentence: str) -> None:
    assert sentence in _text(doc), f"docs/{doc} does not say: {sentence}"


def _prune_rows() -> list[tuple[str, str]]:
    from monitord.daemon import ALIVE_POLL_S
    from monitord.store.base import PAGE_SIZE
    from monitord.store.outages import ALIVE_WITHIN_S
    from monitord.store.retention import (
        PRUNE_STEP_ROWS,
        SCAN_STEP_IDS,
        VACUUM_FREE_SHARE,
        VACUUM_STEP_PAGES,
    )
    from monitord.storeguard import LIVE_HEARTBEAT_S

    return [
        # "A prune off the alarm's path"
        (
            "reliability.md",
            f"at most {PRUNE_STEP_ROWS} rows deleted or "
            f"{VACUUM_STEP_PAGES * PAGE_SIZE >> 20} MiB of free pages given back",
        ),
        ("reliability.md", f"no step deletes more than {PRUNE_STEP_ROWS} rows"),
        ("reliability.md", f"A step also reads at most {_n(SCAN_STEP_IDS)} ids"),
        (
            "reliability.md",
            f"only when free pages are over {VACUUM_FREE_SHARE * 100:g} % of the file",
        ),
        # "A daemon outage in a session is a gap of its report"
        ("reliability.md", f"on its {_g(LIVE_HEARTBEAT_S)}-s heartbeat"),
        ("reliability.md", f"(it looks every {_g(ALIVE_POLL_S)} s whether one is due)"),
        ("reliability.md", f"its stop is dated within about {_g(ALIVE_WITHIN_S)} s"),
    ]


PRUNE_ROWS = _prune_rows()


@pytest.mark.parametrize(("doc", "sentence"), PRUNE_ROWS, ids=[s for _, s in PRUNE_ROWS])
def test_the_prune_and_outage_numbers_are_the_codes(doc: str, sentence: str) -> None:
    assert sentence in _text(doc), f"docs/{doc} does not say: {sentence}"


def _operations_rows() -> list[tuple[str, str]]:
    from annotated_types import MaxLen

    from monitord.chair_records import WAIT_MAX_S
    from monitord.config import InfluxConfig, StorageConfig
    from monitord.daemon import Daemon
    from monitord.history import BURST_GAP_S, BURST_OPEN_S, SEEN_MAX
    from monitord.scenario import AckEvent, Bp
    from monitord.simulators.player import LINK_UP_TIMEOUT_S
    from monitord.sinks.commands import MAX_COMMAND_BYTES, MAX_COMMAND_DEPTH
    from monitord.sinks.influx import PROBE_IDLE_S
    from monitord.sinks.mqtt import MqttSink
    from monitord.sinks.mqtt_takeover import CLOSES, TAKEOVER_RETRY_S
    from monitord.storeopen import EX_TEMPFAIL
    from monitord.supervisor import HEALTHY_AFTER_S, RELAPSE_WINDOW_S
    from monitord.taskalarm import CRASH_ALARM_AFTER

    mqtt = MqttConfig.model_fields
    hold = 2 * inspect.signature(MqttSink).parameters["backoff_cap_s"].default
    stall = StorageConfig.model_fields["stall_alarm_after_s"].default
    ping = InfluxConfig.model_fields["timeout_s"].default
    restart_cap = inspect.signature(Daemon).parameters["restart_backoff_s"].default[1]
    chair_max = next(
        m.max_length for m in Bp.model_fields["chair"].metadata if isinstance(m, MaxLen)
    )
    by_max = next(
        m.max_length for m in AckEvent.model_fields["by"].metadata if isinstance(m, MaxLen)
    )
    assert RELAPSE_WINDOW_S == 3600  # "within an hour", "in the last hour"
    assert PROBE_IDLE_S == 60  # "for a minute", "within about a minute"
    return [
        # "Stored records (device memory) and repeated BP measurements"
        ("operations.md", f"The last {SEEN_MAX} taken per chair are kept in the store"),
        (
            "operations.md",
            f"BP records arriving within {_g(BURST_OPEN_S)} s of a device's connection, and "
            f"then each within {_g(BURST_GAP_S)} s of the previous one, are one burst",
        ),
        (
            "operations.md",
            f"(~{_g(BURST_GAP_S)} s after its last record; never more than {_g(WAIT_MAX_S)} s:",
        ),
        # "`monitord status`: the broker and the database"
        ("operations.md", f"no answer within {ping:.1f} s (the server is slow or frozen)"),
        ("operations.md", f"it asks again in {_g(PROBE_IDLE_S)} s, or at the next write"),
        ("operations.md", f"twice the reconnect backoff's cap ({_g(hold)} s)"),
        ("operations.md", f"it is said after {CLOSES} such closes in a row"),
        ("operations.md", f"reconnecting at most {_g(TAKEOVER_RETRY_S)} s apart while it lasts"),
        # install.md, "Fleet configuration": two Pis with one chair file
        ("install.md", f"until a connection holds for a {'minute' if hold == 60 else hold}."),
        ("install.md", f"reconnecting, at most {_g(TAKEOVER_RETRY_S)} s apart, so each chair's"),
        # Commands (the station's, by hand)
        (
            "operations.md",
            f"`[mqtt] command_max_age_s` ({_g(mqtt['command_max_age_s'].default)} s)",
        ),
        (
            "operations.md",
            f"Commands over {MAX_COMMAND_BYTES // 1024} KiB or nested deeper than "
            f"{MAX_COMMAND_DEPTH} levels are refused before they are parsed",
        ),
        # "The local store and its technical alarms"
        ("operations.md", f"a second `monitord run` on it exits {EX_TEMPFAIL} naming"),
        ("operations.md", f"`storage.stall_alarm_after_s` (default {_g(stall)} s)"),
        (
            "operations.md",
            f"`mqtt.delivery_alarm_after_s` ({_g(mqtt['delivery_alarm_after_s'].default)} s)",
        ),
        (
            "operations.md",
            f"high/medium alarm within {_g(mqtt['receipt_timeout_s'].default)} s: docs/delivery.md",
        ),
        (
            "operations.md",
            f"crashed {CRASH_ALARM_AFTER} times in a row, none of its runs in between lasting "
            f"{_g(HEALTHY_AFTER_S)} s, or {CRASH_ALARM_AFTER} times within an hour",
        ),
        ("operations.md", f"(backoff up to {_g(restart_cap)} s)"),
        ("operations.md", f"It clears once the task has run {_g(HEALTHY_AFTER_S)} s since"),
        ("operations.md", f"once fewer than {CRASH_ALARM_AFTER} such crashes remain"),
        # docs/scenarios.md
        ("scenarios.md", f"up to {chair_max} characters"),
        ("scenarios.md", f"optional `by` (the nurse, 1 to {by_max} characters, as in `cmd/ack`)"),
        (
            "scenarios.md",
            f"(up to {_g(LINK_UP_TIMEOUT_S)} s for the ports, then {_g(LINK_UP_TIMEOUT_S)} s "
            "for the BLE links;",
        ),
    ]


OPERATIONS_ROWS = _operations_rows()


@pytest.mark.parametrize(("doc", "sentence"), OPERATIONS_ROWS, ids=[s for _, s in OPERATIONS_ROWS])
def test_the_operations_and_scenario_numbers_are_the_codes(doc: str, sentence: str) -> None:
    assert sentence in _text(doc), f"docs/{doc} does not say: {sentence}"


def _setting(path: str, key: str) -> str:
    """The value of `key` in a shipped config file (`Key=value` or `key value`)."""
    text = (Path(__file__).parents[1] / path).read_text(encoding="utf-8")
    m = re.search(rf"^{re.escape(key)}[ =](\S+)\s*$", text, re.M)
    assert m, f"{path} sets no {key}"
    return m.group(1)


def test_the_shipped_units_and_broker_settings_operations_md_states() -> None:
    # The admin reads these in docs/operations.md, not in the unit or the broker's file.
    ops = _text("operations.md")
    station_dog = _setting("systemd/monitord-station.service", "WatchdogSec")
    assert f"(`Type=notify`, `WatchdogSec={station_dog}`)" in ops
    install = _text("install.md")
    for unit in ("monitord.service", "monitord-station.service"):
        dog = _setting(f"systemd/{unit}", "WatchdogSec").removesuffix("s")
        assert f"`Type=notify` with a {dog} s watchdog" in install, unit
    burst = _setting("systemd/monitord.service", "StartLimitBurst")
    assert f"systemd would give up after {burst} restarts" in ops
    listener = _setting("config/mosquitto/monitord.conf", "listener")
    assert f"TLS listener on {listener} only" in ops
    packet = int(_setting("config/mosquitto/monitord.conf", "max_packet_size"))
    assert f"It refuses MQTT packets over {packet // 1024} KiB (`max_packet_size`)" in ops
    autosave = _setting("config/mosquitto/monitord.conf", "autosave_interval")
    assert autosave == "1" and "saves its state every second (`autosave_interval 1`)" in ops
    dash = (Path(__file__).parents[1] / "config/grafana/monitord-dashboard.json").read_text()
    assert "time > now() - 2m GROUP BY" in dash
    assert "(online: a reading stored in the last 2 minutes)" in ops


def test_the_polls_scenarios_md_states() -> None:
    # docs/scenarios.md: "a real-time scenario keeps its pace at the default 1-s poll" and
    # "`config/demo.toml` polls every 2 ms at 120x": the demo's pace depends on both.
    import tomllib

    from monitord.drivers.intellivue_poll import DEFAULT_POLL_S

    text = _text("scenarios.md")
    assert f"at the default {_g(DEFAULT_POLL_S)}-s poll" in text
    demo = tomllib.loads((DOCS.parent / "config/demo.toml").read_text(encoding="utf-8"))
    (monitor,) = (d for c in demo["chairs"] for d in c["devices"] if d["driver"] == "intellivue")
    said = (
        f"`config/demo.toml` polls every {_g(monitor['poll_interval_s'] * 1000)} ms at "
        f"{_g(monitor['simulate_speed'])}x"
    )
    assert said in text, said
