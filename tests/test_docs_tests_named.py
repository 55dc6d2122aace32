"""Every test a page of docs/ names is a test of the suite.

docs/reliability.md sends the reader to a test for each claim ("Run a section's tests
with ..."); a test renamed left the page naming one that no longer exists
(`test_retained_end_is_not_replayed_after_a_broker_restart`, with the "after" column of
the old behaviour), and nothing said so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))


def _defined() -> set[str]:
    names: set[str] = set()
    for f in (ROOT / "tests").rglob("*.py"):
        names.update(re.findall(r"^\s*(?:async )?def (test_\w+)", f.read_text("utf-8"), re.M))
    return names


DEFINED = _defined()


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_each_test_a_page_names_exists(doc: Path) -> None:
    text = doc.read_text("utf-8")
    files = set(re.findall(r"\btests/[\w/.-]+\.py\b", text))
    assert not sorted(f for f in files if not (ROOT / f).is_file()), "no such test file"
    # A case folder or file (`tests/config_cases/NAME`, `tests/report/cases/X.jsonl`) too.
    cases = set(re.findall(r"\btests/[\w/-]*cases/[\w.-]+", text))
    assert not sorted(c for c in cases if not (ROOT / c).exists()), "no such test case"
    names = set(re.findall(r"`(test_\w+)`", text))
    assert not sorted(names - DEFINED), "no such test"
