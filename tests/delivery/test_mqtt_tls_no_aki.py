"""A broker certificate without an Authority Key Identifier (OpenSSL 1.1's `x509 -req`
signs one so unless the -extfile asks for it) is accepted on Python 3.11 and 3.12 and was
refused on 3.13 (Debian 13, today's Raspberry Pi OS): "certificate verify failed: Missing
Authority Key Identifier", every connection of the daemon to the clinic's broker, after
an OS upgrade with the same certificates. The daemon's context
(`TlsConfig.client_context`, monitord/config_tls.py `broker_verifier`) verifies as 3.11
does on every Python. A real mosquitto on TLS; the context is the daemon's own.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiomqtt
import pytest

from monitord.config import TlsConfig
from tests.servers import Mosquitto, make_tls_material, session_tmpdir


async def test_a_broker_certificate_without_authority_key_id_is_accepted(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    tls = make_tls_material(tmp_path / "tls", server_aki=False)
    other = make_tls_material(tmp_path / "other")
    workdir = session_tmpdir("mosquitto-no-aki")
    broker = Mosquitto(workdir, tls=tls)
    broker.start()
    try:
        ctx = TlsConfig(ca_file=tls.ca_file).client_context()
        async with aiomqtt.Client(broker.host, broker.port, tls_context=ctx) as c:
            await c.subscribe(f"{mqtt_prefix}/t", qos=1)
            await c.publish(f"{mqtt_prefix}/t", b"no-aki", qos=1)
            async with asyncio.timeout(10):
                msg = await anext(c.messages)
        assert msg.payload == b"no-aki"
        # Still verified: the same broker against another clinic's CA is refused.
        wrong = TlsConfig(ca_file=other.ca_file).client_context()
        with pytest.raises(aiomqtt.MqttError, match="certificate verify failed"):
            async with aiomqtt.Client(broker.host, broker.port, tls_context=wrong, timeout=5):
                pass
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
