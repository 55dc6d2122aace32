"""docs/operations.md's restore block ("Backup and restore"), run line by line as written,
on a Pi whose daemon found its store sound in this boot (its record in the runtime
directory): only what ties it to a machine is mapped: `sudo` and the service user's
ownership dropped, `/var/lib/monitord`, `/run/monitord` and `/mnt/usb/...` under the test's
folder, `systemctl stop/start monitord` a real `monitord run` stopped and started.

The restored copy is checked before monitoring (the record removed by the block's `rm`),
its records kept, and a record of this boot written again for the next restart.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.e2e_kit import LiveFeed, Oximeter, Store, write_config
from tests.ops.test_docs_commands import blocks
from tests.ops.updown_check import CHECKED_AFTER, REPO, Version, run_a_while

DOC = REPO / "docs" / "operations.md"


def restore_block() -> list[str]:
    """The block after "To restore, on the new card": its command lines."""
    text = DOC.read_text()
    at = text.index("To restore, on the new card")
    line = text[:at].count("\n") + 1
    block = next(b for b in blocks(DOC) if b.line > line)
    return [ln for ln in block.text.splitlines() if ln and not ln.startswith("#")]


def backup(cfg: Path, copy: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "monitord", "backup", "-c", str(cfg), str(copy)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert made.returncode == 0, made


def sh(line: str, cmd: str) -> None:
    done = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (line, cmd, done)


async def test_the_restore_block_checks_the_copy_first_and_keeps_its_records(
    tmp_path: Path,
) -> None:
    var = tmp_path / "var" / "lib" / "monitord"
    var.mkdir(parents=True)
    runtime = tmp_path / "run" / "monitord"
    runtime.mkdir(parents=True)
    cfg = write_config(tmp_path)
    db = var / "outbox.sqlite"
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "outbox.sqlite"), str(db)))
    store = Store(db)
    usb = tmp_path / "usb"
    usb.mkdir()

    lines = restore_block()
    assert (
        lines[0] == "sudo systemctl stop monitord" and lines[-1] == "sudo systemctl start monitord"
    )
    copy_name = next(w for ln in lines for w in ln.split() if w.startswith("/mnt/usb/"))
    copy = usb / Path(copy_name).name

    async with Oximeter(tmp_path) as ox, LiveFeed(ox):
        await run_a_while(Version(cfg, tmp_path / "first.log", REPO, runtime), store)
        # Found sound in this boot: a restart would check it after monitoring started.
        assert list(runtime.glob("checked-*.json")), (tmp_path / "first.log").read_text()
        backup(cfg, copy)
        kept = store.readings()
        # The new card's daemon, running on a store of its own (the same path).
        await run_a_while(Version(cfg, tmp_path / "new-card.log", REPO, runtime), store)

        for ln in lines[1:-1]:
            cmd = (
                ln.removeprefix("sudo ")
                .replace("-o monitord -g monitord ", "")
                .replace("/var/lib/monitord", str(var))
                .replace("/run/monitord", str(runtime))
                .replace(copy_name, str(copy))
            )
            sh(ln, cmd)
        assert not list(runtime.glob("checked-*.json"))
        # The new card's store moved aside, in a folder of this restore's own (a second
        # restore's fixed folder name failed, and its mv overwrote the first's).
        assert [p.name for p in var.glob("before-restore-*/outbox.sqlite")] == ["outbox.sqlite"]

        restored = await run_a_while(Version(cfg, tmp_path / "restored.log", REPO, runtime), store)
    assert CHECKED_AFTER not in restored, restored[-3000:]  # checked first
    assert "store.replaced" not in restored, restored[-3000:]
    assert store.readings() > kept  # the copy's readings, and new ones after them
    assert list(runtime.glob("checked-*.json")), restored[-3000:]
