"""The Python snippets of docs/adding-a-device.md are today's code: each block's first line
names the repository file it is taken from (`# drivers/contec_cms50.py`) and the rest of
the block is in that file as written. The walkthrough once showed the CMS50 simulator of
its first commit long after the simulator had changed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitord.history import BURST_GAP_S
from monitord.models import KIND_FIELDS

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "adding-a-device.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
SNIPPETS = BLOCK.findall(DOC.read_text())


def test_the_walkthrough_has_its_snippets() -> None:
    assert len(SNIPPETS) >= 4


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.splitlines()[0] for s in SNIPPETS])
def test_snippet_is_in_the_file_it_names(snippet: str) -> None:
    first, _, body = snippet.partition("\n")
    assert first.startswith("# "), f"the snippet's first line names no file: {first!r}"
    source = REPO / first.removeprefix("# ").strip()
    assert source.is_file(), f"{source} does not exist"
    assert body in source.read_text(), f"not in {source.name} as written:\n{body}"


def test_the_walkthrough_names_each_kinds_value_names_as_the_engine_reads_them() -> None:
    # Followed literally for a made-up ECG monitor, the walkthrough said "values with units
    # in their names" and named none: `pulse_bpm` for its heart rate decoded as meant and
    # every reading was stored invalid, no `hr.high` ever. It names them now, as
    # monitord.models.KIND_FIELDS has them (and a Measurement refuses any other).
    text = " ".join(DOC.read_text().split())
    for kind, names in KIND_FIELDS.items():
        listed = f"`{kind}`: " + ", ".join(f"`{n}`" for n in names)
        assert listed in text, f"adding-a-device.md does not list {listed}"
    assert "`contact=False`" in text and "`tech.sensor_off`" in text


def test_the_walkthrough_says_a_bp_is_emitted_once_per_measurement() -> None:
    # A made-up serial cuff printing its last NIBP once a second, built by the walkthrough,
    # had every line held as a memory push and stored as history: no BP reached an alarm.
    # The walkthrough says why, with the chair's burst gap as monitord/history.py has it.
    text = " ".join(DOC.read_text().split())
    assert "A BP is emitted once per measurement" in text
    assert f"within {BURST_GAP_S:g} s from a connection on" in text
