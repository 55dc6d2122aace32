"""A refused session command shown as a harmless duplicate (not red) must be one: the same
command, already done (docs/station.md "Session controls"). Real daemon, real mosquitto
(the shipped ACL), the real station, two nurses in two headless Chromiums.

- A Start refused because a session of ANOTHER protocol is open on the chair: bob chose
  iv-ketamine for his patient while alice had just started an esketamine session there.
  Before, bob read, not in red, "Start session by bob at 14:02: the session had already
  started at 14:02 (esketamine)", as if his start were done: his patient would be watched
  on the esketamine rules (and discharge clock). Now it is a refusal, in red, naming the
  open session's protocol and what to do.
- A Dose start confirmed minutes after the chair's dose started (a confirmation left open,
  a page behind; or the previous patient's session nobody ended): before, green "the dose
  had already started at 14:02; this one was not recorded", a duplicate, hiding that the
  open session's dose is not the one the nurse is giving. Now only a Dose start within
  2 min of the dose start (a double tap, two nurses at once) is a duplicate; later it is
  a refusal, in red, saying when this session's dose started and what to do. The minutes
  between alice's dose and bob's confirmation are on the daemon's clocks, which judge it
  (the refusal's time, the dose's): the chair's daemon ran 5 min back (libfaketime) while
  alice recorded the dose, and bob confirms once it runs on the real clock again, 5 min
  later to it, the session restored at its start (a real chair: a Masimo oximeter on a
  pty).
- A double-tapped Dose start (green, a duplicate) and then the session ended while its line
  is still up (10 min): before, the line was judged again against the chair's session of
  now (none) and turned red, "Dose start by bob refused at 14:02: ...; no session is open:
  Start session first", sending the nurse to start a session and record the dose again.
  Now a refusal is judged against the session open when it came (the station keeps it):
  it stays "the dose had already started at 14:02".
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.e2e.e2e_kit import Oximeter, port_path
from tests.faults.clock_kit import libfaketime
from tests.station.cdp import browser
from tests.station.session_kit import (
    confirm_as,
    dose_started_under_bobs_dialog,
    line,
    ok,
    open_dialog,
    phase_is,
    two_nurses,
)
from tests.station.station_kit import (
    SITE,
    TZ,
    Proc,
    daemon_process,
    login_page,
    mqtt_section,
    show_logs,
    station_config,
    station_process,
)

# How far back the chair's daemon runs while alice records the dose: past the 2 min of a
# double tap (session.js START_AGAIN_MS), with room for a slow machine after it.
DOSED_AGO_S = 300


def real_chair_2_config(tmp: Path, broker: AclMosquitto) -> Path:
    """chair-2's daemon as session_kit's, but a real chair (its session restored by a
    restart; a simulated one starts afresh): a Masimo oximeter on `port_path`. The
    station's commands carry its clock's time: `command_max_age_s` lets them in while the
    daemon runs 5 min back."""
    d = tmp / "chair-2"
    d.mkdir(exist_ok=True)
    mqtt = mqtt_section(broker, "chair-2", d).replace(
        "[mqtt]\n", f"[mqtt]\ncommand_max_age_s = {2 * DOSED_AGO_S}\n"
    )
    cfg = d / "monitord.toml"
    cfg.write_text(
        f"""
[site]
id = "{SITE}"
timezone = "{TZ}"
{mqtt}
[influx]
enabled = false
[storage]
path = "{d / "outbox.sqlite"}"
[[chairs]]
id = "chair-2"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "{port_path(tmp)}"
"""
    )
    return cfg


class PastProc(Proc):
    """A `monitord` subprocess that runs `back_s` ago: libfaketime sets its wall clock that
    far back, and its monotonic clock (faked too) onto the faked wall clock, a scale of
    no use to the next run on this boot. Restarted on the real clocks, the daemon finds
    the store's last sign of life `back_s` ago and no monotonic time to measure the time
    down with (as after a reboot): it was down `back_s`, its chair clock on the wall clock
    (monitord/clock.py). A monotonic clock left real would measure seconds down instead,
    and the chair clock would stay 5 min off the wall clock: a clock step, not minutes."""

    def __init__(self, args: list[str], log: Path, back_s: int) -> None:
        super().__init__(args, log)
        self.back_s = back_s

    def env(self) -> dict[str, str]:
        return {**os.environ, "LD_PRELOAD": libfaketime(), "FAKETIME": f"-{self.back_s}"}

    def check(self) -> None:
        """A child under this env sees the wall clock `back_s` back and a monotonic clock
        ahead of this boot's (else the test proves nothing of minutes)."""
        probe = "import json, time; print(json.dumps([time.time(), time.monotonic()]))"
        r0 = time.time()
        out = subprocess.run(
            [sys.executable, "-c", probe], env=self.env(), capture_output=True, check=True
        )
        wall, mono = json.loads(out.stdout)
        r1, m1 = time.time(), time.monotonic()
        assert r0 - self.back_s - 1 <= wall <= r1 - self.back_s + 1, (wall, r0)
        assert mono > m1 + self.back_s, (mono, m1)

    def start(self) -> PastProc:
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitord", *self.args],
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
            )
        return self


