"""A daemon stopped while a full disk holds its output, the disk freed since the last
retry (an operator frees space, then restarts the service): the stop stores what is held
and ends cleanly.

Before: the stop's flush (in the store-close thread) stored the held batches, then asked
for a group commit of the delivery marks, which needs the event loop: "RuntimeError: no
running event loop", a traceback and exit 1, and the close's last steps (checkpoint,
lock) not run. A real tmpfs filled to ENOSPC; the guard's own retry is kept from running
(its next try set past the test) so the stop is what meets the freed disk.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

from monitord.aio import on_loop
from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from tests.e2e.e2e_kit import mqtt_section
from tests.faults.storekit import fill, tmpfs, until_held
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import Observer, eventually
from tests.servers import Mosquitto


async def test_a_stop_after_the_disk_was_freed_stores_what_was_held(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "2m") as disk:
        daemon = Daemon(loads_config(two_chairs(disk, "freed-at-stop")))
        async with running(daemon):  # before: its stop raised RuntimeError here
            filler = fill(disk)
            try:
                await until_held(daemon, "chair-a")
                daemon.store._next_try = math.inf  # no retry: the stop meets the freed disk
                held = sum(b.n_readings() for b in daemon.store.held)
                assert held > 0
            finally:
                filler.unlink()
        assert not daemon.store.held
        path = disk / "store.sqlite"
        ob = Outbox(path, StorageConfig(path=path))
        try:
            stored = len(ob.recent_readings("chair-a", Kind.HR, 1_000_000))
        finally:
            ob.close()
        assert stored >= held


def _bp(chair: str) -> Reading:
    return reading(chair, Kind.BP, {"sys_mmHg": 210.0, "dia_mmHg": 100.0})  # bp.crisis


def _mqtt_backlog(path: Path) -> int:
    ob = Outbox(path, StorageConfig(path=path))
    try:
        return ob.backlog("mqtt")
    finally:
        ob.close()


async def test_after_the_freed_disk_stop_a_restart_sends_each_alarm_once(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    # The stop's flush runs off the loop and asks for no group commit (storeguard.py
    # `_recovered`): the delivery mark the full disk refused (chair-a's alarm, sent) must
    # still be written by it, else the restart sends that alarm again; the held alarm
    # (chair-b's, never sent) must be left pending, else it is never sent.
    login = mqtt_section(mosquitto, mqtt_prefix).replace("[mqtt]\n", "")
    with tmpfs(tmp_path / "disk", "2m") as disk:
        cfg = loads_config(two_chairs(disk, "freed-restart", mqtt=login))
        path = disk / "store.sqlite"
        async with Observer(mosquitto, [f"{mqtt_prefix}/#"]) as obs:
            daemon = Daemon(cfg)
            async with running(daemon):
                await eventually(lambda: daemon.mqtt is not None and daemon.mqtt.connected, 10)
                daemon.chairs["chair-a"].submit(_bp("chair-a"))
                await eventually(lambda: len(obs.of("chair-a/alerts/events")) == 1, 10, "sent")
                filler = fill(disk)
                try:
                    await until_held(daemon, "chair-a")
                    daemon.store._next_try = math.inf  # the stop meets the freed disk
                    daemon.chairs["chair-b"].submit(_bp("chair-b"))
                    held = daemon.store.held
                    await eventually(lambda: any(b.events for b in held), 10, "chair-b held")
                finally:
                    filler.unlink()
            assert _mqtt_backlog(path) == 1  # chair-b's alarm alone
            async with running(Daemon(cfg)):
                await eventually(lambda: obs.of("chair-b/alerts/events"), 10, "sent at restart")
            assert _mqtt_backlog(path) == 0
        assert len(obs.of("chair-a/alerts/events")) == 1
        assert len(obs.of("chair-b/alerts/events")) == 1


async def test_the_stop_tells_the_listeners_of_what_it_stored_on_the_loop(tmp_path: Path) -> None:
    """The batches the stop's flush stores (the store-close thread writes them) are told
    to the hub's listeners on the loop's thread, as every commit's are: before, their
    `done` ran in the store-close thread, calling the listeners (the MQTT sink, the
    console, the annunciator's poke) and resolving commands' futures off their loop."""
    told: list[tuple[str, bool]] = []  # (chair, on the loop's thread)
    with tmpfs(tmp_path / "disk", "2m") as disk:
        daemon = Daemon(loads_config(two_chairs(disk, "freed-listeners")))
        loop_thread = threading.current_thread()

        def listener(batch: CommittedBatch) -> None:
            told.append((batch.chair, threading.current_thread() is loop_thread and on_loop()))

        daemon.hub.subscribe(listener, "test")
        async with running(daemon):
            filler = fill(disk)
            try:
                await until_held(daemon, "chair-a")
                daemon.store._next_try = math.inf  # no retry: the stop meets the freed disk
                held = [b for b in daemon.store.held if b.chair == "chair-a"]
                assert held
                before = len(told)
            finally:
                filler.unlink()
        assert not daemon.store.held
        at_stop = told[before:]
        assert len([c for c, _ in at_stop if c == "chair-a"]) >= len(held), at_stop
        assert all(on for _, on in at_stop), at_stop
