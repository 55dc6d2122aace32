"""docs/commands.md held to the program. Its table names every exit code a command's
module returns: it said `report` exits "0; 66" (it also exits 65, 69, 78), `capture` and
`scan` "0" (64, 69, 73, 74), and had no `station` row (read from the source, no command
run). Its list of `decode`'s output fields names every field decode prints: it lacked
`cuff_mmHg`, `energy_kJ`, `pai_pct`."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from monitord.cli import COMMANDS
from monitord.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]
TABLE = (REPO / "docs" / "commands.md").read_text()
# A command's code spread over helper modules it hands over to.
HELPERS = {
    "decode": ["monitord.commands.decode_file"],
    "simulate": ["monitord.simulators.commands.simulate_capture"],
}
# Names imported inside a function (not in the module's globals).
LOCAL = {"EX_TEMPFAIL": 75, "EX_SOFTWARE": 70}
RETURNED = re.compile(r"(?:return|rc =) (EX_[A-Z]+|\d+)\b")


def codes(module_name: str) -> set[int]:
    module = importlib.import_module(module_name)
    source = Path(str(module.__file__)).read_text()
    out: set[int] = set()
    for name in RETURNED.findall(source):
        code: int = int(name) if name.isdigit() else getattr(module, name, LOCAL.get(name, -1))
        out.add(code)
    return out


def row(command: str) -> str:
    # The row whose first cell names the command (`capture` shares one with `scan`).
    for line in TABLE.splitlines():
        cells = line.split("|")
        if len(cells) > 3 and re.search(rf"`(monitord )?{re.escape(command)}\b", cells[1]):
            return cells[-2]
    raise AssertionError(f"docs/commands.md has no row for {command}")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_returned_exit_code_is_in_the_table(command: str) -> None:
    modules = [COMMANDS[command][0], *HELPERS.get(command, [])]
    returned = set().union(*(codes(m) for m in modules))
    documented = {int(n) for n in re.findall(r"\b(\d+)\b", row(command))}
    assert returned - documented == set(), f"{command}: {row(command)}"


# One payload of each shape (tests/ble/test_decoders.py, tests/serial/...): every field.
PAYLOADS = [
    ("ble-bpm", "16 7C 00 56 00 61 00 E8 07 06 0F 11 11 1B 33 00 00 00"),
    ("ble-icp", "00 96 00 FF 07 FF 07"),
    ("ble-hrm", "16 48 54 01 EC 02"),
    ("ble-plx-spot", "00 62 00 48 00"),
    ("ble-plx-cont", "08 62 00 48 00 00 80 00"),
    ("masimo-ascii", "02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% ALARM=0000"),
    ("nonin-2", "01 80 00 48 C9"),
    ("ble-hrm", "zz"),  # a reject
]


def test_every_decode_field_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    keys: set[str] = set()
    for profile, payload in PAYLOADS:
        cli_main(["decode", "--profile", profile, payload])
        for line in capsys.readouterr().out.splitlines():
            keys |= set(json.loads(line))
    assert {"sys_mmHg", "cuff_mmHg", "energy_kJ", "pai_pct", "frame", "rejected"} <= keys
    section = TABLE.split("`decode` profiles:")[1].split("## ")[0]
    assert {k for k in keys if f"`{k}`" not in section} == set()
