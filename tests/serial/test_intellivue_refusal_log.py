"""A monitor whose Data Export another client holds refuses every association request.
Each refusal was logged at WARNING ("association lost ... re-associating"), one every
`ANSWER_TIMEOUT_S` (5 s) for as long as it lasted, started afresh by each reconnect of
the serial link: thousands a day, against the house rule (WARNING once per reason, then
DEBUG; INFO when it recovers).

The IntelliVue simulator on a real pty, through the real serial transport; the wait after
a refusal cut from 5 s so that refusals come quickly. The WARNING count after twice the
refusals must not be above the count after the first ones.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from serial_testkit import RecordingContext

from monitord.drivers import intellivue
from monitord.simulators.intellivue import IntelliVueSim
from tests.kit import device_config, eventually
from tests.serial.test_serial_e2e_pty import running

LOGGER = "monitord.drivers.intellivue"


def lost(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == level and "association lost" in r.getMessage()
    ]


async def test_refused_associations_are_warned_once_until_polls_answer(
    ctx: RecordingContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    monkeypatch.setattr(intellivue, "ANSWER_TIMEOUT_S", 0.3)
    async with IntelliVueSim() as sim:
        sim.refuse_next = True
        dev = device_config(id="mon", driver="intellivue", port=sim.port, silence_s=0.5)
        async with running(dev, ctx):

            async def refusals(n: int) -> None:
                def taken() -> bool:
                    return len(lost(caplog, logging.WARNING) + lost(caplog, logging.DEBUG)) >= n

                while not taken():
                    await asyncio.sleep(0.02)
                    sim.refuse_next = True

            await asyncio.wait_for(refusals(3), 20)
            warned_n = len(lost(caplog, logging.WARNING))
            await asyncio.wait_for(refusals(6), 20)
            warned_2n = len(lost(caplog, logging.WARNING))
            assert warned_n == warned_2n == 1, lost(caplog, logging.WARNING)
            assert "refused" in lost(caplog, logging.WARNING)[0]

            # The export is free again: polls answered, the recovery said at INFO.
            sim.refuse_next = False
            await ctx.until(lambda: ctx.link_up and sim.polls > 0, "accepted: up, polled")
            await eventually(
                lambda: any("recovered" in r.getMessage() for r in caplog.records
                            if r.name == LOGGER and r.levelno == logging.INFO),
                10,
                "the recovery line",
            )  # fmt: skip
