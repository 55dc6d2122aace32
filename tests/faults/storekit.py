"""Helpers of the storage fault tests (issue 12, defects 5, 6, 9, 10): real file systems
(tmpfs mounts, read-only remounts: the tests run as root), `monitord run` subprocesses and
`monitord status`."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real small file system at `path`, unmounted however the test ends (lazily, so a
    daemon still holding a file cannot keep it mounted)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, opts: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{opts}", str(path)], check=True)


def fill(directory: Path) -> Path:
    """Write a filler file until the file system says ENOSPC; returns it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512):
            chunk = b"\0" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    finally:
        os.close(fd)
    return filler


def monitord(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A `monitord` command line run to completion."""
    return subprocess.run(
        [sys.executable, "-m", "monitord", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def on_read_only_card(card: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`monitord ARGS` run to completion with `card` bind-mounted read-only over itself, in
    a mount namespace of its own (`unshare -m`: the suite runs as root)."""
    cmd = shlex.join([sys.executable, "-m", "monitord", *args])
    script = f"mount --bind {card} {card} && mount -o remount,bind,ro {card} && exec {cmd}"
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def until_held(daemon: Any, chair: str) -> None:
    """On a filled disk: readings for `chair` of an in-process daemon until the store
    refuses a commit (the WAL's reusable space used up too) and holds."""
    from monitord.models import Kind
    from tests.faults.writerkit import reading

    for _ in range(500):
        if "store.unwritable" in daemon.alarms.active:
            break
        for _ in range(200):
            daemon.chairs[chair].submit(reading(chair, Kind.HR, {"hr_bpm": 70.0}))
        await asyncio.sleep(0.05)
    assert daemon.store.holding, "the full disk never refused a write"
