"""The Node-RED flow's ACK given a long `msg.by` (a chat's display name with an emoji),
in a real Node-RED (tests/forward/nodered_kit.py) on the shipped broker config, its ACK
read back from the broker and parsed as the daemon parses `cmd/ack`
(monitord/sinks/commands.py `parse_command`).

Before: the flow cut `msg.by` with JavaScript's `slice(0, 64)`, which counts UTF-16
code units: a name whose 64th unit is the first half of an emoji (or any character
outside the BMP) was sent with a lone surrogate (`"\\ud83e"` in the JSON). The daemon
refused that ACK on cmd/errors ("Input should be a valid string"), which the flow does
not read: the alarm stayed unacknowledged with no word anywhere the nurse looks. Now it
cuts at 64 characters (code points, as the daemon counts them).
"""

from __future__ import annotations

from pathlib import Path

from monitord.sinks.commands import AckCommand, parse_command
from tests.forward.forward_kit import BASE, CHAIR, login, passwords, start_broker
from tests.forward.nodered_kit import NodeRed, account
from tests.kit import eventually
from tests.servers import TlsMaterial, session_tmpdir

ACK = f"{BASE}/cmd/ack"
# 63 letters then an emoji (two UTF-16 code units): 64 characters for the daemon, 65
# code units for JavaScript, so the old cut left the emoji's first half alone.
LONG = "A" * 63 + "\U0001fa7a" + " and the rest of the chat's display name"


async def test_node_red_ack_by_a_long_name_with_an_emoji_is_taken(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    user = account()
    broker = start_broker(session_tmpdir("mosquitto-fwd-nr-by"), tls_material, passwords(user))
    (tmp_path / "node-red").mkdir()
    red = NodeRed(tmp_path / "node-red", broker)
    try:
        async with login(broker, CHAIR, [ACK]) as chair:
            await red.start()
            sent: list[str] = []
            for i, by in enumerate([LONG, "B" * 80]):
                await red.inject("ack-in", [
                    {"p": "chair", "v": CHAIR, "vt": "str"},
                    {"p": "alert_id", "v": f"{CHAIR}:spo2.low:{i}", "vt": "str"},
                    {"p": "by", "v": by, "vt": "str"},
                ])  # fmt: skip
                want = i + 1
                await eventually(lambda: len(chair.got) >= want, 20, f"the flow's ACK {i}")  # noqa: B023
                topic, payload, _ = chair.got[i]
                assert topic == ACK
                cmd = parse_command("ack", payload)  # the daemon's own parse: not refused
                assert isinstance(cmd, AckCommand)
                sent.append(cmd.by)
            # Cut at 64 characters, as the daemon counts them, the emoji kept whole.
            assert sent == ["A" * 63 + "\U0001fa7a", "B" * 64]
    except AssertionError as e:
        raise AssertionError(f"{e}\nNode-RED's log:\n{red.output()[-3000:]}") from None
    finally:
        red.stop()
        broker.stop()
