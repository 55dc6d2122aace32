"""The shipped broker config (config/mosquitto/monitord.conf and monitord.acl) under a real
mosquitto, with test certificates, a test password file and a free loopback port: what
tests of the ACL, of refused publishes and of `monitord doctor`'s round trip run against.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.servers import Mosquitto, find_binary

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "config" / "mosquitto" / "monitord.conf"
ACL = REPO / "config" / "mosquitto" / "monitord.acl"
SITE = "clinic-north"


def quoted_in_docs(line: str) -> str:
    """A broker log line as docs/install.md quotes it: in a code span, a double-backtick one
    when the line holds a backtick itself (mosquitto 2.0.21's "use `chown ...`" advice),
    which Markdown would otherwise end early."""
    return f"`` {line} ``" if "`" in line else f"`{line}`"


class AclMosquitto(Mosquitto):
    """Mosquitto running config/mosquitto/monitord.conf with test paths substituted."""

    @property
    def acl_file(self) -> Path:
        return self.workdir / "monitord.acl"

    def _write_config(self) -> None:
        assert self.tls is not None
        pw = self.workdir / "monitord.passwd"
        pw.write_text("")
        tool = find_binary(["/usr/bin/mosquitto_passwd", "mosquitto_passwd"], "mosquitto")
        for user, password in self.users.items():
            subprocess.run([tool, "-b", str(pw), user, password], check=True)
        pw.chmod(0o600)
        shutil.copy(ACL, self.acl_file)
        text = CONF.read_text()
        for old, new in {
            "listener 8883": f"listener {self.port} {self.host}",
            "/etc/mosquitto/certs/clinic-ca.pem": str(self.tls.ca_file),
            "/etc/mosquitto/certs/broker.pem": str(self.tls.server_cert),
            "/etc/mosquitto/certs/broker.key": str(self.tls.server_key),
            "/etc/mosquitto/monitord.passwd": str(pw),
            "/etc/mosquitto/monitord.acl": str(self.acl_file),
        }.items():
            assert old in text, old
            text = text.replace(old, new)
        extra = [
            *(["user root"] if os.geteuid() == 0 else []),
            f"persistence_location {self.datadir}/",
            f"log_dest file {self.workdir / 'mosquitto-broker.log'}",
            "log_type all",
        ]
        self.conf.write_text(text + "\n" + "\n".join(extra) + "\n")

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads its ACL and password files (as `systemctl reload`).
        Sent once mosquitto catches it: `start()` returns when its port is open, which can
        be before it sets its handler, and a SIGHUP then ends it (seen under load: the
        broker gone, every client "Connection failed")."""
        assert self.proc is not None and self.running
        deadline = time.monotonic() + 10
        while not catches(self.proc.pid, signal.SIGHUP):
            assert time.monotonic() < deadline, "mosquitto never set its SIGHUP handler"
            time.sleep(0.02)
        self.proc.send_signal(signal.SIGHUP)


def catches(pid: int, sig: signal.Signals) -> bool:
    """Whether process `pid` has a handler set for `sig` (/proc/PID/status SigCgt)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


def oximeter_chair(chair: str, port: Path, *, device: str = "ox", login: str = "") -> str:
    """A [[chairs]] section for `acl_config`: `chair` (`login`: its own login's lines) with
    a Masimo oximeter `device` on the pty `port`."""
    return f"""[[chairs]]
id = "{chair}"
{login}  [[chairs.devices]]
  id = "{device}"
  driver = "masimo-ascii"
  port = "{port}"
"""


def acl_config(
    tmp: Path,
    broker: AclMosquitto,
    *,
    alerts: str,
    chairs: str,
    login: str = "",
    mqtt_extra: str = "",
    storage: str = "",
) -> Path:
    """tmp/monitord.toml for a daemon on `broker` (the shipped ACL; TLS with its CA), InfluxDB
    off, the store tmp/outbox.sqlite. `login`: the [mqtt] login lines (none when each
    chair has its own); `mqtt_extra`, `storage`: more [mqtt], [storage] lines (a section
    after [storage] too); `alerts`, `chairs`: the [alerts.*] and [[chairs]] sections."""
    assert broker.tls is not None
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        f"""
log_level = "INFO"
[site]
id = "{SITE}"
[mqtt]
host = "{broker.host}"
port = {broker.port}
{login}
keepalive_s = 5
timeout_s = 5.0
{mqtt_extra}
  [mqtt.tls]
  ca_file = "{broker.tls.ca_file}"
[influx]
enabled = false
[storage]
path = "{tmp / "outbox.sqlite"}"
{storage}
{alerts}
{chairs}
"""
    )
    return cfg
