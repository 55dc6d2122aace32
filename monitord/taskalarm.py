"""Technical alarm `task.crashing/<task>`: a supervised task that keeps crashing.

The supervisor (monitord/supervisor.py) restarts a task that raises, with a backoff capped
at 60 s. A bug triggered by a chair's state (its engine, restored from the snapshot, or a
reading it keeps re-reading) crashes that chair's task again at every start: before this
alarm the daemon said so with one WARNING, then DEBUG lines, and "task(s) restarting" in
`monitord status`, while that chair's alarms were neither evaluated nor shown (clinical-
rules.md "Delivery of alarms": an alarm is never silenced without the daemon saying so).
A device task or a sink that crashes at every start silences alarms the same way (the
chair hears nothing from its monitor; alerts are not sent).

Now, after `crash_alarm_after` failures in a row (no run in between lasted the
supervisor's `healthy_after_s`), the daemon raises `task.crashing/<task>` through its
TechAlarms: CRITICAL in the journal, `!!!` on the console, the side file `monitord status`
reads, systemd's STATUS and the annunciator (`technical`: the chair's alarms may not be
showing). It clears once the task has run `healthy_after_s` since its last restart.
A slow loop raises it too: `crash_alarm_after` relapses (failures after a run that lasted
`healthy_after_s`) within the supervisor's relapse window (an hour), as a bug an NIBP
reading triggers does; that one clears once fewer relapses than that remain in the window.

The watchdog keeps pinging while a chair task crash-loops (Daemon._watchdog skips a chair
whose task waits in backoff): a restart of the daemon would not help and would loop. The
engine resumes from its snapshot, which holds the state that crashed it, so the new daemon
crashes the same way; systemd's StartLimitBurst (5 in 5 min) then leaves the unit failed,
every chair unmonitored and this alarm gone with the process. Staying up keeps the other
chairs monitored and this one's fault said; an operator may still restart by hand (a
transient state not in the snapshot then clears), and the alarm comes back if not.
"""

from __future__ import annotations

from monitord.supervisor import HEALTHY_AFTER_S, RELAPSE_WINDOW_S, TaskState
from monitord.techalarm import TechAlarms

PREFIX = "task.crashing/"
# Failures in a row before the alarm (a single crash, restarted in a second, is a log line).
CRASH_ALARM_AFTER = 3
# The daemon's (failures, healthy run, relapse window), shortened by tests.
CRASH_ALARM = (CRASH_ALARM_AFTER, HEALTHY_AFTER_S, RELAPSE_WINDOW_S)


def key(task: str) -> str:
    return PREFIX + task


def _advice(task: str) -> str:
    kind, _, name = task.partition(":")
    if kind == "chair":
        return (
            f"chair {name}: its alarms are NOT evaluated or shown while its task is down; "
            "watch the patient on the monitor itself"
        )
    if kind in ("device", "player"):
        return f"readings of {name} may not reach the alert engine; watch the chair directly"
    if kind.startswith("sink") or kind.startswith("alarm"):
        return "alarms may not reach the nurses' station; watch the chairs directly"
    return "the daemon is not working as it should; watch the chairs directly"


class TaskAlarms:
    """Raises and clears `task.crashing/<task>` as the supervisor reports."""

    def __init__(
        self, alarms: TechAlarms, after: int = CRASH_ALARM_AFTER, window_s: float = RELAPSE_WINDOW_S
    ) -> None:
        self.alarms = alarms
        self.after = after
        self.window_s = window_s  # the supervisor's relapse window, for the message

    def crashed(self, st: TaskState) -> None:
        if st.streak >= self.after:
            how = f"{st.streak} times in a row"
        elif len(st.relapses) >= self.after:
            # A slow loop: each run lasted a while, then the same kind of input came again.
            how = (
                f"{len(st.relapses)} times within {self.window_s / 60:.0f} min, each "
                "after running a while (an input that comes now and then triggers it)"
            )
        else:
            return
        self.alarms.raise_(
            key(st.name),
            f"task {st.name} crashed {how} (last: {st.last_error}); "
            f"restarting in {st.last_delay_s:.0f} s: {_advice(st.name)}; a bug: report it "
            "with the journal (journalctl -u monitord); `systemctl restart monitord` may "
            "clear it, but not when the stored state triggers it",
        )

    def recovered(self, st: TaskState) -> None:
        if len(st.relapses) >= self.after:
            return  # relapsing: told again as each relapse leaves the window
        self.alarms.clear(key(st.name), f"task {st.name} has run without crashing again")


def failing(alarms: TechAlarms) -> bool:
    """A task is crash-looping (the annunciator says so: alarms may not be showing)."""
    return any(k.startswith(PREFIX) for k in alarms.active)
