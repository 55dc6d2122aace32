"""Fixtures of the station tests: the shipped ACL broker (TLS, an account per chair and
per station), started once for the module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.acl_kit import AclMosquitto
from tests.servers import TlsMaterial, session_tmpdir
from tests.station.station_kit import USERS


class StationAclMosquitto(AclMosquitto):
    """The shipped ACL plus a second station account, `station-2`, made as the ACL's
    comment says (station-1's lines copied): the tests observe with it."""

    def _write_config(self) -> None:
        super()._write_config()
        acl = self.workdir / "monitord.acl"
        text = acl.read_text()
        block = text[text.index("user station-1") :]
        acl.write_text(text + "\n" + block.replace("station-1", "station-2"))


@pytest.fixture(scope="module")
def acl_broker(tls_material: TlsMaterial) -> Iterator[AclMosquitto]:
    workdir = session_tmpdir("mosquitto-station")
    srv = StationAclMosquitto(workdir, tls=tls_material, users=USERS)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
