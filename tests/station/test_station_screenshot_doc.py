"""The wallboard's screenshot is committed under docs/ and referenced from the README (issue
17, acceptance 4). tests/station/test_station_wallboard.py takes it (and writes it there with
MONITORD_WRITE_SCREENSHOT=1), but nothing read the README: with its reference gone the suite
passed, and the README's reader was never sent to the picture."""

from __future__ import annotations

import re
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOT = "docs/station.png"


def test_the_wallboard_screenshot_is_in_docs_and_named_by_the_readme() -> None:
    data = (ROOT / SHOT).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "docs/station.png is no PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 300, (width, height)  # a board, not an icon
    readme = (ROOT / "README.md").read_text("utf-8")
    assert re.search(rf"\b{re.escape(SHOT)}\b", readme), "README.md does not name docs/station.png"
    # The station's own page shows it (a relative link beside it).
    assert "](station.png)" in (ROOT / "docs" / "station.md").read_text("utf-8")
