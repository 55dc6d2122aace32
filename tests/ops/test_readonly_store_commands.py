"""`monitord status` and `monitord report --db` on a store on a read-only file system: a
card pulled from a Pi and mounted read-only on a laptop to read it (or a failing card that
remounted itself so). SQLite's reader of a WAL store makes its -shm and cannot there: both
failed, "cannot read it as a monitord store (unable to open database file)", though the
store was whole (`monitord backup` had handled it: tests/ops/test_backup_readonly.py).
A store the daemon closed cleanly (no -wal) is read whole now; one whose -wal holds commits
and has no -shm is one line saying what to do.

Real parts: a real read-only bind mount in a mount namespace of its own (`unshare -m`, as
root: the suite runs as root), the commands as the technician runs them.
"""

from __future__ import annotations

from pathlib import Path

from monitord.config import StorageConfig
from monitord.models import SessionEvent
from monitord.outbox import Outbox
from tests.delivery.helpers import base_time, reading
from tests.faults.storekit import die_with_wal, on_read_only_card

SESSION = "chair-1-s1"


def a_card(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A store with a session's readings, closed cleanly (no -wal, no -shm), on `card`, and
    a config naming it: (card, store, config)."""
    card = tmp_path / "card"
    card.mkdir()
    store = card / "outbox.sqlite"
    ob = Outbox(store, StorageConfig(path=store))
    t = base_time().timestamp()
    ob.add_session_events([SessionEvent(t - 1, "chair-1", "start", "esketamine", SESSION)])
    ob.add_readings([reading(j) for j in range(30)], {"chair-1": SESSION})
    ob.add_session_events([SessionEvent(t + 31, "chair-1", "end", "esketamine", SESSION)])
    ob.commit()
    ob.close()
    assert sorted(p.name for p in card.iterdir()) == ["outbox.sqlite"]
    cfg = tmp_path / "monitord.toml"
    cfg.write_text(
        f'[site]\nid = "site-ro"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{store}"\n[[chairs]]\nid = "chair-1"\n'
    )
    return card, store, cfg


def test_status_reads_a_store_on_a_read_only_card(tmp_path: Path) -> None:
    card, store, cfg = a_card(tmp_path)
    r = on_read_only_card(card, "status", "-c", str(cfg))
    assert r.returncode == 0, r
    assert f"store: {store}" in r.stdout and "chair chair-1" in r.stdout, r.stdout
    assert "last spo2: spo2_pct=97" in r.stdout, r.stdout
    assert sorted(p.name for p in card.iterdir()) == ["outbox.sqlite"]  # nothing written


def test_report_db_reads_a_store_on_a_read_only_card(tmp_path: Path) -> None:
    card, store, _ = a_card(tmp_path)
    out = tmp_path / "reports"
    r = on_read_only_card(card, "report", "--db", str(store), "--session", SESSION,
                          "--out", str(out))  # fmt: skip
    assert r.returncode == 0, r
    made = sorted(p.name for p in out.iterdir())
    assert made and all(SESSION in name for name in made), made
    listed = on_read_only_card(card, "report", "--db", str(store), "--list")
    assert listed.returncode == 0 and SESSION in listed.stdout, listed


def test_commits_in_a_wal_without_its_shm_are_one_line(tmp_path: Path) -> None:
    card, store, cfg = a_card(tmp_path)
    # A daemon that died with commits in its -wal, its -shm gone (rebuilt by SQLite).
    die_with_wal(store, 100, 5)
    (card / "outbox.sqlite-shm").unlink()
    line = (
        f"{store}: cannot read it on a read-only file system: commits in its -wal and no "
        "-shm, which SQLite needs to read them; mount it read-write, or copy it with its "
        "-wal to a writable disk and read that"
    )
    st = on_read_only_card(card, "status", "-c", str(cfg))
    assert st.returncode != 0 and st.stderr.splitlines() == [f"monitord status: {line}"], st
    rep = on_read_only_card(card, "report", "--db", str(store), "--list")
    assert rep.returncode != 0 and rep.stderr.splitlines() == [f"monitord report: {line}"], rep
