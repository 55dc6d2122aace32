"""What the Masimo width checks (`EXC=`, `ALARM=`: drivers/masimo_ascii.py, "A cut line")
cost a sound monitor: the lines refused when a real monitor's widths change on one cable,
when the port's open cuts its first line, when it restarts mid-line, and on a reconnect.

Each lost SpO2 line is a second without a sample: it delays `spo2.low` only when it is
the first low sample, and a run restarts only after a gap over 10 s (clinical-rules.md,
"Confirmation, clearing, latching"), ten lines in a row. The lines are the real ones of
tests/serial/test_masimo_captures.py and MD PnP's examples (test_masimo_cut_lines.py).
"""

from __future__ import annotations

import pytest
from test_masimo_captures import CAPTURES
from test_masimo_cut_lines import MDPNP_LINES

from monitord.drivers.base import LinkLost, Reject
from monitord.drivers.masimo_ascii import ConnectionLines, LineFramer, MasimoProtocol
from tests.kit import RecordingContext

RAD8 = CAPTURES[3][1].encode()  # k-cross: ALARM=0038 EXC=000800 (4 and 6 digits)
RADICAL7 = CAPTURES[5][1].encode()  # masimo-datacapture: ALARM=000000 EXC=0000C00 (6, 7)
ROOT = CAPTURES[10][1].encode()  # ALARM=000000 EXC=1000800 (6, 7)
MDPNP_RADICAL7 = MDPNP_LINES[0][1].encode()  # ALARM=0000 EXC=000820 (4, 6)
RADICAL5 = MDPNP_LINES[1][1].encode()  # ALARM=20 EXC=800 (2, 3)


def _refused(lines: list[bytes]) -> list[int]:
    """The places of the lines refused, read in order on one connection."""
    conn = ConnectionLines()
    out: list[int] = []
    for k, line in enumerate(lines):
        for item in LineFramer().feed(line + b"\r\n"):
            if isinstance(conn.take(item), Reject):
                out.append(k)
    return out


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (ROOT, RAD8),
        (RAD8, ROOT),
        (RADICAL7, MDPNP_RADICAL7),
        (MDPNP_RADICAL7, RADICAL7),
        (RAD8, RADICAL5),
        (RADICAL5, RAD8),
    ],
    ids=["Root to Rad-8", "Rad-8 to Root", "Radical-7s", "Radical-7s back", "to Radical-5", "back"],
)
def test_a_monitor_swapped_on_one_cable_loses_its_first_line(before: bytes, after: bytes) -> None:
    """Both widths change at once on every pair of real monitors: one line lost, not two."""
    assert _refused([before] * 3 + [after] * 5) == [3]


def test_swapped_back_to_widths_read_before_loses_no_line_more() -> None:
    assert _refused([ROOT] * 3 + [RAD8] * 3 + [ROOT] * 3) == [3]


@pytest.mark.parametrize("line", [RAD8, RADICAL7, ROOT], ids=["Rad-8", "Radical-7", "Root"])
def test_a_first_line_cut_anywhere_by_the_open_costs_no_sound_line(line: bytes) -> None:
    for cut in range(1, len(line)):
        assert _refused([line[cut:]] + [line] * 3) in ([], [0]), cut


def test_a_monitor_restarting_mid_line_loses_only_that_line() -> None:
    power_off = RAD8[: RAD8.index(b" PI=")]
    assert _refused([RAD8] * 3 + [power_off] + [RAD8] * 3) == [3]


class _Lines:
    """A port that gives `lines`, then is lost (the transport then opens it anew)."""

    def __init__(self, lines: list[bytes]) -> None:
        self._data = [b"".join(x + b"\r\n" for x in lines)]

    async def read(self) -> bytes:
        if not self._data:
            raise LinkLost("end of test data")
        return self._data.pop()

    async def write(self, data: bytes) -> None:
        raise AssertionError("listen-only")

    def heard(self) -> None:
        pass


async def test_a_reconnect_learns_the_widths_anew() -> None:
    """One protocol, as drivers/serial_link.py keeps it, run once per connection: a Root
    cabled while the port was closed is read from its first line."""
    protocol, ctx = MasimoProtocol(), RecordingContext()
    for lines in ([RAD8] * 3, [ROOT] * 3):
        with pytest.raises(LinkLost):
            await protocol.run(_Lines(lines), ctx)
    assert ctx.rejects == []
    assert [r.values["pulse_bpm"] for r in ctx.readings] == [57] * 3 + [92] * 3
