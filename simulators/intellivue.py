"""Philips IntelliVue monitor simulator: the monitor side of the Data Export session
(drivers/intellivue.py draws the dialog; both use drivers/intellivue_frames.py).

- answers an Association Request with an Association Result, then sends the MDS Create
  Event Report and waits for its result;
- answers each (extended) Poll Request with the latest numerics set by `send()`:
  NIBP as a compound SYS/DIA/MEAN numeric plus the NIBP pulse, both stamped with the NIBP
  measurement time (= `at` of the `bp` event); HR; SpO2 and its pulse rate. Each numeric
  carries the time of its own event, the poll result the current device clock; the SpO2
  numerics carry their labels, and `spo2_right` adds a second SpO2 channel ("SpO2 r")
  whose pulse shares the physio id 0x4822, as on a monitor with two SpO2 sensors;
- `max_reply_bytes` set: a reply longer than that goes out as linked results, as a
  monitor splits one that exceeds the client's max_mtu_rx (`F.poll_result_parts`);
- answers a Release Request with a Release Result;
- on request: `corrupt_next(n)` spoils the FCS of the next n frames, `inject(b)` puts raw
  bytes on the line, `refuse_next` refuses the next association, `silent` stops answering.
"""

from __future__ import annotations

from datetime import datetime

from monitord.drivers import intellivue_frames as F
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent

H_NIBP, H_NIBP_PULSE, H_HR, H_SPO2, H_SPO2_PULSE = 0x0101, 0x0102, 0x0103, 0x0104, 0x0105
H_SPO2_R, H_SPO2_R_PULSE = 0x0106, 0x0107


def _obs(pid: int, state: int, unit: int, v: float | None) -> F.ObservedValue:
    return F.ObservedValue(pid, state, unit, v)


def observations(
    latest: dict[Kind, tuple[SimEvent, datetime]],
    spo2_right: tuple[float, float] | None = None,
) -> list[F.Observation]:
    out: list[F.Observation] = []
    if Kind.BP in latest:
        ev, at = latest[Kind.BP]
        state = F.MS_INVALID if ev.error else 0
        v = ev.values
        out.append(
            F.Observation(
                H_NIBP,
                (
                    _obs(F.NOM_PRESS_BLD_NONINV_SYS, state, F.NOM_DIM_MMHG, v.get("sys_mmHg")),
                    _obs(F.NOM_PRESS_BLD_NONINV_DIA, state, F.NOM_DIM_MMHG, v.get("dia_mmHg")),
                    _obs(F.NOM_PRESS_BLD_NONINV_MEAN, state, F.NOM_DIM_MMHG, v.get("map_mmHg")),
                ),
                at,
            )
        )
        if v.get("pulse_bpm") is not None or ev.error:
            out.append(
                F.Observation(
                    H_NIBP_PULSE,
                    (
                        _obs(
                            F.NOM_PRESS_BLD_NONINV_PULS_RATE,
                            state,
                            F.NOM_DIM_BEAT_PER_MIN,
                            v.get("pulse_bpm"),
                        ),
                    ),
                    at,
                )
            )
    if Kind.HR in latest:
        ev, at = latest[Kind.HR]
        off = ev.contact is False
        hr = None if off else ev.values.get("hr_bpm")
        state = F.MS_INVALID | F.MS_UNAVAILABLE if off else 0
        out.append(
            F.Observation(
                H_HR, (_obs(F.NOM_ECG_CARD_BEAT_RATE, state, F.NOM_DIM_BEAT_PER_MIN, hr),), at
            )
        )
    if Kind.SPO2 in latest:
        ev, at = latest[Kind.SPO2]
        off = ev.contact is False
        state = F.MS_INVALID | F.MS_UNAVAILABLE if off else 0
        spo2 = None if off else ev.values.get("spo2_pct")
        pulse = None if off else ev.values.get("pulse_bpm")
        out.append(
            F.Observation(
                H_SPO2,
                (_obs(F.NOM_PULS_OXIM_SAT_O2, state, F.NOM_DIM_PERCENT, spo2),),
                at,
                F.NLS_NOM_PULS_OXIM_SAT_O2,
            )
        )
        if pulse is not None or off:
            out.append(
                F.Observation(
                    H_SPO2_PULSE,
                    (_obs(F.NOM_PLETH_PULS_RATE, state, F.NOM_DIM_BEAT_PER_MIN, pulse),),
                    at,
                    F.NLS_NOM_PULS_OXIM_PULS_RATE,
                )
            )
        if spo2_right is not None:
            r_spo2, r_pulse = spo2_right
            out.append(
                F.Observation(
                    H_SPO2_R,
                    (_obs(F.NOM_PULS_OXIM_SAT_O2_ART_RIGHT, 0, F.NOM_DIM_PERCENT, r_spo2),),
                    at,
                    F.NLS_NOM_PULS_OXIM_SAT_O2_ART_RIGHT,
                )
            )
            out.append(
                F.Observation(
                    H_SPO2_R_PULSE,
                    (_obs(F.NOM_PLETH_PULS_RATE, 0, F.NOM_DIM_BEAT_PER_MIN, r_pulse),),
                    at,
                    F.NLS_SPO2_NAMES_PULS_OXIM_PULS_RATE_RIGHT,
                )
            )
    return out


