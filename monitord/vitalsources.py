"""Two devices of one chair giving one vital, said once at WARNING (the journal, doctor's
log check).

The alert engine reads one signal per vital of a chair, not one per device
(clinical-rules.md, "Precise semantics": runs and gaps are "of that signal"). Two devices
on the patient that each give SpO2 (an IntelliVue's own sensor beside a Masimo) send their
samples into it in turn, and while they disagree an alarm confirmed by a run of samples or
by readings in a row may never be raised: in the s45 hunt a Masimo at 85 % and an
IntelliVue at 97 %, 1 Hz each, raised no `spo2.low` for as long as it lasted, and nothing
said why. Which device the rules should take is the planners' (a question in the s45
note). Until they decide, the daemon says it when it happens. A config check cannot: an
IntelliVue beside a BLE cuff (the shipped example's chair) may each give BP, but its own
cuff is seldom on the patient, and then it sends none.

A hub listener (monitord/hub.py): it only looks at the committed readings' device, kind,
validity and receive time (the chair clock), never the wall clock.
"""

from __future__ import annotations

import logging

from monitord.hub import CommittedBatch
from monitord.models import Kind

log = logging.getLogger("monitord.vitals")

# Valid values of one vital from two devices this close on the chair clock are two
# sources: a few of one device's samples (HR/SpO2 at 1 Hz; the 10-s gap that ends a
# run), or one BP cycle (cuffs measure every 3-15 min).
WINDOW_S: dict[Kind, float] = {Kind.HR: 30.0, Kind.SPO2: 30.0, Kind.BP: 900.0}
_NAMES = {Kind.HR: "HR", Kind.SPO2: "SpO2", Kind.BP: "BP"}
_RUN = {
    Kind.HR: "a run of samples (hr.high: 300 s)",
    Kind.SPO2: "a run of samples (spo2.low: 15 s)",
    Kind.BP: "readings in a row (2 readings)",
}


class TwoSources:
    """Tells, once per chair and vital in a run, that two devices gave it."""

    def __init__(self) -> None:
        # (chair, kind) -> device -> receive time (epoch s) of its last valid live value
        self._last: dict[tuple[str, Kind], dict[str, float]] = {}
        self._said: set[tuple[str, Kind]] = set()

    def __call__(self, batch: CommittedBatch) -> None:
        for r in batch.readings:
            key = (r.chair, r.kind)
            if not r.valid or r.stored or key in self._said or r.kind not in WINDOW_S:
                continue
            t = r.received_at.timestamp()
            seen = self._last.setdefault(key, {})
            others = [d for d, at in seen.items() if d != r.device and t - at <= WINDOW_S[r.kind]]
            seen[r.device] = t
            if not others:
                continue
            self._said.add(key)
            vital = _NAMES[r.kind]
            log.warning(
                "%s: %s from two devices (%s, %s) within %g s: the alarms read one %s signal "
                "from both in turn, and while they disagree an alarm confirmed by %s may "
                "never be raised; keep one %s sensor on the patient (docs/devices.md, "
                '"One vital, one device"; said once per run)',
                r.chair,
                vital,
                others[0],
                r.device,
                WINDOW_S[r.kind],
                vital,
                _RUN[r.kind],
                vital,
            )
