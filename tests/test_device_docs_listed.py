"""A device model in the registry is in the docs a biomedical engineer and a field
engineer read (docs/adding-a-device.md lists them as part of adding a model): a row of
docs/devices.md's model table, a row of its table of what each simulator is checked
against, and its decode profiles in docs/commands.md's list. Before, nothing checked
these, so a model could ship with no word on where its device facts come from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitord.drivers.registry import DRIVERS, PROFILES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _section(doc: str, heading: str) -> str:
    text = (DOCS / doc).read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _rows(section: str) -> list[str]:
    return [x for x in section.splitlines() if x.startswith("|") and not x.startswith("|---")]


@pytest.mark.parametrize("name", list(DRIVERS))
def test_every_driver_has_a_model_row_and_a_simulator_row(name: str) -> None:
    code = f"`{name}`"
    models = _rows(_section("devices.md", "## Supported and tested models"))
    assert any(code in r for r in models), f"docs/devices.md: no model row names {code}"
    sims = _rows(_section("devices.md", "## Simulators: how faithful each one is"))
    assert any(code in r for r in sims), f"docs/devices.md: no simulator row names {code}"


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_decode_profile_is_in_the_commands_list(profile: str) -> None:
    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    # the list runs up to the output fields, which name some profiles again
    listed = text[text.index("`decode` profiles:") :].split("Output field names", 1)[0]
    assert re.search(rf"`{re.escape(profile)}`", listed), (
        f"docs/commands.md: the decode profiles list does not name `{profile}`"
    )