class IntelliVueSim(SerialSim):
    kinds = (Kind.BP, Kind.HR, Kind.SPO2)  # the order of a poll's answer, and the driver's
    period_s = 3600.0  # the monitor only speaks when spoken to
    answers_polls = True

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._reader = F.FrameReader()
        self.associated = False
        self.mds_confirmed = False
        self._invoke = 0
        self._seq = 0
        self._corrupt = 0
        self.refuse_next = False
        self.silent = False
        self.polls = 0  # poll requests answered (tests wait on it)
        self.associations = 0
        self.releases = 0
        self.rejects: list[str] = []
        self.spo2_right: tuple[float, float] | None = None  # (SpO2 r %, its pulse)
        self.max_reply_bytes: int | None = None  # split longer replies into linked parts

    def corrupt_next(self, n: int = 1) -> None:
        self._corrupt += n

    def inject(self, data: bytes) -> None:
        self.write(data)

    def on_link_change(self) -> None:
        self._reader = F.FrameReader()
        self.associated = self.mds_confirmed = False

    def _send(self, user_data: bytes) -> None:
        corrupt = self._corrupt > 0
        if corrupt:
            self._corrupt -= 1
        self.write(F.frame(user_data, corrupt_fcs=corrupt))

    def on_data(self, data: bytes) -> None:
        for item in self._reader.feed(data):
            if not isinstance(item, bytes):
                self.rejects.append(str(item))
                continue
            msg = F.decode_message(item)
            if not isinstance(msg, F.Message):
                self.rejects.append(str(msg))
                continue
            self._handle(msg)

    def _handle(self, msg: F.Message) -> None:
        if self.silent:
            return
        if msg.type == "assoc_request":
            if self.refuse_next:
                self.refuse_next = False
                self._send(F.association_refuse())
                return
            self._send(F.association_result())
            self.associated, self.mds_confirmed = True, False
            self.associations += 1
            self._invoke = (self._invoke + 1) & 0xFFFF
            self._send(F.mds_create_event(self._invoke))
        elif msg.type == "mds_create_reply":
            self.mds_confirmed = True
        elif msg.type == "poll_request" and self.associated:
            self._seq = (self._seq + 1) & 0xFFFF
            parts = F.poll_result_parts(
                msg.invoke_id,
                msg.poll_number,
                self._seq,
                self.device_now(),
                observations(self.latest, self.spo2_right),
                self.max_reply_bytes or F.MTU_RX,
            )
            for part in parts:
                self._send(part)
            self.polls += 1
        elif msg.type == "release_request":
            self._send(F.release_result())
            self.associated = False
            self.releases += 1
        elif msg.type == "abort":
            self.associated = False
