"""A stop during the store's late whole-file check (monitord/storecheck.py): the loop may
be closed before the check's thread hands in its answer. Before, that hand-in raised in
the thread (call_soon_threadsafe on a closed loop): "thread store-check crashed (a bug)"
at such stops. The check itself is held here until the loop is closed, so the race the
daemon runs is taken the losing way every time."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from monitord import storecheck
from monitord.techalarm import TechAlarms


def test_a_check_answering_after_the_loop_closed_is_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_closed = threading.Event()
    answered = threading.Event()

    def held_check(path: Path, conns: list[sqlite3.Connection]) -> str:
        loop_closed.wait(10)
        answered.set()
        return "ok"

    crashes: list[Any] = []
    monkeypatch.setattr(storecheck, "_quick_check", held_check)
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    ob: Any = SimpleNamespace(memory=False, unchecked=True, path=tmp_path / "outbox.sqlite")

    async def stop_during_the_check() -> None:
        task = asyncio.create_task(storecheck.check_later(ob, TechAlarms(None)))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stop_during_the_check())
    loop_closed.set()
    assert answered.wait(10)
    for t in threading.enumerate():
        if t.name == "store-check":
            t.join(10)
    assert crashes == [], [c.exc_value for c in crashes]
