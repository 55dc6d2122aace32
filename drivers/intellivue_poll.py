"""An IntelliVue's poll settings (`IntelliVueOptions`, the config's keys of an
`intellivue` device) and the times they are weighed with: how often it may be polled, and
how long its link may stay silent between two answers. Apart from drivers/intellivue.py,
which runs the polls, so that module stays within the size limit."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from monitord.drivers.serial_link import SerialLinkSettings
from monitord.engine.rules import MAX_SAMPLE_GAP_S

DEFAULT_POLL_S = 1.0
# The link's default silence (the descriptor's), and the time a poll's answer may take
# that a poll interval must leave inside it (IntelliVueOptions).
SILENCE_S = 5.0
ANSWER_MARGIN_S = 1.0
MIN_POLL_INTERVAL_S = 0.5


def lost_answer_s(poll_s: float) -> float:
    """The interval between two answers heard around one lost to line noise (a bad frame
    check): polls are not repeated, so the next comes a poll later, within its second."""
    return 2 * poll_s + ANSWER_MARGIN_S


class IntelliVueOptions(SerialLinkSettings):
    """An IntelliVue device's keys: the serial link's, and how often to poll."""

    poll_interval_s: Annotated[float, Field(gt=0, le=60)] | None = None

    def poll_s(self) -> float:
        # The default poll counts as well: check-config weighs silence_s against it.
        return self.poll_interval_s or DEFAULT_POLL_S

    @field_validator("poll_interval_s")
    @classmethod
    def _poll_interval(cls, v: float | None, info: ValidationInfo) -> float | None:
        # A real MP70 will not be polled faster than every 500 ms (OpenICE's IntelliVue
        # driver); a simulated monitor on a virtual clock may be.
        real = not (info.context or {}).get("simulated")
        if v is not None and real and v < MIN_POLL_INTERVAL_S:
            raise ValueError(
                f"{v:g} s is faster than an IntelliVue accepts: at least {MIN_POLL_INTERVAL_S} s"
            )
        # One HR and SpO2 sample a poll, heard up to an answer's second after it: samples
        # further apart than MAX_SAMPLE_GAP_S restart every HR/SpO2 confirmation run
        # (docs/alerts.md), so a 12-s poll (check-config said ok) let HR 160 and SpO2 82 %
        # go for 10 min without an alarm.
        if v is not None and real and v + ANSWER_MARGIN_S > MAX_SAMPLE_GAP_S:
            raise ValueError(
                f"{v:g} s polls HR and SpO2 further apart than the {MAX_SAMPLE_GAP_S:g} s "
                "within which their alarms confirm (docs/alerts.md): no HR or SpO2 alarm "
                f"would ever be raised; at most {MAX_SAMPLE_GAP_S - ANSWER_MARGIN_S:g} s"
            )
        return v

    @model_validator(mode="after")
    def _poll_within_silence(self, info: ValidationInfo) -> IntelliVueOptions:
        # The link is lost after `silence_s` without a byte, and a monitor talks only to
        # answer a poll: polled as often or less, a working monitor's link drops and is
        # made again between every two polls, and one that is really gone is never down
        # for `tech.device_lost`'s 30 s. A simulated monitor polls on its virtual clock.
        ctx = info.context or {}
        silence = ctx.get("silence_s") or SILENCE_S
        poll = self.poll_interval_s
        if poll is not None and not ctx.get("simulated") and poll + ANSWER_MARGIN_S > silence:
            # The advice is what check-config also passes (config_checks): an answer lost
            # to line noise is not asked again, so the next is heard two polls and an
            # answer after the last; `poll + 1` got a warning that it was too short.
            raise ValueError(
                f"poll_interval_s = {poll:g} leaves no time to answer within silence_s = "
                f"{silence:g}: set silence_s above {lost_answer_s(poll):g} (two polls and an "
                "answer: one lost to line noise is not asked again)"
            )
        return self
