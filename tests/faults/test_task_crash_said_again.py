"""A supervised task's crash is logged at ERROR with its traceback the first time, its
repeats at DEBUG (monitord/supervisor.py). The kinds already said were remembered for the
life of the process: a task that crashed once, ran for days, then crashed again of the
same bug wrote a DEBUG line only, and `journalctl -p err` showed the old crash and not the
new. Now a crash after a whole relapse window without one is said again at ERROR; a slow
loop (crashes within the window, each after a healthy run) stays DEBUG. The real
supervisor and formatter, in a child process whose stderr is read as the journal gets it.
"""

from __future__ import annotations

from tests.faults.crashkit import crash_lines

# Run 1 crashes at once; run 2 after longer than the relapse window (1 s) of quiet; run 3
# after a healthy run (over 0.05 s) but within the window of run 2's crash.
TASK = """
runs = []

async def task():
    runs.append(1)
    await asyncio.sleep({1: 0, 2: 1.3, 3: 0.15}.get(len(runs), 60))
    raise KeyError("chair-9")
"""


def test_a_crash_after_a_quiet_window_is_said_again_at_error() -> None:
    lines, stderr = crash_lines(TASK, "healthy_after_s=0.05, relapse_window_s=1.0")
    assert [ln.split(" ", 1)[0] for ln in lines] == ["ERROR", "ERROR", "DEBUG"], stderr
    assert "restart 2 " in lines[1] and "exc=Traceback" in lines[1], lines[1]
