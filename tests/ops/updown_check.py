"""An admin upgrades a running Pi from the 0.2.0 pre-release at the landed stop (commit
68a8d06, before the rechair and startbig rounds) to this version, and rolls it back when
something looks wrong, then upgrades again: each version's real `monitord run` on one
store and one runtime directory (the unit's `RuntimeDirectory=`), reading a Masimo
oximeter on a pty and publishing to a real mosquitto; each version's `monitord status` on
the store the other wrote.

What this version added to what is kept: the `daemon` row's `chairs` and `prefix` keys
(monitord/storeroutes.py: a departed chair, a renamed site), and the record of the
store's check (`checked-<key>.json` in the runtime directory, `<store>.checked` beside
it: monitord/storecheck.py).

The older version runs from `git archive 68a8d06` (its `monitord/` only) with this
venv's packages: the two versions have the same dependencies and store schema (v7).

Not in the suite (the file is not named test_*.py): it needs this repository's history
back to 68a8d06, which a shallow clone (a CI checkout of depth 1) does not have, and a
test that fails there for want of history would fail CI for nothing. Run it by hand from a
full clone before a release: `.venv/bin/python -m pytest tests/ops/updown_check.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.e2e_kit import (
    CHAIR,
    FAST_SPO2_ALERT,
    SITE,
    DaemonProcess,
    LiveFeed,
    Oximeter,
    Store,
    mqtt_section,
    write_config,
)
from tests.kit import Observer, eventually
from tests.servers import Mosquitto, free_port

OLD = "68a8d06"  # the landed stop: the last released state
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The older version's `monitord/` package, from this repository's history."""
    dest = tmp_path_factory.mktemp(f"monitord-{OLD}")
    tar = subprocess.run(
        ["git", "-C", str(REPO), "archive", OLD, "monitord"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    # It is the older code that runs there: its store opens without a record of a check.
    probe = subprocess.run(
        [sys.executable, "-c", "import monitord.storeopen as s; print(s.__file__, "
         "hasattr(s, 'sound_this_boot'))"],
        cwd=dest,
        env=env_of(dest, dest),
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert probe.stdout.split() == [str(dest / "monitord" / "storeopen.py"), "False"], probe
    return dest


def env_of(tree: Path, runtime: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "RUNTIME_DIRECTORY": str(runtime)}


class Version(DaemonProcess):
    """`monitord run` of the version whose package is in `tree` (`python -m` puts the
    working directory first on the path: the child runs there)."""

    def __init__(self, cfg: Path, log: Path, tree: Path, runtime: Path) -> None:
        super().__init__(cfg, log)
        self.tree, self.runtime = tree, runtime
        self.cwd = tree

    def env(self) -> dict[str, str]:
        return env_of(self.tree, self.runtime)


def status(tree: Path, runtime: Path, db: Path, *args: str) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "status", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tree,
        env=env_of(tree, runtime),
    )
    return p.stdout + p.stderr


async def run_a_while(
    d: Version, store: Store, also: Callable[[], bool] = lambda: True, alarmed: bool = False
) -> str:
    """Start `d`, wait until it has stored readings of its own (and `also()`), stop it
    cleanly (as the package's maintainer scripts do around an upgrade); its log."""
    before = store.readings()
    d.start()
    try:
        await eventually(lambda: store.readings() > before + 3 or not d.alive, 60, "readings")
        await eventually(lambda: also() or not d.alive, 30, "what the run is for")
        await eventually(lambda: " ready: " in d.output() or not d.alive, 30, "ready")
    finally:
        rc = d.stop()
    out = d.output()
    assert rc == 0, out[-3000:]
    assert store.readings() > before + 3, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert alarmed or "TECHNICAL ALARM" not in out, out[-3000:]
    return out


# What this version says at its first start after a chair id, a site or a prefix edit,
# and when it releases a departed chair's queue: none of it is true of an upgrade.
FALSE_AT_UPGRADE = ("ran on this Pi until the last stop", "MQTT base changed", "released")
CHECKED_AFTER = "its whole-file check runs meanwhile"


async def test_upgrade_rollback_and_upgrade_again_on_one_store(
    tmp_path: Path, old_tree: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = write_config(tmp_path, mqtt=mqtt_section(mosquitto, mqtt_prefix), extra=FAST_SPO2_ALERT)
    db = tmp_path / "outbox.sqlite"
    store = Store(db)
    runtime = tmp_path / "run"  # the unit's RuntimeDirectory (a tmpfs emptied at boot)
    runtime.mkdir()

    def old(name: str) -> Version:
        return Version(cfg, tmp_path / f"{name}.log", old_tree, runtime)

    def new(name: str) -> Version:
        return Version(cfg, tmp_path / f"{name}.log", REPO, runtime)

    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    async with Oximeter(tmp_path) as ox, LiveFeed(ox) as feed:
        # The older version's last run: its broker unreachable (the clinic's switch down)
        # while the patient desaturated: its alert events wait in the MQTT queue.
        away = tmp_path / "away.toml"
        away.write_text(
            cfg.read_text().replace(f"port = {mosquitto.port}", f"port = {free_port()}")
        )
        feed.spo2 = 80.0
        old1 = Version(away, tmp_path / "old-1.log", old_tree, runtime)
        await run_a_while(old1, store, lambda: store.backlog("mqtt") > 0, alarmed=True)
        feed.spo2 = 97.0
        queued = store.backlog("mqtt")
        assert queued > 0, (tmp_path / "old-1.log").read_text()[-3000:]
        assert not list(runtime.glob("checked-*.json")), "the older version keeps no record"

        # Each version's status on the older version's store.
        for tree in (old_tree, REPO):
            text = status(tree, runtime, db)
            assert "chair chair-1" in text and "NOT IN THE DAEMON'S CONFIG" not in text, text
            assert f"outbox mqtt: {queued} pending" in text, text

        # The upgrade's first start: the store is unknown (no record): checked first, and
        # nothing said of departed chairs, a renamed site or released deliveries: the
        # older version's queued alert events are delivered.
        async with Observer(mosquitto, [f"{base}/alerts/events"]) as nurse:
            first = await run_a_while(new("new-1"), store, lambda: store.backlog("mqtt") == 0)
            await eventually(lambda: len(nurse.of("alerts/events")) >= queued, 10, "events")
        assert CHECKED_AFTER not in first, first[-3000:]
        for said in FALSE_AT_UPGRADE:
            assert said not in first, (said, first[-3000:])
        assert len(list(runtime.glob("checked-*.json"))) == 1, first[-3000:]
        # The second start, in the same boot: monitors first, checks after.
        second = await run_a_while(new("new-2"), store)
        assert CHECKED_AFTER in second and "whole-file check passed" in second, second[-3000:]

        # The rollback: the older version on this version's store, its records left in
        # the runtime directory (it reads neither them nor the daemon row's new keys).
        # Its status, before its daemon has run: this version's daemon row, whose running
        # chairs and MQTT prefix it prints as if delivery facts (docs/install.md).
        text = status(old_tree, runtime, db)
        assert "chair chair-1" in text and "delivery: chairs=chair-1, prefix=" in text, text
        rolled = await run_a_while(old("old-2"), store)
        assert "departed" not in rolled, rolled[-3000:]
        assert "chairs=" not in status(old_tree, runtime, db)  # its own row now
        text = status(REPO, runtime, db)
        assert "chair chair-1" in text and "NOT IN THE DAEMON'S CONFIG" not in text, text

        # Upgraded again in the same boot: the record of new-2's check names the same file
        # (path, device, inode), so the store the older version wrote since is trusted and
        # checked after monitoring started (docs/install.md, "Going back": why that holds).
        again = await run_a_while(new("new-3"), store)
        assert CHECKED_AFTER in again and "whole-file check passed" in again, again[-3000:]
        for said in FALSE_AT_UPGRADE:
            assert said not in again, (said, again[-3000:])


async def test_a_chair_released_by_this_version_stays_released_under_the_older_one(
    tmp_path: Path, old_tree: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """This version released a departed chair's undelivered alert events (a chair id
    edited); the admin rolls back, the old id put back in the config with it: the older
    version finds nothing of them queued (the release is final, as its WARNING says) and
    runs on, none of them sent."""
    cfg = write_config(tmp_path, mqtt=mqtt_section(mosquitto, mqtt_prefix), extra=FAST_SPO2_ALERT)
    db = tmp_path / "outbox.sqlite"
    store = Store(db)
    runtime = tmp_path / "run"
    runtime.mkdir()
    away = tmp_path / "away.toml"
    away.write_text(cfg.read_text().replace(f"port = {mosquitto.port}", f"port = {free_port()}"))
    moved = tmp_path / "moved.toml"
    moved.write_text(cfg.read_text().replace(f'id = "{CHAIR}"', 'id = "chair-3"'))
    async with Oximeter(tmp_path) as ox, LiveFeed(ox) as feed:
        feed.spo2 = 80.0  # the broker away while chair-1's patient desaturates
        run = Version(away, tmp_path / "new-1.log", REPO, runtime)
        await run_a_while(run, store, lambda: store.backlog("mqtt") > 0, alarmed=True)
        feed.spo2 = 97.0
        released = {(e["alert_id"], e["event"]) for e in store.alert_events()}
        assert released and store.backlog("mqtt") > 0
        out = await run_a_while(Version(moved, tmp_path / "new-2.log", REPO, runtime), store)
        assert f"of chair {CHAIR!r}" in out and "never will be" in out, out[-3000:]
        assert store.backlog("mqtt") == 0, out[-3000:]

        base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
        async with Observer(mosquitto, [f"{base}/alerts/events"]) as nurse:
            rolled = Version(cfg, tmp_path / "old.log", old_tree, runtime)
            await run_a_while(rolled, store, lambda: bool(nurse.of("alerts/events")))
        assert "outbox mqtt: 0 pending" in status(old_tree, runtime, db)
    # The older version resumes chair-1's stored alarm and sends its clear; the raise
    # released before it is not sent.
    sent = {(e["alert_id"], e["event"]) for e in nurse.of("alerts/events")}
    assert not sent & released, (sent, released)
    assert {a for a, _ in sent} & {a for a, _ in released}, (sent, released)  # its clear
