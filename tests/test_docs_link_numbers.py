"""The link timings docs/reliability.md and docs/devices.md state are the code's.

The engineer reads how long a link waits (a reconnect's backoff, a scan, a connect, a
hang-up) in the docs, not in the code; these numbers decide how soon a replugged adapter
or a paired cuff is read again, and its `tech.device_lost` cleared. No test held them:
the backoff tests compare delays with the class's own constants, so a changed constant
and a stale sentence passed together. Each row is a sentence of the docs (whitespace
folded) and the constant it states; a change to either fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitord.drivers.ble_errors import AmbiguousName, NeedsPairing, NoAdapter, Transient
from monitord.drivers.ble_link import LinkTiming
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff

DOCS = Path(__file__).parents[1] / "docs"


def _text(name: str) -> str:
    return re.sub(r"\s+", " ", (DOCS / name).read_text(encoding="utf-8"))


def _g(x: float) -> str:
    return f"{x:g}"


_PORT = PortBackoff()
_BLE = LinkTiming()

ROWS: list[tuple[str, str]] = [
    # serial reconnects (reliability.md "the serial reconnect backoff")
    ("reliability.md", f"shortest delay ({_g(_PORT.min_s)} to {_g(_PORT.base_s)} s)"),
    ("reliability.md", f"capped at {_g(_PORT.missing_cap_s)} s (`PortBackoff.missing_cap_s`"),
    ("reliability.md", f"The other classes keep the {_g(_PORT.cap_s)} s cap"),
    ("reliability.md", f"(its cable and USB adapter advice, its {_g(_PORT.missing_cap_s)}-s cap)"),
    # BLE reconnects, per error class
    (
        "reliability.md",
        f"(`Transient`: {_g(Transient.backoff_base_s)} s doubling to "
        f"{_g(Transient.backoff_cap_s)} s)",
    ),
    (
        "reliability.md",
        f"backoff of {_g(AmbiguousName.backoff_base_s)} s doubling to "
        f"{_g(AmbiguousName.backoff_cap_s)} s",
    ),
    (
        "reliability.md",
        f"retried from {_g(NeedsPairing.backoff_base_s)} s up to "
        f"{_g(NeedsPairing.backoff_cap_s)} s",
    ),
    (
        "devices.md",
        f"retried every {_g(NeedsPairing.backoff_base_s)} s doubling to "
        f"{_g(NeedsPairing.backoff_cap_s)} s",
    ),
    ("reliability.md", f"at most {_g(NoAdapter.backoff_cap_s)} s apart, however long"),
    # BLE scan, name window, connect and hang-up
    (
        "reliability.md",
        f"for `name_window_s` ({_g(_BLE.name_window_s)} s; at most a quarter of the "
        f"{_g(_BLE.scan_timeout_s)}-s scan)",
    ),
    ("devices.md", f"the scan goes on for up to {_g(_BLE.name_window_s)} s"),
    ("devices.md", f"A connect that does not finish in {_g(_BLE.connect_timeout_s)} s"),
    (
        "devices.md",
        f"(at most {_g(_BLE.disconnect_timeout_s)} s, {_g(2 * _BLE.disconnect_timeout_s)} s "
        "for a connect cut short)",
    ),
]


@pytest.mark.parametrize(("doc", "sentence"), ROWS, ids=[s for _, s in ROWS])
def test_the_docs_state_the_codes_number(doc: str, sentence: str) -> None:
    assert sentence in _text(doc), f"docs/{doc} does not say: {sentence}"


def test_the_serial_silences_devices_md_states() -> None:
    # devices.md, "A serial device's silence": the default and each driver's own
    silence = {name: DRIVERS[name].default_silence_s for name in ("nonin-2", "contec-cms50")}
    default = DRIVERS["masimo-ascii"].default_silence_s
    assert default is not None
    said = (
        f"(default: {_g(default)} s; Nonin {_g(silence['nonin-2'] or 0)} s, "
        f"CMS50 {_g(silence['contec-cms50'] or 0)} s)"
    )
    assert said in _text("devices.md"), said
