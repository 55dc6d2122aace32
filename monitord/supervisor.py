"""Supervised tasks on one `asyncio.TaskGroup`.

Every device link, sink and chair engine runs under `Supervisor.spawn`. A task that raises
is restarted after a capped exponential backoff with jitter, counted, logged (ERROR with
its traceback the first time, DEBUG on repeats, ERROR again after a relapse window without
a crash) and reported through `on_crash`, so a bug in one driver never takes the daemon,
or the other chairs, down.

Restarting is not recovering: a bug triggered by a chair's state crashes its task again at
every start. `TaskState.streak` counts the failures in a row (none of its runs in between
lasted `healthy_after_s`); the daemon raises a technical alarm from it
(monitord/taskalarm.py), and `on_recover` is told once the task has run `healthy_after_s`
since its last restart (or ended normally). This bookkeeping runs on failures only: a task that
never fails costs nothing more.

A crash loop can also be slow: a bug that a rarer input triggers (a chair's engine that
crashes on each NIBP reading, every 5 to 15 minutes) lets the task run `healthy_after_s`
between crashes, so its streak never passes 1 and that input's alarms are lost each time.
`TaskState.relapses` keeps the times of the failures that began a streak within
`relapse_window_s` (an hour); the alarm counts them too, and `on_recover` is told again,
still in the same run, when the oldest leaves the window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from monitord.backoff import Backoff
from monitord.log import FailureLog

log = logging.getLogger("monitord.supervisor")

HEALTHY_AFTER_S = 60.0  # a task that ran this long before failing starts backoff afresh
# Relapses (a failure after a healthy run) are counted over this window: an hour holds three
# of a bug that an NIBP reading every 15 minutes (the observation window's cycle) triggers.
RELAPSE_WINDOW_S = 3600.0


@dataclass
class TaskState:
    name: str
    state: str = "starting"  # running | backoff | stopped | done
    restarts: int = 0
    last_error: str = ""
    last_delay_s: float = 0.0
    delays: list[float] = field(default_factory=list)  # every backoff taken, for status
    streak: int = 0  # failures in a row: no run in between lasted `healthy_after_s`
    runs: int = 0  # starts so far; tells the healthy check which run it was set for
    # Monotonic times of the failures that began a streak, within the relapse window.
    relapses: list[float] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        tg: asyncio.TaskGroup,
        on_crash: Callable[[TaskState], None] | None = None,
        backoff_initial_s: float = 1.0,
        backoff_cap_s: float = 60.0,
        *,
        on_recover: Callable[[TaskState], None] | None = None,
        healthy_after_s: float = HEALTHY_AFTER_S,
        relapse_window_s: float = RELAPSE_WINDOW_S,
    ) -> None:
        self._tg = tg
        self._on_crash = on_crash
        self._on_recover = on_recover
        self._healthy_s = healthy_after_s
        self._window_s = relapse_window_s
        self._initial = backoff_initial_s
        self._cap = backoff_cap_s
        self.tasks: dict[str, TaskState] = {}
        self._handles: dict[str, asyncio.Task[None]] = {}

    def spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> TaskState:
        st = TaskState(name)
        self.tasks[name] = st
        self._handles[name] = self._tg.create_task(self._run(st, factory), name=name)
        return st

    async def _run(self, st: TaskState, factory: Callable[[], Awaitable[None]]) -> None:
        backoff = Backoff(initial_s=self._initial, cap_s=self._cap)
        flog = FailureLog(log, f"task {st.name}")
        while True:
            started = time.monotonic()
            st.state = "running"
            st.runs += 1
            if st.streak:  # a restart after a failure: is it healthy a while from now?
                asyncio.get_running_loop().call_later(
                    self._healthy_s, self._healthy_check, st, st.runs
                )
            try:
                await factory()
            except asyncio.CancelledError:
                st.state = "stopped"
                raise
            except Exception as e:  # the whole point: contain any crash
                now = time.monotonic()
                if now - started > self._healthy_s:
                    backoff.reset()
                    st.streak = 0
                st.streak += 1
                if st.streak == 1:  # a relapse: the task had been running healthy
                    earlier = self._in_window(st, now)
                    if not earlier:
                        # Quiet a whole relapse window: said afresh at ERROR. Remembered
                        # for the process's life, a crash a day after the first was DEBUG
                        # only; a slow loop (one per NIBP reading) stays one line an hour.
                        flog.reset()
                    st.relapses = [*earlier, now]
                st.restarts += 1
                st.last_error = f"{type(e).__name__}: {e}"
                st.last_delay_s = backoff.next_delay()
                st.delays = [*st.delays[-19:], st.last_delay_s]
                st.state = "backoff"
                flog.failure(
                    type(e).__name__,
                    f"crashed: {st.last_error}; restart {st.restarts} in {st.last_delay_s:.1f}s "
                    "(a bug: please report it with this log line and its traceback)",
                    # ERROR: the formatter folds a traceback in at ERROR and above only
                    # (monitord/log.py); at WARNING the one asked for was never written.
                    logging.ERROR,
                    exc_info=e,
                )
                if self._on_crash is not None:
                    self._on_crash(st)
                await asyncio.sleep(st.last_delay_s)
                continue
            st.state = "done"
            st.relapses = []  # ended normally: nothing left to relapse
            self._recovered(st)
            return

    def _in_window(self, st: TaskState, now: float) -> list[float]:
        return [t for t in st.relapses if now - t < self._window_s]

    def _healthy_check(self, st: TaskState, run: int) -> None:
        """`healthy_after_s` after a restart, then whenever a relapse leaves the window:
        still in that run, the task has recovered (`on_recover` weighs the relapses)."""
        if st.runs != run or st.state != "running":
            return
        now = time.monotonic()
        kept = self._in_window(st, now)
        left, st.relapses = len(st.relapses) > len(kept), kept
        self._recovered(st, told=left)
        if kept:  # asked again when the oldest leaves the window, if this run lasts
            asyncio.get_running_loop().call_later(
                kept[0] + self._window_s - now, self._healthy_check, st, run
            )

    def _recovered(self, st: TaskState, *, told: bool = False) -> None:
        """`told`: a relapse left the window (`on_recover` may clear the alarm now)."""
        if st.streak or told:
            st.streak = 0
            if self._on_recover is not None:
                self._on_recover(st)

    def cancel(self, name: str) -> None:
        h = self._handles.get(name)
        if h is not None:
            h.cancel()

    def cancel_prefixed(self, *prefixes: str) -> None:
        """Cancel every task whose name starts with one of `prefixes`."""
        for name, h in self._handles.items():
            if name.startswith(prefixes):
                h.cancel()
