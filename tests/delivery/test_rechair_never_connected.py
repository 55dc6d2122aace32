"""A chair id that never reached the broker in its run (the broker down or refusing its
connection the whole run, a typo'd id with a login the broker does not know), then changed
(docs/operations.md, "A Pi moved to another chair").

Before: the start after the edit said at WARNING that "the broker keeps its retained status
(offline) and its active set" of the old id, "which every station shows until they are
cleared with that chair's own login": nothing of it was ever on the broker, and no such
login may exist. The cases already fixed (MQTT disabled: test_rechair_no_broker.py; every
publish refused by the ACL: tests/heard/test_rechair_typo.py) left this one: a connection
that never got through. Now each run's `daemon` row names the chairs the broker took a
publish of (`reached_broker`, carried from run to run under one MQTT base), and a departed
chair outside it is said at INFO, with no advice to clear anything.

One real `monitord run` (its broker's port closed: every connection refused), then the
next start's check in process on that store (a daemon run costs seconds; the check reads
only the store's `daemon` row).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from monitord.config import load_config
from monitord.outbox import Durability, Outbox
from monitord.storeroutes import route_queues
from tests.e2e.e2e_kit import CHAIR, DaemonProcess, write_config
from tests.kit import eventually
from tests.servers import free_port

TYPO = "chiar-1"


def ran(db: Path, cfg: Path, chair: str) -> None:
    """A run of `cfg` that reached no broker: its `daemon` row as the daemon writes it
    (`reached_broker`: what its start carried, `route_queues`)."""
    ob = Outbox(db, load_config(cfg).storage)
    try:
        carried = route_queues(ob, load_config(cfg))
        row = {"site": load_config(cfg).site.id, "prefix": "monitord", "chairs": [chair]}
        ob.put_state(
            "daemon", {**row, "reached_broker": sorted(carried)}, durability=Durability.NORMAL
        )
    finally:
        ob.close()


def two_ids(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A config of chair-1 on a broker, the same with the typo'd id, and their store."""
    one = write_config(tmp_path, mqtt='\n[mqtt]\nhost = "127.0.0.1"\n')
    typo = tmp_path / "typo.toml"
    typo.write_text(one.read_text().replace(f'id = "{CHAIR}"', f'id = "{TYPO}"'))
    return one, typo, tmp_path / "outbox.sqlite"


def put_daemon_row(db: Path, cfg: Path, row: Mapping[str, object]) -> None:
    """The store's `daemon` row as an earlier run (or an older daemon) left it."""
    ob = Outbox(db, load_config(cfg).storage)
    try:
        ob.put_state("daemon", row, durability=Durability.NORMAL)
    finally:
        ob.close()


