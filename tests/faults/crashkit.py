"""A supervised task that crashes, in a child process: the real supervisor and formatter
(monitord/supervisor.py, monitord/log.py), the child's stderr read as the journal gets it.
"""

from __future__ import annotations

import subprocess
import sys

# `TASK` is the task's source (an `async def task()` and what it needs); `ARGS`, more of
# the Supervisor's keyword arguments. Replaced, not str.format'ed: the task may hold braces.
CHILD = """
import asyncio
from monitord.log import setup_logging
from monitord.supervisor import Supervisor

setup_logging("DEBUG")

TASK

async def main():
    async with asyncio.TaskGroup() as tg:
        sup = Supervisor(tg, backoff_initial_s=0.01, backoff_cap_s=0.01, ARGS)
        sup.spawn("chair:chair-9", task)
        while sup.tasks["chair:chair-9"].restarts < 3:
            await asyncio.sleep(0.01)
        for t in sup._handles.values():
            t.cancel()

asyncio.run(main())
"""


def crash_lines(task: str, supervisor_args: str = "") -> tuple[list[str], str]:
    """The task "chair:chair-9" run (and restarted) until its third restart: (the log's
    lines that say it crashed, the child's whole stderr)."""
    child = CHILD.replace("TASK", task).replace("ARGS", supervisor_args)
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    return [ln for ln in r.stderr.split("\n") if "crashed" in ln], r.stderr
