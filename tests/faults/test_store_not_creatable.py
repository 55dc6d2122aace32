"""A store the daemon cannot create (storage.path under a folder that cannot be made: a
file where the folder should be, a read-only system path, a typo under /etc) runs the
daemon on a store in memory with the technical alarm `store.memory`. Its text read "the
store /etc/hostname/store.sqlite is cannot create it ([Errno 17] File exists:
'/etc/hostname')": not a sentence, and nothing of what to fix. Now it says the store
cannot be created, why, and the fix (storage.path, a folder the service user can write).
The real file system and the real store opening (monitord/storeopen.py).
"""

from __future__ import annotations

from pathlib import Path

from monitord.config import StorageConfig
from monitord.storeopen import open_store
from monitord.techalarm import TechAlarms


def test_a_store_that_cannot_be_created_says_so_and_the_fix(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "monitord"
    not_a_folder.write_text("a file where the store's folder should be\n")
    store = not_a_folder / "store.sqlite"
    alarms = TechAlarms(None)
    ob = open_store(StorageConfig(path=store), alarms)
    try:
        assert ob.memory
    finally:
        ob.close()
    text = alarms.active["store.memory"]["text"]
    # Before, "([Errno 17] File exists: '.../monitord')": as if a file were in the way.
    assert text.startswith(
        f"the store {store} cannot be created ({not_a_folder} is a file, not a folder); "
    ), text
    assert " is cannot " not in text, text
    assert "storage.path" in text and "writable by the user monitord runs as" in text, text
    assert "running on a store in memory" in text, text
