"""Which technical-alarm copy `monitord status` shows (techalarm.py `newer`), in the cases
the clock-stepped test (test_alarm_copy_clock.py) does not reach: copies of two boots, a
card copy this boot's daemon wrote after its RAM copy failed to be written, and copies of
the format before `boot`/`mono` (wall clock only). Real files where the daemon keeps them
(the runtime directory, beside the store), read by load_alarm_file as status reads them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from monitord.clock import boot_id
from monitord.techalarm import alarm_file, load_alarm_file, runtime_alarm_file

EARLIER_BOOT = "00000000-0000-4000-8000-000000000000"


def doc(name: str, updated: str, boot: str | None = None, mono: float | None = None) -> Any:
    d: dict[str, Any] = {"pid": 1, "updated": updated, "active": {name: {"text": name}}}
    if boot is not None:
        d |= {"boot": boot, "mono": mono}
    return d


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "run"))
    assert boot_id() is not None  # Linux: this boot's id
    return tmp_path / "outbox.sqlite"


def shown(store: Path, card: Any, ram: Any) -> str:
    alarm_file(store).write_text(json.dumps(card) + " " * 100)  # padded, as written
    runtime_alarm_file(store).write_text(json.dumps(ram) + " " * 100)
    got = load_alarm_file(store)
    assert got is not None
    return str(next(iter(got["active"])))


def test_the_ram_copy_of_this_boot_beats_a_card_copy_of_an_earlier_one(store: Path) -> None:
    # The earlier boot's clock ran ahead (no RTC): its card copy reads as written later.
    card = doc("card", "2099-01-01T00:00:00.000Z", EARLIER_BOOT, 10**9)
    ram = doc("ram", "2026-01-01T00:00:00.000Z", boot_id(), time.monotonic())
    assert shown(store, card, ram) == "ram"


def test_a_card_copy_written_after_the_ram_copy_in_this_boot_is_shown(store: Path) -> None:
    # The RAM copy could not be written after a moment; the card's went on (a wall clock
    # stepped back between them: by `updated`, the RAM copy would read as the newer).
    now = time.monotonic()
    ram = doc("ram", "2026-01-01T01:00:00.000Z", boot_id(), now - 100)
    card = doc("card", "2026-01-01T00:00:00.000Z", boot_id(), now)
    assert shown(store, card, ram) == "card"


def test_copies_of_the_older_format_are_taken_by_wall_clock(store: Path) -> None:
    old, new = "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z"
    assert shown(store, doc("card", new), doc("ram", old)) == "card"
    assert shown(store, doc("card", old), doc("ram", new)) == "ram"
    # One of the older format (written before this version ran), one of this boot's.
    assert shown(store, doc("card", new), doc("ram", old, boot_id(), 1.0)) == "ram"
