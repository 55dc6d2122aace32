"""A store on a read-only card whose daemon died just after a checkpoint that emptied its
-wal (0 bytes), leaving a -shm of another moment (stale): `monitord status` and
`report --db` read it whole, every commit (monitord/store/rofs.py), and write nothing.
Real parts as tests/ops/test_readonly_store_commands.py: a real read-only bind mount."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.faults.storekit import on_read_only_card
from tests.ops.test_readonly_store_commands import SESSION, a_card

DIE = (
    "import os, sys; from pathlib import Path\n"
    "from monitord.config import StorageConfig\n"
    "from monitord.outbox import Outbox\n"
    "from tests.delivery.helpers import reading\n"
    "p = Path(sys.argv[1]); ob = Outbox(p, StorageConfig(path=p))\n"
    "ob._db.execute('PRAGMA wal_autocheckpoint = 0')\n"
    "ob.add_readings([reading(100 + j) for j in range(5)], {'chair-1': None})\n"
    "ob.commit()\n"
    "if sys.argv[2] == 'empty': ob._db.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchall()\n"
    "os._exit(0)\n"
)


def die(store: Path, wal: str) -> None:
    r = subprocess.run([sys.executable, "-c", DIE, str(store), wal],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r


def test_an_empty_wal_with_a_stale_shm_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other, other_store, _ = a_card(tmp_path / "other")
    die(other_store, "full")  # its -shm indexes 5 commits' frames in its -wal
    card, store, cfg = a_card(tmp_path)
    die(store, "empty")
    shutil.copy(other / "outbox.sqlite-shm", card / "outbox.sqlite-shm")  # stale
    before = sorted((p.name, p.stat().st_size) for p in card.iterdir())
    assert ("outbox.sqlite-wal", 0) in before
    st = on_read_only_card(card, "status", "-c", str(cfg))
    assert st.returncode == 0, st
    assert "outbox influx: 37 pending" in st.stdout, st.stdout  # 32 + the 5 checkpointed
    rep = on_read_only_card(card, "report", "--db", str(store), "--list")
    assert rep.returncode == 0 and SESSION in rep.stdout, rep
    assert sorted((p.name, p.stat().st_size) for p in card.iterdir()) == before
