"""`monitord backup` and the space on the disk it writes to (docs/operations.md, "Backup
and restore").

Real file systems of a known size: a tmpfs mounted in a mount namespace of its own
(`unshare -m`, as root: the suite runs as root), so the copy meets a real full disk, not
a mock. Two cases an IT admin meets:
- a USB stick too small for the copy: the command said `cannot read <the store> as a
  store (database or disk is full)`, exit 66, blaming the Pi's store for the stick, and
  left `<copy>.part-journal` on the stick;
- the obvious `monitord backup /var/backups/` on the Pi's own card: the copy (as large as
  the store, up to `storage.max_mb`) took the room the daemon's store still needs to grow
  to its budget, so mid-session its commits met a full disk (`store.unwritable`, alarms
  held in memory). The copy is now refused on the store's own disk when it would leave
  less than that room.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from tests.delivery.helpers import reading

MiB = 1 << 20


def big_store(path: Path) -> int:
    """A store of about 10 MB of readings (the daemon's own Outbox writes it); its size."""
    ob = Outbox(path, StorageConfig(path=path))
    for i in range(300):
        ob.add_readings([reading(i * 200 + j) for j in range(200)], {"chair-1": "s-1"})
        ob.commit()
    ob.close()
    return path.stat().st_size


def config(tmp: Path, store: Path, max_mb: float) -> Path:
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        f'[site]\nid = "site-f"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{store}"\nmax_mb = {max_mb}\n'
        f'[[chairs]]\nid = "chair-1"\n'
    )
    return cfg


def on_tmpfs(mount: Path, size_mib: int, before: str, args: list[str]) -> tuple[int, str, str]:
    """Run `monitord backup ARGS` with a tmpfs of `size_mib` at `mount` (`before` runs first
    in it, e.g. to put the store there); (exit code, stderr, what is left in `mount`)."""
    mount.mkdir(exist_ok=True)
    backup = shlex.join([sys.executable, "-m", "monitord", "backup", *args])
    err = mount.parent / f"{mount.name}.err"  # not on the tmpfs: it may be full
    script = (
        f"mount -t tmpfs -o size={size_mib}m tmpfs {mount} && {before}"
        f"{backup} >/dev/null 2>{err}; echo $?; cat {err}; echo ---; ls -A {mount}"
    )
    r = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0 and "---" in r.stdout, r
    head, left = r.stdout.split("---\n")
    rc, *said = head.splitlines()
    return int(rc), "".join(line + "\n" for line in said), left


def test_a_copy_too_large_for_the_stick_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    store = tmp_path / "outbox.sqlite"
    size = big_store(store)
    cfg = config(tmp_path, store, 512)
    usb = tmp_path / "usb"
    rc, err, left = on_tmpfs(usb, 4, "", ["-c", str(cfg), f"{usb}/chair-1.sqlite"])
    assert rc == 73, err
    assert err.startswith(f"monitord backup: cannot write {usb}/chair-1.sqlite: "), err
    assert f"the copy needs {size / 1e6:.1f} MB" in err and "no copy written" in err, err
    assert len(err.splitlines()) == 1, err
    assert left == "", left  # no .part, no .part-journal on the stick


@pytest.mark.parametrize(("max_mb", "refused"), [(16, False), (24, True)])
def test_a_copy_on_the_stores_own_disk_leaves_it_room_to_its_budget(
    tmp_path: Path, max_mb: int, refused: bool
) -> None:
    """32 MiB disk, a 10 MB store, its copy beside it: 12 MB left. With max_mb = 16 the
    store may grow ~6 MB more (and its WAL): room enough; with 24, ~14 MB: not."""
    made = tmp_path / "made.sqlite"
    size = big_store(made)
    card = tmp_path / "card"
    store = card / "outbox.sqlite"
    cfg = config(tmp_path, store, max_mb)
    rc, err, left = on_tmpfs(
        card, 32, f"cp {made} {store} && ", ["-c", str(cfg), f"{card}/backups.sqlite"]
    )
    if not refused:
        assert rc == 0, err
        # (the read-only connection leaves an empty -wal and -shm beside the store)
        assert [n for n in left.split() if not n.startswith("outbox.sqlite")] == [
            "backups.sqlite"
        ], left
        return
    assert rc == 73, err
    assert len(err.splitlines()) == 1, err
    said = f"monitord backup: {card}/backups.sqlite: the copy ({size / 1e6:.1f} MB) would"
    assert err.startswith(said), err
    assert "storage.max_mb = 24" in err and "no copy written" in err, err
    assert "write it to another disk" in err, err
    assert [n for n in left.split() if not n.startswith("outbox.sqlite")] == [], left
