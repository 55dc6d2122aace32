"""The Python snippets of docs/adding-a-device.md are today's code: each block's first line
names the repository file it is taken from (`# drivers/contec_cms50.py`) and the rest of
the block is in that file as written. The walkthrough once showed the CMS50 simulator of
its first commit long after the simulator had changed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
