"""The shipped broker config (config/mosquitto/monitord.conf and monitord.acl) under a real
mosquitto, with test certificates, a test password file and a free loopback port: what
tests of the ACL, of refused publishes and of `monitord doctor`'s round trip run against.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.servers import Mosquitto, find_binary

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "config" / "mosquitto" / "monitord.conf"
ACL = REPO / "config" / "mosquitto" / "monitord.acl"
SITE = "clinic-north"


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
        """SIGHUP: mosquitto re-reads its ACL and password files (as `systemctl reload`)."""
        assert self.proc is not None and self.running
        self.proc.send_signal(signal.SIGHUP)
