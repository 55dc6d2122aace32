"""Two `monitord station` processes on one broker account (a second nurses' room whose
station.toml was copied from the first: the same file, or only `[station] id` changed):
under the shipped broker config (`use_username_as_clientid true`) both connect with one
client id, and the broker closes the older connection at each connect.

Before: each station logged a WARNING "connection ... lost: Disconnected during message
iteration" and an INFO "recovered" two or three times a second, for ever, with nothing
naming the cause, its backoff reset at every connect (monitord/station/bridge.py).
Now each says once, at ERROR, that its connection is taken over, naming the account and
the fix, stays quiet while it lasts, and says so again once the other has gone.

Real station processes, the shipped ACL on the real mosquitto of tests/station/conftest.py
(Debian 12's 2.0.11: it closes the old connection without a DISCONNECT 0x8E).
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from monitord.sinks.mqtt_takeover import CLOSES
from tests.acl_kit import AclMosquitto
from tests.kit import eventually
from tests.station.station_kit import STATION, station_config, station_process

ERROR = "ERROR monitord.station.mqtt: station MQTT: station "
TAKEN = "broker connection is taken over by another client"
# mosquitto's log line at each takeover (the older connection closed).
BROKER_SAYS = f"Client {STATION} already connected, closing old connection"
FLAPS = "connection to broker"  # the WARNING of a lost connection


def closes(broker: AclMosquitto) -> int:
    return broker.broker_log().count(BROKER_SAYS)


class Systemd:
    """Station A's NOTIFY_SOCKET: the STATUS= lines `systemctl status` shows."""

    def __init__(self, tmp: Path) -> None:
        self.path = str(tmp / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.said: list[str] = []

    def statuses(self) -> list[str]:
        while True:
            try:
                data = self.sock.recv(4096, socket.MSG_DONTWAIT).decode()
            except BlockingIOError:
                return [ln[7:] for ln in self.said if ln.startswith("STATUS=")]
            self.said.extend(data.split("\n"))


@pytest.mark.parametrize("second_id", [STATION, "station-2"], ids=["same-file", "id-changed"])
async def test_two_stations_on_one_account_say_takeover_once(
    acl_broker: AclMosquitto, tmp_path: Path, second_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    systemd = Systemd(tmp_path)
    a_dir, b_dir = tmp_path / "room-a", tmp_path / "room-b"
    a_dir.mkdir()
    b_dir.mkdir()
    cfg_a = station_config(a_dir, acl_broker)
    cfg_b = station_config(b_dir, acl_broker)
    if second_id != STATION:  # the second room's admin changed the id, not the account
        text = cfg_b.read_text()
        cfg_b.write_text(text.replace(f'id = "{STATION}"\nlisten', f'id = "{second_id}"\nlisten'))
        assert f'id = "{second_id}"' in cfg_b.read_text()
    # Station A runs as under systemd (its status line each watchdog ping, 1 s); B not.
    monkeypatch.setenv("NOTIFY_SOCKET", systemd.path)
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    async with station_process(cfg_a, tmp_path / "a.log") as (a, _):
        monkeypatch.delenv("NOTIFY_SOCKET")
        monkeypatch.delenv("WATCHDOG_USEC")
        await eventually(lambda: "station MQTT: connected" in a.output(), 20, "A connected")
        async with station_process(cfg_b, tmp_path / "b.log") as (b, _):
            await eventually(lambda: TAKEN in a.output(), 30, "A says taken over")
            await eventually(lambda: TAKEN in b.output(), 30, "B says taken over")
            said = {n: p.output() for n, p in (("A", a), ("B", b))}
            for n, out in said.items():
                line = next(ln for ln in out.splitlines() if TAKEN in ln)
                assert line.startswith(ERROR), (n, line)
                assert "broker account station-1" in line, line
                assert "own [station] id and mqtt_username" in line, line
            # The flapping goes on (nothing the stations can do about it) and is not
            # said again: as many takeovers again as it took to find it.
            seen = closes(acl_broker)
            await eventually(lambda: closes(acl_broker) >= seen + 2 * CLOSES, 60, "flaps")
            taken = "broker taken over by another client with its id: see the log"
            await eventually(
                lambda: any(taken in st for st in systemd.statuses()), 10, "systemctl status"
            )
            for n, p in (("A", a), ("B", b)):
                out = p.output()
                after = out[out.index(TAKEN) :]
                assert out.count(TAKEN) == 1, (n, out[-3000:])
                assert FLAPS not in after, (n, after[-3000:])
        # Station B stopped: A holds its connection and says the takeover is over.
        await eventually(
            lambda: "connection held: no other client takes it over now" in a.output(),
            60,
            "A's takeover over",
        )
        await eventually(
            lambda: systemd.statuses()[-1].startswith("broker connected;"), 10, "status back"
        )
    shutil.rmtree(a_dir, ignore_errors=True)
