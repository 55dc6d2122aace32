"""A store on a read-only card whose daemon died just after a checkpoint that emptied its
-wal (0 bytes), leaving a -shm of another moment (stale): `monitord status` and
`report --db` read it whole, every commit (monitord/store/rofs.py), and write nothing.
Real parts as tests/ops/test_readonly_store_commands.py: a real read-only bind mount."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.faults.storekit import die_with_wal, on_read_only_card
from tests.ops.test_readonly_store_commands import SESSION, a_card


def test_an_empty_wal_with_a_stale_shm_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other, other_store, _ = a_card(tmp_path / "other")
    die_with_wal(other_store, 100, 5)  # its -shm indexes 5 commits' frames in its -wal
    card, store, cfg = a_card(tmp_path)
    die_with_wal(store, 100, 5, empty=True)
    shutil.copy(other / "outbox.sqlite-shm", card / "outbox.sqlite-shm")  # stale
    before = sorted((p.name, p.stat().st_size) for p in card.iterdir())
    assert ("outbox.sqlite-wal", 0) in before
    st = on_read_only_card(card, "status", "-c", str(cfg))
    assert st.returncode == 0, st
    assert "outbox influx: 37 pending" in st.stdout, st.stdout  # 32 + the 5 checkpointed
    rep = on_read_only_card(card, "report", "--db", str(store), "--list")
    assert rep.returncode == 0 and SESSION in rep.stdout, rep
    assert sorted((p.name, p.stat().st_size) for p in card.iterdir()) == before
