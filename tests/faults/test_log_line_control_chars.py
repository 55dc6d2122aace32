"""Every log line reaches the journal as one printable line (monitord/log.py), whatever
text from outside it carries. The formatter folded only "\\n": a carriage return, an
escape or another control character in a station's command, a server's answer or an
exception's text went into the journal as it was, and journalctl shows a message holding
any control character but a tab or a newline as "[N blob data]" instead of its text
(systemd src/basic/utf8.c `utf8_is_printable_newline` / `unichar_is_control`: the
independent implementation, not a capture): the IT admin read nothing of the warning.

Real `monitord run`, real mosquitto: a command with an unknown field whose name holds a
carriage return and a terminal escape is refused, and its WARNING line stays printable.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess, Oximeter
from tests.faults.test_mqtt_commands import base, config, connects, fresh, publish
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

# What systemd's journalctl takes for binary: C0 controls but tab and newline, DEL, C1.
BINARY = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\t", "\n"}


async def test_a_refused_commands_control_characters_stay_out_of_the_journal_line(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    key = "note\r\x1b[2Jwiped\u2028x"  # CR, "clear screen", a Unicode line separator
    payload = json.dumps({"action": "end", "time": fresh(), key: 1}).encode()
    daemon = DaemonProcess(config(tmp_path, mosquitto, mqtt_prefix), tmp_path / "daemon.log")
    async with Oximeter(tmp_path), Observer(mosquitto, [f"{b}/cmd/errors"]) as nurse:
        daemon.start()
        try:
            await eventually(lambda: connects(daemon) == 1, 30, "daemon connected")
            await publish(mosquitto, f"{b}/cmd/session", payload)
            await eventually(lambda: len(nurse.of("cmd/errors")) == 1, 20, "refused")
            assert "unknown field" in nurse.of("cmd/errors")[0]["error"]
        finally:
            daemon.stop()
    text = (tmp_path / "daemon.log").read_bytes().decode()  # not read_text: it splits at \r
    lines = [ln for ln in text.split("\n") if "rejected command" in ln]
    assert len(lines) == 1, text[-2000:]
    line = lines[0]
    assert not BINARY & set(line), repr(line)
    assert "\u2028" not in line, repr(line)
    # The subject is still named, its odd characters visible as escapes.
    assert f"{b}/cmd/session" in line and "unknown field" in line, line
    assert "note\\r\\x1b[2Jwiped\\u2028x" in line, line
