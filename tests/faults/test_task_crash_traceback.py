"""A supervised task's crash is a bug, and its journal line asks for "this log line and
its traceback" (monitord/supervisor.py): the line was logged at WARNING, and the one
formatter (monitord/log.py) folds a traceback in at ERROR and above only, so the
traceback asked for was never written; the report could not say where the bug was. Now
the first crash of a kind is logged at ERROR with its traceback folded onto the line;
its repeats stay at DEBUG. The real supervisor and formatter, in a child process whose
stderr is read as the journal would get it.
"""

from __future__ import annotations

from tests.faults.crashkit import crash_lines

TASK = """
def lookup(chair):
    return {}[chair]

async def task():
    lookup("chair-9")
"""


def test_a_crash_is_logged_once_at_error_with_its_traceback() -> None:
    lines, stderr = crash_lines(TASK)
    assert len(lines) >= 3, stderr
    first, *repeats = lines
    assert first.startswith("ERROR monitord.supervisor: task chair:chair-9: crashed: KeyError"), (
        first
    )
    assert "exc=Traceback (most recent call last):" in first, first
    assert "in lookup" in first, first  # where the bug is
    assert all(ln.startswith("DEBUG ") and "(repeat " in ln for ln in repeats), repeats
