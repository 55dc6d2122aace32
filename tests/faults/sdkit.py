"""A failing SD card under a running daemon (the fault tests): tests/faults/sdfail.c, an
LD_PRELOAD shim built here with gcc, makes the writes and syncs of the files under one
directory fail with EROFS or EIO while a gate file exists. (A real read-only remount of a
tmpfs is refused while the daemon holds its store open for writing: EBUSY.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess

SOURCE = Path(__file__).with_name("sdfail.c")


def build(dest_dir: Path, source: Path = SOURCE) -> Path:
    """Compile the shim into `dest_dir` (a test's tmp dir) and return it, with the flags
    bench/slowdisk.py builds its shim with. No gcc, or a build that fails, fails the test
    with gcc's own words (before: a bare CalledProcessError, gcc's stderr captured and
    never shown)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc is not None, "the failing-card tests need gcc (apt-get install gcc)"
    so = dest_dir / "sdfail.so"
    r = subprocess.run(
        [gcc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(so), str(source), "-ldl"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, f"building {source.name} failed:\n{r.stderr}"
    return so


class FailingCardDaemon(DaemonProcess):
    """`monitord run` whose writes under `card` fail with `errno_` while `gate` exists
    (and its reads with EIO, given `reads`)."""

    def __init__(
        self,
        cfg: Path,
        log: Path,
        shim: Path,
        card: Path,
        gate: Path,
        errno_: int,
        reads: bool = False,
        read_us: int = 0,
        read_count: Path | None = None,
    ) -> None:
        super().__init__(cfg, log)
        self.shim, self.card, self.gate, self.errno_ = shim, card, gate, errno_
        self.reads = reads  # reads of the card fail too (EIO)
        # A card slow to read: each read of it `read_us` longer; the bytes read from it so
        # far kept in `read_count` (sdfail.c).
        self.read_us, self.read_count = read_us, read_count

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LD_PRELOAD": str(self.shim),
            "MONITORD_TEST_SDFAIL_DIR": str(self.card.resolve()),
            "MONITORD_TEST_SDFAIL_GATE": str(self.gate),
            "MONITORD_TEST_SDFAIL_ERRNO": str(self.errno_),
            **({"MONITORD_TEST_SDFAIL_READS": "1"} if self.reads else {}),
            **({"MONITORD_TEST_SDFAIL_READ_US": str(self.read_us)} if self.read_us else {}),
            **(
                {"MONITORD_TEST_SDFAIL_READ_COUNT": str(self.read_count)} if self.read_count else {}
            ),
        }
