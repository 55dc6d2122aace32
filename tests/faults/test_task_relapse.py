"""A task that crashes now and then, after running a while each time, raises
`task.crashing/<task>` too (a slow crash loop).

Left open by the last audit: the alarm counted failures in a row, and a run that lasted
`healthy_after_s` (60 s) reset the count. A bug that a rarer input triggers (a chair's
engine crashing on each NIBP reading, every 5 to 15 minutes) let the task run a minute or
more between crashes, so the count never passed 1: each crash lost that reading's alarms
while the daemon said only a `!!` console line and one WARNING (DEBUG after). Now the
failures that follow a healthy run (relapses) are counted over an hour
(supervisor.RELAPSE_WINDOW_S): three raise the alarm, and it stands until fewer than three
remain in the window, even though each run in between was healthy.

The real Supervisor on a real TaskGroup, the real TaskAlarms and TechAlarms; the times
are shortened (healthy after 0.3 s, a 4-s window) and the task is a coroutine that runs
0.5 s, then raises, three times, then runs on.
"""

from __future__ import annotations

import asyncio

from monitord.supervisor import Supervisor, TaskState
from monitord.taskalarm import TaskAlarms
from monitord.techalarm import TechAlarms
from tests.kit import eventually

KEY = "task.crashing/chair:chair-a"
HEALTHY_S, WINDOW_S, RUN_S = 0.3, 4.0, 0.5


def supervise(tg: asyncio.TaskGroup, task_alarms: TaskAlarms) -> Supervisor:
    """The daemon's wiring (Daemon.run) with the shortened times."""
    return Supervisor(
        tg,
        on_crash=task_alarms.crashed,
        backoff_initial_s=0.01,
        backoff_cap_s=0.02,
        on_recover=task_alarms.recovered,
        healthy_after_s=HEALTHY_S,
        relapse_window_s=WINDOW_S,
    )


async def test_a_task_crashing_after_healthy_runs_raises_the_alarm_and_holds_it() -> None:
    said: list[str] = []
    alarms = TechAlarms(said.append)
    task_alarms = TaskAlarms(alarms, 3, WINDOW_S)
    runs = 0

    async def engine() -> None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(RUN_S)  # healthy a while: longer than HEALTHY_S
        if runs <= 3:
            raise RuntimeError("engine bug on an NIBP reading")
        await asyncio.sleep(3600)

    loop = asyncio.get_running_loop()
    async with asyncio.TaskGroup() as tg:
        sup = supervise(tg, task_alarms)
        st: TaskState = sup.spawn("chair:chair-a", engine)
        streaks: list[int] = []
        real_crashed = task_alarms.crashed

        def crashed(s: TaskState) -> None:
            streaks.append(s.streak)
            real_crashed(s)

        sup._on_crash = crashed  # records each streak, then the real alarm logic
        await eventually(lambda: runs == 4, 5, "three crashes, then a run that lasts")
        assert streaks == [1, 1, 1]  # never two in a row: the old count never raised it
        assert KEY in alarms.active, said
        t_raised = loop.time()
        text = alarms.active[KEY]["text"]
        assert "crashed 3 times within" in text and "each after running a while" in text, text
        assert "RuntimeError: engine bug on an NIBP reading" in text, text
        assert [s for s in said if s.startswith(f"!!! TECHNICAL ALARM {KEY}:")], said

        # The fourth run has been healthy past HEALTHY_S: three relapses are still in the
        # window, so the alarm stands (it would have cleared here before).
        await asyncio.sleep(HEALTHY_S + 0.5)
        assert st.state == "running" and st.streak == 0
        assert KEY in alarms.active, said

        # The oldest relapse leaves the window (4 s after the first crash): two remain,
        # the alarm clears, told in the same run.
        await eventually(lambda: KEY not in alarms.active, WINDOW_S + 2, "the alarm cleared")
        assert loop.time() - t_raised > WINDOW_S - 2 * RUN_S - 0.5
        assert any(s.startswith(f"technical alarm {KEY} cleared") for s in said), said
        assert len(st.relapses) == 2 and runs == 4
        sup.cancel("chair:chair-a")


async def test_one_relapse_after_a_fast_loop_that_recovered_clears_as_before() -> None:
    """The fast loop's alarm (3 failures in a row) still clears after one healthy run:
    those 3 failures are one relapse, not three."""
    alarms = TechAlarms(None)
    task_alarms = TaskAlarms(alarms, 3, WINDOW_S)
    runs = 0

    async def engine() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError("engine bug on this state")
        await asyncio.sleep(3600)

    async with asyncio.TaskGroup() as tg:
        sup = supervise(tg, task_alarms)
        st = sup.spawn("chair:chair-a", engine)
        await eventually(lambda: KEY in alarms.active, 5, "the alarm")
        assert "3 times in a row" in alarms.active[KEY]["text"]
        await eventually(lambda: KEY not in alarms.active, HEALTHY_S + 2, "cleared")
        assert len(st.relapses) == 1 and runs == 4
        sup.cancel("chair:chair-a")