@contextlib.asynccontextmanager
async def running(p: Proc) -> AsyncIterator[Proc]:
    """`p` started for the block, stopped cleanly at its end."""
    p.start()
    try:
        yield p
    finally:
        assert p.stop() == 0, p.output()[-3000:]


async def test_a_start_refused_for_a_session_of_another_protocol_is_red(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    async with two_nurses(tmp_path, acl_broker) as (alice, bob, _url):
        # bob's Start (iv-ketamine) open; alice starts an esketamine session first.
        await open_dialog(bob, "start")
        await bob.js(
            "(() => { const s = document.getElementById('confirm-protocol');"
            " s.value = 'iv-ketamine'; return s.value; })()"
        )
        await confirm_as(alice, "alice", "start")
        await bob.until(phase_is("BASELINE"), 20, "baseline on bob's page, under his dialog")
        await ok(bob)
        for page in (bob, alice):
            cls, text = await line(page, "Start session by bob")
            assert cls == "refusal", (cls, text)
            assert text.startswith("Start session by bob refused at "), text
            assert "esketamine" in text and "iv-ketamine" in text, text
            assert "End session first" in text, text
        await bob.screenshot(tmp_path / "bob.png")


async def test_a_dose_start_refused_minutes_after_the_dose_started_is_red(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    cfg = real_chair_2_config(tmp_path, acl_broker)
    scfg = station_config(tmp_path, acl_broker)
    async with (
        Oximeter(tmp_path),
        station_process(scfg, tmp_path / "station.log") as (station, url),
        browser() as ba,
        browser() as bb,
    ):
        alice, bob = await ba.new_page(), await bb.new_page()
        await login_page(alice, url, "alice")
        await login_page(bob, url, "bob")
        past = PastProc(["run", "--config", str(cfg)], tmp_path / "chair-2-past.log", DOSED_AGO_S)
        past.check()
        async with running(past), show_logs(station, past):
            for page in (alice, bob):
                await page.until(phase_is("IDLE"), 40, "chair-2 idle")
            await confirm_as(alice, "alice", "start")
            await bob.until(phase_is("BASELINE"), 20, "baseline")
            # bob's Dose start left open; alice records the dose.
            await dose_started_under_bobs_dialog(alice, bob)
        await bob.until("chairs.get('chair-2').online === false", 20, "chair-2 stopped")
        # The daemon on the real clock: bob confirms 5 min after the dose, on its clocks.
        async with (
            daemon_process(cfg, tmp_path / "chair-2.log") as daemon,
            show_logs(station, daemon),
        ):
            await bob.until("chairs.get('chair-2').online === true", 40, "chair-2 back")
            assert await bob.js("document.getElementById('confirm').open")
            await ok(bob)
            for page in (bob, alice):
                cls, text = await line(page, "Dose start by bob")
                assert cls == "refusal", (cls, text)
                assert text.startswith("Dose start by bob refused at "), text
                assert "; this session's dose started at " in text, text
                assert text.endswith("End session first, then Start"), text
            await bob.screenshot(tmp_path / "bob.png")
            # The 5 min were time down to the restarted daemon, its chair clock on the
            # wall clock (not a clock step it kept apart from it: minutes of another kind).
            said = daemon.output()
            assert "monitord stopped for " in said and "off the chair clock" not in said, said
        await alice.close()
        await bob.close()


async def test_a_duplicate_dose_start_stays_a_duplicate_after_end_session(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    async with two_nurses(tmp_path, acl_broker) as (alice, bob, url):
        await confirm_as(alice, "alice", "start")
        await bob.until(phase_is("BASELINE"), 20, "baseline")
        await dose_started_under_bobs_dialog(alice, bob)
        await ok(bob)
        cls, text = await line(bob, "Dose start by bob")
        assert cls == "answer session-done", (cls, text)
        # The session ended (the wrong chair, a patient who withdrew) within the 10 min.
        await confirm_as(alice, "alice", "dose_end")
        await alice.until(phase_is("OBSERVATION"), 20, "observation")
        await confirm_as(alice, "alice", "end")
        for page in (alice, bob):
            await page.until(phase_is("IDLE"), 20, "idle again")
        # alice's page loaded again after the end: it is told the refusal by the station.
        await alice.goto(url + "/")
        await alice.until("!document.getElementById('board').hidden", 20, "board again")
        for page in (bob, alice):
            cls, text = await line(page, "Dose start by bob")
            assert cls == "answer session-done", (cls, text)
            assert "the dose had already started at " in text, text
            assert "Start session first" not in text, text
        await bob.screenshot(tmp_path / "bob.png")
