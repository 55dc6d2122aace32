"""docs/install.md's blocks for the broker host and the database host, as far as they can be
checked without root on those hosts.

The install steps in config/mosquitto/monitord.conf's header are docs/install.md's broker
block ("The broker and its ACL"), command for command. They were not: the header never
copied the CA or the broker's key (mosquitto then does not start: "Unable to load CA
certificates", or its key 0600 root, "Permission denied"), while the docs did. The block
itself needs root on a broker host (`# needs: root`); a real mosquitto runs the shipped
files in tests/ops/test_mosquitto_acl.py."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _commands(lines: list[str]) -> list[str]:
    """The commands of shell `lines`: comments, blank lines and the package install out."""
    out = []
    for line in lines:
        cmd = " ".join(re.sub(r"\s#.*$", "", line).split())
        if cmd and not cmd.startswith("#") and cmd != "apt-get install mosquitto":
            out.append(cmd)
    return out


def _docs_block(heading: str = "## The broker and its ACL") -> list[str]:
    text = (REPO / "docs" / "install.md").read_text()
    section = text[text.index(heading) :]
    return section.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()


def _conf_header() -> list[str]:
    lines = (REPO / "config" / "mosquitto" / "monitord.conf").read_text().splitlines()
    return [ln[len("#   ") :] for ln in lines if ln.startswith("#   ")]


def test_the_shipped_broker_config_installs_as_the_docs_say() -> None:
    docs = _commands(_docs_block())
    assert any("certs/broker.key" in c for c in docs), docs
    assert _commands(_conf_header()) == docs


def test_the_influxdb_block_installs_the_cli_it_runs() -> None:
    # Debian's `influxdb` package is the server alone (/usr/bin/influxd); the `influx` CLI
    # the block runs is in `influxdb-client`, which it neither depends on nor recommends:
    # the block's first line failed with "influx: command not found".
    cmds = _commands(_docs_block("## InfluxDB 1.6"))
    first = next(i for i, c in enumerate(cmds) if c.startswith("influx "))
    installs = [c for c in cmds[:first] if c.startswith("apt-get install")]
    assert any("influxdb-client" in c.split() for c in installs), cmds[: first + 1]
