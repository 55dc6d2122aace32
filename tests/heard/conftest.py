"""Fixtures of the issue-16 tests (tests/heard/heard_kit.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.acl_kit import AclMosquitto
from tests.heard.heard_kit import USERS
from tests.servers import TlsMaterial, session_tmpdir


@pytest.fixture
def broker(tls_material: TlsMaterial) -> Iterator[AclMosquitto]:
    """A fresh broker per test: the tests change its ACL."""
    workdir = session_tmpdir("mosquitto-heard")
    srv = AclMosquitto(workdir, tls=tls_material, users=USERS)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