def departed_lines(db: Path, cfg: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the next start with `cfg` says of departed chairs: its store check, in process."""
    caplog.clear()
    with caplog.at_level(logging.INFO, "monitord"):
        ob = Outbox(db, load_config(cfg).storage)
        try:
            route_queues(ob, load_config(cfg))
        finally:
            ob.close()
    return [f"{r.levelname} {r.getMessage()}" for r in caplog.records if TYPO in r.getMessage()]


async def test_a_chair_that_never_reached_the_broker_is_not_said_to_leave_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens: the broker refuses (is not there) all run long
    mqtt = f'\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
    cfg = write_config(tmp_path, mqtt=mqtt)
    right = cfg.read_text()
    cfg.write_text(right.replace(f'id = "{CHAIR}"', f'id = "{TYPO}"'))
    d = DaemonProcess(cfg, tmp_path / "typo.log")
    d.start()
    try:
        await eventually(
            lambda: "not reachable (connection refused)" in d.output(), 30, "a refused connection"
        )
    finally:
        assert d.stop() == 0, d.output()
    db = tmp_path / "outbox.sqlite"
    cfg.write_text(right)  # the id fixed
    said = departed_lines(db, cfg, caplog)
    assert len(said) == 1 and said[0].startswith("INFO "), said
    assert "its connection never got through to the broker" in said[0], said
    assert "the broker keeps" not in said[0] and "own login" not in said[0], said
    ob = Outbox(db, load_config(cfg).storage)
    try:  # the typo'd run's row, as `monitord status --json` shows it
        assert ob.get_state("daemon")["reached_broker"] == [], ob.get_state("daemon")
    finally:
        ob.close()


@pytest.mark.parametrize(
    "row",
    [
        pytest.param({"reached_broker": [TYPO]}, id="reached"),
        pytest.param({}, id="daemon-older-than-the-key"),
        # Refused in the last run, taken in one before: before, INFO "it keeps nothing of
        # that run's", and the earlier run's retained status and alarms went unsaid.
        pytest.param(
            {"reached_broker": [TYPO], "publish_refused": {TYPO: "not authorized"}},
            id="refused-last-run-reached-before",
        ),
    ],
)
def test_a_chair_that_reached_the_broker_still_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, row: dict[str, object]
) -> None:
    # The broker keeps what it took (its retained status and active set): the WARNING
    # stays, also when the last run's row cannot say (a daemon older than the key).
    cfg = write_config(tmp_path, mqtt='\n[mqtt]\nhost = "127.0.0.1"\n')
    db = tmp_path / "outbox.sqlite"
    ob = Outbox(db, load_config(cfg).storage)
    daemon = {"site": "site-a", "prefix": "monitord", "chairs": [TYPO], **row}
    ob.put_state(
        "daemon", {**daemon, "site": load_config(cfg).site.id}, durability=Durability.NORMAL
    )
    ob.close()
    said = departed_lines(db, cfg, caplog)
    assert len(said) == 1 and said[0].startswith("WARNING "), said
    assert "the broker keeps its retained status" in said[0], said


def test_reached_is_carried_to_the_next_run_under_one_base(tmp_path: Path) -> None:
    # chair-1 reached the broker in a run before the last (the last: the broker down all
    # run long): still counted, so its departure later still warns.
    cfg = write_config(tmp_path, mqtt='\n[mqtt]\nhost = "127.0.0.1"\n')
    site = load_config(cfg).site.id
    db = tmp_path / "outbox.sqlite"
    ob = Outbox(db, load_config(cfg).storage)
    try:
        row = {"site": site, "prefix": "monitord", "chairs": [CHAIR], "reached_broker": [CHAIR]}
        ob.put_state("daemon", row, durability=Durability.NORMAL)
        assert route_queues(ob, load_config(cfg)) == {CHAIR}
        ob.put_state("daemon", {**row, "prefix": "other"}, durability=Durability.NORMAL)
        assert route_queues(ob, load_config(cfg)) == frozenset()  # another base's
    finally:
        ob.close()


def test_a_chair_that_left_and_came_back_keeps_its_first_runs_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # TYPO ran and reached the broker; the Pi was moved to chair-1 (TYPO departed: warned);
    # moved back to TYPO for a run with the broker down all run long; then to chair-1 again.
    # The broker still holds TYPO's retained status of the first run: before, only this
    # config's chairs were carried, so TYPO was dropped while it was away and its second
    # departure was said at INFO, that nothing of it ever reached the broker.
    one, typo, db = two_ids(tmp_path)
    site = load_config(one).site.id
    first = {"site": site, "prefix": "monitord", "chairs": [TYPO], "reached_broker": [TYPO]}
    put_daemon_row(db, one, first)
    ran(db, one, CHAIR)  # TYPO departed once: warned (its state is on the broker)
    ran(db, typo, TYPO)  # back, the broker down
    said = departed_lines(db, one, caplog)
    assert len(said) == 1 and said[0].startswith("WARNING "), said
    assert "the broker keeps its retained status" in said[0], said


def test_after_an_upgrade_from_a_row_without_chairs_a_departure_still_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A daemon older than the `chairs` key (and `reached_broker`) ran chair-1 and reached
    # the broker; the first run after the upgrade had no broker; then chair-1 departed.
    # Before, nothing was carried from the old row, and the departure was said at INFO,
    # that nothing of it ever reached the broker, while it holds chair-1's retained state.
    one, typo, db = two_ids(tmp_path)
    old = {"pid": 1, "site": load_config(one).site.id, "summary": "", "tasks": []}
    put_daemon_row(db, one, old)
    ran(db, one, CHAIR)  # upgraded; the broker down all run
    departed_lines(db, typo, caplog)  # chair-1's line: its id, not TYPO, is in it
    said = [f"{r.levelname} {r.getMessage()}" for r in caplog.records if CHAIR in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("WARNING "), said
    assert "the broker keeps its retained status" in said[0], said
