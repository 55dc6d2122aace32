"""Philips IntelliVue (MP/MX series) Data Export over MIB/RS232, 115200 8N1.

Session (Guide ch. 3 "Protocol Dialog"; the Guide is cited in drivers/intellivue_frames.py,
which holds the framing, constants and message codec):

    client (monitord)                          monitor
    ---- Association Request (CN SPDU) ------>
    <--- Association Result  (AC SPDU) -------     (RF SPDU = refused: retry later)
    <--- MDS Create Event Report (ROIV) ------
    ---- MDS Create Event Result (RORS) ----->
    ---- Extended Poll Request (ROIV, NOM_ACT_POLL_MDIB_DATA_EXT, numerics) -->
    <--- Poll Result (RORS, or linked ROLRS   ... repeated every poll_interval_s
         parts and their closing RORS) -----      (the parts are read as one result)
    ---- Release Request (FN SPDU) ---------->    on stop
    <--- Release Result  (DN SPDU) -----------

Keep-alive (Guide "Connection Time-out Mechanism"): the monitor drops an association that
receives no message for a while; our periodic poll is the keep-alive. If no poll result
arrives for KEEPALIVE_MISSES poll periods (at least MIN_ANSWER_S), the association is
considered lost and re-established; an Abort or Release Request from the monitor does the
same. The byte link itself is the transport's business (drivers/serial_link.py).

Numerics decoded (Guide "Physiological Identifier", "NuObsValue", "MeasurementState"):

    kind  physio ids                                         reading fields
    bp    NOM_PRESS_BLD_NONINV_SYS/DIA/MEAN (compound 0x4A04)  sys_mmHg dia_mmHg map_mmHg
          NOM_PRESS_BLD_NONINV_PULS_RATE                     pulse_bpm
    hr    NOM_ECG_CARD_BEAT_RATE                             hr_bpm
    spo2  NOM_PULS_OXIM_SAT_O2, NOM_PLETH_PULS_RATE          spo2_pct pulse_bpm

Every SpO2 channel (SpO2, SpO2 l/r, pre/post-ductal, telemetry) reports its pulse under the
same id NOM_PLETH_PULS_RATE 0x4822; only the numeric's label (NOM_ATTR_ID_LABEL) tells
which channel it belongs to. We read the SpO2 channel NOM_PULS_OXIM_SAT_O2 and take the
pulse labelled NLS_NOM_PULS_OXIM_PULS_RATE; without labels, a lone pulse is taken and two
or more are `pulse_bpm_ambiguous` (null), never another channel's pulse.

A value whose MeasurementState has INVALID, QUESTIONABLE, UNAVAILABLE, CALIBRATION,
TEST_DATA or DEMO_DATA set is reported with `valid: false` and the state's names in
`status`; FLOAT NaN/NRes/INF become null. kPa is converted to mmHg. A numeric carrying a
unit the kind cannot have is nulled and flagged `unit_0xNNNN`, and one no patient can have
(SpO2 above 100 %, a rate or pressure above 300 or below 0) is nulled and flagged
`<field>_implausible`: never passed on as a number.

Time: an observation's NOM_ATTR_TIME_STAMP_ABS (NIBP carries the time of its measurement)
or else the poll result's abs_time_stamp is the device time of the `Measurement`, except
for NIBP: without a stamp of its own it has no device time (the poll's time is when it
was read, not measured, and would make one measurement look new at every poll);
`stamp()` (drivers/measurement.py) decides the reading's times. A poll re-reads the
monitor's current numerics: one that answers with the numeric of the previous poll
unchanged (same device time stamp and values; without a time stamp, an unchanged NIBP)
reports no new measurement and emits nothing. An HR or SpO2 timed by the poll (no stamp
of its own) is such an echo only if the poll's rel_time_stamp (the monitor's uptime in
1/8 ms, which runs whatever its absolute clock says) did not advance either: with the
clock stuck, not unset, every poll of a steady HR 45 after the first was dropped, and a
bradycardia never lasted the 10-s sample gap of its run. Nothing new either when only
the numeric's alarm bits (in alarm, alarm inhibited) changed or MSMT_ONGOING (the next
NIBP under way) was set; MSMT_ONGOING cleared is a measurement done, new even with the
last one's numbers. Whether a measurement that *was* emitted is new to the chair (a
repeat across restarts, stored records) is the hub's business (monitord/history.py).

Options (`IntelliVueOptions`): the serial link's settings and `poll_interval_s`.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from datetime import datetime
from typing import Any

from monitord.aio import within
from monitord.config import DeviceOptions
from monitord.drivers import intellivue_frames as F
from monitord.drivers.base import (
    ByteLink,
    DecodeProfile,
    DeviceContext,
    DriverDescriptor,
    LinkLost,
    Measurement,
    Reject,
    RejectReason,
    SerialDefaults,
    stamp,
)
from monitord.drivers.intellivue_poll import (
    ANSWER_MARGIN_S,
    DEFAULT_POLL_S,
    SILENCE_S,
    IntelliVueOptions,
    lost_answer_s,
)
from monitord.drivers.measurement import PRESSURE_MAX_mmHg, SPO2_RANGE_pct
from monitord.log import FailureLog
from monitord.models import KIND_FIELDS, Kind

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 5.0  # association result / MDS create event must come within this
KEEPALIVE_MISSES = 3
MIN_ANSWER_S = 5.0
MMHG_PER_KPA = 7.500615

# physio id -> (kind, field, allowed units)
_PRESSURE_UNITS = (F.NOM_DIM_MMHG, F.NOM_DIM_KILO_PASCAL)
_RATE_UNITS = (F.NOM_DIM_BEAT_PER_MIN,)
FIELDS: dict[int, tuple[Kind, str, tuple[int, ...]]] = {
    F.NOM_PRESS_BLD_NONINV_SYS: (Kind.BP, "sys_mmHg", _PRESSURE_UNITS),
    F.NOM_PRESS_BLD_NONINV_DIA: (Kind.BP, "dia_mmHg", _PRESSURE_UNITS),
    F.NOM_PRESS_BLD_NONINV_MEAN: (Kind.BP, "map_mmHg", _PRESSURE_UNITS),
    F.NOM_PRESS_BLD_NONINV_PULS_RATE: (Kind.BP, "pulse_bpm", _RATE_UNITS),
    F.NOM_ECG_CARD_BEAT_RATE: (Kind.HR, "hr_bpm", _RATE_UNITS),
    F.NOM_PULS_OXIM_SAT_O2: (Kind.SPO2, "spo2_pct", (F.NOM_DIM_PERCENT,)),
    F.NOM_PLETH_PULS_RATE: (Kind.SPO2, "pulse_bpm", _RATE_UNITS),
}
# Fields without which a reading of that kind is not valid.
REQUIRED: dict[Kind, tuple[str, ...]] = {
    Kind.BP: ("sys_mmHg", "dia_mmHg"),
    Kind.HR: ("hr_bpm",),
    Kind.SPO2: ("spo2_pct",),
}
# The NIBP pulse is a separate numeric with its own time stamp; it joins the NIBP reading
# but does not make one on its own.
_PRIMARY = {
    Kind.BP: {"sys_mmHg", "dia_mmHg", "map_mmHg"},
    Kind.HR: {"hr_bpm"},
    Kind.SPO2: {"spo2_pct"},
}


def poll_phase(chair: str, device: str, poll_s: float) -> float:
    """How much later than one period after the first a device's second poll goes: a
    fixed share, per device, of the period or of 1 s if the period is longer (a share of
    a second spreads the answers as well, and a long period then never grows the gap
    between two polls, the monitor's keep-alive, by more than 1 s). A daemon with several
    monitors associates them all at its start, so without it every monitor is polled in
    the same millisecond each period and their answers arrive as one burst (under the
    alert bench's 16 chairs ~10 ms of event-loop work once a second, which an alarm
    arriving then waits behind; issue 20)."""
    return zlib.crc32(f"{chair}/{device}".encode()) % 1000 / 1000 * min(poll_s, 1.0)


def _record(m: Measurement) -> dict[str, Any]:
    """A measurement as the decode CLI shows it: several kinds per message, so named."""
    return {"kind": str(m.kind), **m.to_record()}


# What a value can be at all, per field (drivers/measurement.py, as the other decoders
# check theirs; a rate up to 300 bpm, and 0 can be real: asystole on the ECG). Outside it
# the FLOAT decoded but cannot be physiological: nulled and flagged, never a number.
_RATE = (0.0, 300.0)
_PRESSURE = (0.0, PRESSURE_MAX_mmHg)
_PLAUSIBLE: dict[str, tuple[float, float]] = {
    "sys_mmHg": _PRESSURE,
    "dia_mmHg": _PRESSURE,
    "map_mmHg": _PRESSURE,
    "pulse_bpm": _RATE,
    "hr_bpm": _RATE,
    "spo2_pct": SPO2_RANGE_pct,
}


def _convert(v: F.ObservedValue, field: str, units: tuple[int, ...]) -> tuple[float | None, str]:
    if v.unit_code not in units:
        return None, f"unit_0x{v.unit_code:04x}"
    if v.value is None:
        return None, ""
    value = v.value
    if v.unit_code == F.NOM_DIM_KILO_PASCAL:
        value = round(v.value * MMHG_PER_KPA)
    lo, hi = _PLAUSIBLE[field]
    if not lo <= value <= hi:
        return None, f"{field}_implausible"
    return value, ""


def _add(
    acc: dict[Kind, dict[str, Any]],
    v: F.ObservedValue,
    time: datetime | None,
    polled: bool = False,
) -> None:
    """One observed value into the per-kind accumulator; `polled`: `time` is the poll's."""
    kind, field, units = FIELDS[v.physio_id]
    a = acc.setdefault(
        kind, {"values": {}, "status": [], "bad": False, "time": None, "polled": False}
    )
    value, refused = _convert(v, field, units)
    a["values"][field] = value
    flags = F.state_flags(v.state)
    if refused:
        flags.append(refused)
    if v.value is None:
        flags.append(f"{field}_no_value")
    if field in _PRIMARY[kind]:
        if v.state & F.STATE_NOT_VALID or refused:
            a["bad"] = True
        if a["time"] is None:
            a["time"], a["polled"] = time, polled and time is not None
    elif v.state & F.STATE_NOT_VALID:
        # a doubtful pulse must not pass as valid, but it does not void the BP
        a["values"][field] = None
    for f in flags:
        if f not in a["status"]:
            a["status"].append(f)


def _spo2_pulse(
    pulses: list[tuple[F.ObservedValue, int | None, datetime | None]],
) -> tuple[F.ObservedValue, datetime | None] | str | None:
    """The pulse of the SpO2 channel we read (NOM_PULS_OXIM_SAT_O2), among the
    NOM_PLETH_PULS_RATE values that every SpO2 channel (SpO2, SpO2 l/r, pre/post-ductal,
    telemetry) reports under the same physio id. The numeric's label names its channel:
    a labelled pulse of another channel is not ours. Unlabelled pulses are ours only if
    there is exactly one candidate; two or more cannot be told apart ("ambiguous")."""
    labelled = [(v, t) for v, lab, t in pulses if lab == F.NLS_NOM_PULS_OXIM_PULS_RATE]
    candidates = labelled or [(v, t) for v, lab, t in pulses if lab is None]
    if not candidates:
        return None
    if len(candidates) > 1:
        return "pulse_bpm_ambiguous"
    return candidates[0]


def numerics(msg: F.Message) -> list[Measurement]:
    """Poll result -> one `Measurement` per kind present (pure)."""
    return [m for m, _ in _numerics(msg)]


def _numerics(msg: F.Message) -> list[tuple[Measurement, bool]]:
    """`numerics`, each with whether its device time is the poll result's (no stamp of
    its own)."""
    acc: dict[Kind, dict[str, Any]] = {}
    pulses: list[tuple[F.ObservedValue, int | None, datetime | None]] = []
    for obs in msg.observations:
        for v in obs.values:
            if v.physio_id not in FIELDS:
                continue
            if v.physio_id == F.NOM_PLETH_PULS_RATE:
                pulses.append((v, obs.label, obs.time or msg.time))
                continue
            # NIBP is aperiodic: the poll result's time says when it was polled, not when
            # the cuff measured, and changes every poll (an unchanged NIBP would look new
            # each time, `_emit`). Only its own stamp is its device time.
            own = FIELDS[v.physio_id][0] is Kind.BP
            polled = not own and obs.time is None
            _add(acc, v, msg.time if polled else obs.time, polled)
    if Kind.SPO2 in acc:
        pulse = _spo2_pulse(pulses)
        if isinstance(pulse, str):
            acc[Kind.SPO2]["status"].append(pulse)
        elif pulse is not None:
            _add(acc, *pulse)
    out = []
    for kind in (Kind.BP, Kind.HR, Kind.SPO2):
        a = acc.get(kind)
        if a is None or not (_PRIMARY[kind] & a["values"].keys()):
            continue
        values = {f: a["values"].get(f) for f in KIND_FIELDS[kind]}
        valid = not a["bad"] and all(values.get(f) is not None for f in REQUIRED[kind])
        m = Measurement(kind, values, device_time=a["time"], valid=valid, flags=tuple(a["status"]))
        out.append((m, a["polled"]))
    return out


def decode_frame(data: bytes) -> list[dict[str, Any]] | Reject:
    """One framed message (C0 ... C1) -> records. Never raises on bad bytes."""
    user = F.unframe(data)
    if isinstance(user, Reject):
        return user
    msg = F.decode_message(user)
    if isinstance(msg, Reject):
        return msg
    if msg.type != "poll_result":
        return [{"message": msg.type, "invoke_id": msg.invoke_id}]
    recs = [_record(m) for m in numerics(msg)]
    if not recs:
        return Reject(RejectReason.NO_VALUE, "poll result carries no NIBP, HR or SpO2 numeric")
    return recs


# MeasurementState bits that say nothing new about the measured value by being there
# (`_emit`); MSMT_ONGOING's end does: the measurement it announced is done.
_ONGOING = dict(F.STATE_FLAGS)[F.MS_MSMT_ONGOING]
_NO_NEWS = frozenset(
    dict(F.STATE_FLAGS)[bit] for bit in (F.MS_MSMT_STATE_IN_ALARM, F.MS_MSMT_STATE_AL_INHIBITED)
) | {_ONGOING}


class _Reassociate(Exception):
    """The association is gone (timeout, abort, release by the monitor): start over."""


class IntelliVueProtocol:
    """Client side of the Data Export session over one connected byte link."""

    def __init__(self, settings: DeviceOptions | None = None) -> None:
        poll = settings.poll_s() if isinstance(settings, IntelliVueOptions) else DEFAULT_POLL_S
        self.poll_s = float(poll)
        self._invoke = 0
        self._poll_number = 0
        # kind -> what the last poll answered (device time, the poll's relative time when
        # that is the device time, values, flags); kept across re-associations and
        # reconnects: a poll echoing it reports nothing new.
        self._answered: dict[Kind, tuple[datetime | None, int | None, tuple[Any, ...]]] = {}
        self._ongoing: dict[Kind, bool] = {}  # kind -> the last poll had MSMT_ONGOING
        # The parts of a poll result the monitor split (linked results), read as one poll
        # result: SpO2 and its pulse can come in different parts (intellivue_frames.py).
        self._linked = F.LinkedResults()
        self.associations = 0  # how many times an association was established
        # Lost associations: WARNING once per reason, DEBUG while it repeats, INFO when a
        # poll is answered again. Kept across reconnects (this object lives as long as
        # the device's link task): a monitor whose export another client holds refuses
        # every association, and each refusal was a WARNING, every few seconds for as
        # long as it lasted (the serial link's reconnects started them afresh).
        self._lost: FailureLog | None = None
        self._ended_early = 0  # associations in a row the monitor ended, no poll answered

    def _next_invoke(self) -> int:
        self._invoke = (self._invoke + 1) & 0xFFFF
        return self._invoke

    async def run(self, link: ByteLink, ctx: DeviceContext) -> None:
        queue: asyncio.Queue[F.Message | BaseException] = asyncio.Queue()
        reader = asyncio.create_task(self._reader(link, ctx, queue))
        if self._lost is None:
            self._lost = FailureLog(log, f"{ctx.chair}/{ctx.device}")
        try:
            while True:
                try:
                    await self._session(link, ctx, queue)
                except _Reassociate as e:
                    self._lost.failure(str(e), f"IntelliVue association lost ({e}); re-associating")
        except asyncio.CancelledError:
            # Release on stop (Guide "Association Release Request"); best effort.
            try:
                await asyncio.wait_for(link.write(F.frame(F.release_request())), 1.0)
            except (LinkLost, OSError, TimeoutError):
                pass
            raise
        finally:
            reader.cancel()

    async def _reader(
        self, link: ByteLink, ctx: DeviceContext, queue: asyncio.Queue[F.Message | BaseException]
    ) -> None:
        framer = F.FrameReader()
        try:
            while True:
                for item in framer.feed(await link.read()):
                    if isinstance(item, Reject):
                        ctx.reject(item)
                        continue
                    msg = F.decode_message(item)
                    if isinstance(msg, Reject):
                        ctx.reject(msg)
                    else:
                        queue.put_nowait(msg)
        except LinkLost as e:
            queue.put_nowait(e)

    async def _get(
        self, queue: asyncio.Queue[F.Message | BaseException], wait_s: float
    ) -> F.Message | None:
        try:
            item = await within(queue.get(), wait_s)  # never swallows a stop (monitord/aio.py)
        except TimeoutError:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def _session(
        self, link: ByteLink, ctx: DeviceContext, queue: asyncio.Queue[F.Message | BaseException]
    ) -> None:
        self._linked.clear()  # parts of the last association's poll are not completed
        await link.write(F.frame(F.association_request(self.poll_s)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_TIMEOUT_S
        # 1. association result
        while True:
            msg = await self._get(queue, max(0.0, deadline - loop.time()))
            if msg is None:
                raise _Reassociate("no association result")
            if msg.type == "assoc_result":
                break
            if msg.type == "assoc_refuse":
                await asyncio.sleep(ANSWER_TIMEOUT_S)
                raise _Reassociate("association refused by the monitor")
            # anything else before the result belongs to an older session: ignore
        # 2. MDS create event report -> answer it
        while True:
            msg = await self._get(queue, max(0.0, deadline - loop.time()))
            if msg is None:
                raise _Reassociate("no MDS create event")
            if msg.type == "mds_create":
                await link.write(F.frame(F.mds_create_result(msg.invoke_id)))
                break
            # The monitor ending the association it just accepted: answered as when
            # polling. Before, ignored: 5 s waited out, no release result sent, and the
            # log said "no MDS create event". Anything else here is ignored as before.
            await self._ended(msg, link)
        self.associations += 1
        log.info("%s/%s: IntelliVue associated", ctx.chair, ctx.device)
        # 3. poll, forever
        answer_s = max(MIN_ANSWER_S, KEEPALIVE_MISSES * self.poll_s)
        last_answer = loop.time()
        next_poll = loop.time()  # the first poll at once; the second one `phase` later
        phase = poll_phase(ctx.chair, ctx.device, self.poll_s)
        while True:
            now = loop.time()
            if now >= next_poll:
                self._poll_number = (self._poll_number + 1) & 0xFFFF
                # All attribute groups (0, as in the Guide's example): the reply then
                # carries each numeric's label, which tells the SpO2 channels apart.
                poll = F.poll_request(self._next_invoke(), self._poll_number, attr_group=0)
                await link.write(F.frame(poll))
                next_poll, phase = now + self.poll_s + phase, 0.0
            if now - last_answer > answer_s:
                raise _Reassociate(f"no poll result for {answer_s:.0f} s")
            msg = await self._get(queue, max(0.001, next_poll - loop.time()))
            if msg is None:
                continue
            if msg.type == "poll_result":
                # Only a poll answered shows a working session: a monitor refusing every
                # association (export taken by another client) talks, but gives no data.
                link.heard()
                last_answer = loop.time()
                self._ended_early = 0
                if self._lost is not None and self._lost.failing:
                    self._lost.success("IntelliVue polls answered again")
                for whole in self._linked.feed(msg):
                    if isinstance(whole, Reject):
                        ctx.reject(whole)
                    else:
                        self._emit(whole, ctx)
            elif msg.type in ("abort", "release_request"):
                await self._ended(msg, link)
            elif msg.type == "mds_create":  # monitor restarted its side: answer again
                await link.write(F.frame(F.mds_create_result(msg.invoke_id)))
            elif msg.type == "error":
                ctx.reject(Reject(RejectReason.UNKNOWN_TYPE, "monitor answered a remote error"))

    async def _ended(self, msg: F.Message, link: ByteLink) -> None:
        """An abort or a release request ends the association (a release is answered
        first, the Guide's release dialog); any other message does nothing. The first end
        re-associates at once; a second in a row with no poll answered between waits
        ANSWER_TIMEOUT_S first, as a refusal does: at once, a monitor that ends every
        association it accepts was sent association requests as fast as it answered
        (thousands a second)."""
        if msg.type not in ("abort", "release_request"):
            return
        if msg.type == "release_request":
            await link.write(F.frame(F.release_result()))
        self._ended_early += 1
        if self._ended_early > 1:
            await asyncio.sleep(ANSWER_TIMEOUT_S)
        if msg.type == "abort":
            raise _Reassociate("monitor aborted the association")
        if msg.type == "release_request":
            raise _Reassociate("monitor released the association")

    def _emit(self, msg: F.Message, ctx: DeviceContext) -> None:
        for m, polled in _numerics(msg):
            # The monitor's alarm handling of a numeric (in alarm, alarms paused) and the
            # next measurement's progress are no news of this one: an NIBP polled again
            # with only those bits changed was a new BP reading, which without a stamp
            # of its own the hub cannot tell for a repeat (a 2-reading rule confirmed by
            # one measurement). A change of validity still is news (`valid`), and so is
            # MSMT_ONGOING cleared: the next measurement is done, and without a stamp of
            # its own nothing else tells a second 186/112 from the first (ignored, it was
            # missed: a repeat confirming bp.severe, a BP taken that tech.bp_overdue
            # did not see). One aborted with the last numbers left is read as a repeat.
            news = tuple(f for f in m.flags if f not in _NO_NEWS)
            # A device time that is the poll's says when the numeric was read, and a
            # clock stuck says the same every poll: the poll's relative time (the
            # monitor's uptime, which runs whatever its clock says) tells a new poll of a
            # steady HR 45 from an echo (before: all dropped after the first, module
            # docstring "Time").
            rel = msg.rel_time if polled else None
            answer = (m.device_time, rel, (*sorted(m.values.items()), m.valid, news))
            ongoing = _ONGOING in m.flags
            done = self._ongoing.get(m.kind, False) and not ongoing
            self._ongoing[m.kind] = ongoing
            # The poll echoed the previous answer (same device time stamp and values, and
            # for a numeric timed by the poll the same relative time too): the monitor has
            # measured nothing since. Without a time stamp only NIBP (aperiodic) can be
            # told to be an echo; HR/SpO2 are continuous.
            echo = self._answered.get(m.kind) == answer and not done
            if echo and (m.device_time is not None or m.kind is Kind.BP):
                continue
            self._answered[m.kind] = answer
            ctx.emit(stamp(m, ctx))


DRIVER = DriverDescriptor(
    name="intellivue",
    transport="serial",
    kinds=(Kind.BP, Kind.HR, Kind.SPO2),
    summary="Philips IntelliVue MP/MX Data Export over MIB/RS232 (NIBP, HR, SpO2)",
    settings=IntelliVueOptions,
    make_protocol=IntelliVueProtocol,
    # The monitor answers a poll within a second; 5 s of silence with polls going out at
    # poll_interval_s means the cable or the monitor is gone. period_s: that second; the
    # poll interval adds to it, which IntelliVueOptions checks against silence_s. An
    # answer lost to line noise (bad frame check) is not asked again: the next is heard
    # two polls and up to an answer's second after the last (check-config weighs a
    # device's own poll interval).
    serial=SerialDefaults(
        baudrate=115200,
        period_s=ANSWER_MARGIN_S,
        silence_s=SILENCE_S,
        resync_s=lost_answer_s(DEFAULT_POLL_S),
    ),
    simulator="monitord.simulators.intellivue:IntelliVueSim",
)
PROFILE = DecodeProfile(
    name="intellivue",
    input="hex",
    summary="hex of one framed Data Export message (C0 ... C1)",
    decode=decode_frame,
)
