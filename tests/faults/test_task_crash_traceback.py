"""A supervised task's crash is a bug, and its journal line asks for "this log line and
its traceback" (monitord/supervisor.py): the line was logged at WARNING, and the one
formatter (monitord/log.py) folds a traceback in at ERROR and above only, so the
traceback asked for was never written; the report could not say where the bug was. Now
the first crash of a kind is logged at ERROR with its traceback folded onto the line;
its repeats stay at DEBUG. The real supervisor and formatter, in a child process whose
stderr is read as the journal would get it.
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import asyncio
from monitord.log import setup_logging
from monitord.supervisor import Supervisor

setup_logging("DEBUG")

def lookup(chair):
    return {}[chair]

async def main():
    async def task():
        lookup("chair-9")

    async with asyncio.TaskGroup() as tg:
        sup = Supervisor(tg, backoff_initial_s=0.01, backoff_cap_s=0.01)
        sup.spawn("chair:chair-9", task)
        while sup.tasks["chair:chair-9"].restarts < 3:
            await asyncio.sleep(0.01)
        for t in sup._handles.values():
            t.cancel()

asyncio.run(main())
"""


def test_a_crash_is_logged_once_at_error_with_its_traceback() -> None:
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    lines = [ln for ln in r.stderr.split("\n") if "crashed" in ln]
    assert len(lines) >= 3, r.stderr
    first, *repeats = lines
    assert first.startswith("ERROR monitord.supervisor: task chair:chair-9: crashed: KeyError"), (
        first
    )
    assert "exc=Traceback (most recent call last):" in first, first
    assert "in lookup" in first, first  # where the bug is
    assert all(ln.startswith("DEBUG ") and "(repeat " in ln for ln in repeats), repeats
