"""A restore that puts the `monitord backup` copy over `outbox.sqlite` only, beside the
-wal of the store it replaces (docs/operations.md, "Backup and restore", says to move
`outbox.sqlite*` aside: this is the step skipped, or a `mv outbox.sqlite` alone).

The new card's daemon was killed (a power cut, a stop that timed out): its commits since
the last checkpoint are in `outbox.sqlite-wal`. SQLite applies any -wal whose checksums
hold, whatever main file sits beside it: a daemon started on the restored copy read the
replaced store's pages over the copy's and its checkpoint wrote them into the file, the
restored history gone without a word (no alarm, `quick_check` ok). Real `monitord run`
subprocesses and a real `monitord backup` copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.faults.storekit import monitord
from tests.faults.test_bad_store import Run, config
from tests.ops.test_backup_restore import rows, run_restored, until_stored


def card(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A card's store (in a folder of its own) and its daemon's config."""
    store = tmp_path / name / "outbox.sqlite"
    store.parent.mkdir()
    return store, config(store.parent, store)


async def test_a_copy_restored_beside_the_replaced_stores_wal_keeps_its_history(
    tmp_path: Path,
) -> None:
    # The old card's store, and its copy.
    old, old_cfg = card(tmp_path, "old")
    run = Run(old_cfg, tmp_path / "old.log")
    try:
        await until_stored(run, old, 60, "old card's readings")
    finally:
        assert run.stop() == 0, run.out()
    copy = tmp_path / "usb" / "chair-1.sqlite"
    copy.parent.mkdir()
    r = monitord("backup", "-c", str(old_cfg), str(copy))
    assert r.returncode == 0, r
    copied = rows(copy)
    assert len(copied) >= 60

    # The new card: its daemon ran and was killed, its commits in the -wal.
    new, cfg = card(tmp_path, "new")
    run = Run(cfg, tmp_path / "new.log")
    try:
        await until_stored(run, new, 20, "new card's readings")
    finally:
        run.proc.kill()
        run.proc.wait()
    wal = new.with_name("outbox.sqlite-wal")
    assert wal.stat().st_size > 0
    stale = wal.read_bytes()

    # The copy over the main file only.
    shutil.copyfile(copy, new)
    out, _ = await run_restored(cfg, new, copied, tmp_path / "restored.log")
    (kept,) = [p for p in new.parent.iterdir() if p.name.endswith("-wal") and p != wal]
    assert kept.name.startswith("outbox.sqlite.foreign-"), kept
    assert kept.read_bytes() == stale  # the replaced store's commits, kept as they were
    said = [line for line in out.splitlines() if "foreign-" in line]
    assert len(said) == 1 and "WARNING" in said[0] and "a restored copy" in said[0], out
