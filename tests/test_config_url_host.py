"""A URL setting's host that no name lookup takes (monitord/netaddr.py `url_address`, which
reuses `looked_up`, the `[mqtt] host` check): `influx.url` and `station.forwarder.url`
holding a noncharacter (U+FDD0, U+FFFE), a direction mark (U+200E) or a line separator
(U+2028). Before, check-config said ok; the daemon logged `InvalidUrlClientError` at each
retry, never connecting, and `monitord doctor` crashed sending the Host header. In process:
the doctor's side is one subprocess in tests/ops/test_doctor.py."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest
import yarl

from monitord.config import Config, ConfigError, load_config


def escaped(text: str) -> str:
    """`text` as a TOML basic string writes it: what is not ASCII as a \\u escape."""
    return "".join(c if c.isascii() else f"\\u{ord(c):04X}" for c in text)


def config(tmp_path: Path, influx: str, forwarder: str) -> Path:
    (tmp_path / "nurses").write_text("")
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        f"""
[site]
id = "clinic"

[station]
id = "desk"
listen = "127.0.0.1:8080"
nurses_file = "nurses"

[station.forwarder]
url = "{escaped(forwarder)}"

[influx]
url = "{escaped(influx)}"
api = "v1"
database = "clinic"
"""
    )
    return cfg


def load(tmp_path: Path, influx: str, forwarder: str) -> Config:
    return load_config(config(tmp_path, influx, forwarder), chairs_optional=True)


FINE_INFLUX = "http://influx.clinic.lan:8086"
FINE_HOOK = "https://ntfy.clinic.lan/ward"
BAD_HOSTS = [
    pytest.param("influx\ufffe.lan", "the Unicode noncharacter U+FFFE", id="fffe"),
    pytest.param("in\ufdd0flux.lan", "the Unicode noncharacter U+FDD0", id="fdd0"),
    pytest.param("influx\u200e.lan", "U+200E (LEFT-TO-RIGHT MARK)", id="direction-mark"),
    pytest.param("influx\u2028.lan", "U+2028 (LINE SEPARATOR)", id="line-separator"),
]


@pytest.mark.parametrize(("host", "what"), BAD_HOSTS)
@pytest.mark.parametrize("key", ["influx.url", "station.forwarder.url"])
def test_a_url_host_no_lookup_takes_is_one_line_naming_the_key(
    tmp_path: Path, key: str, host: str, what: str
) -> None:
    bad = f"http://user@{host}:8086/base" if key == "influx.url" else f"https://{host}/hook"
    influx, forwarder = (bad, FINE_HOOK) if key == "influx.url" else (FINE_INFLUX, bad)
    with pytest.raises(ConfigError) as e:
        load(tmp_path, influx, forwarder)
    assert e.value.lines == [
        f"{config(tmp_path, influx, forwarder)}: {key}: contains {what}, which no host name "
        "holds (IDNA refuses it): the name is never looked up, the daemon would never connect"
    ]
    # The sources: aiohttp's URL (the daemon's sink and the forwarder) refuses the host,
    # urllib (doctor's, before it connects) fails writing the Host header, and the resolver
    # refuses it before any lookup.
    with pytest.raises(ValueError):
        yarl.URL(bad).raw_host  # noqa: B018
    with pytest.raises(UnicodeError):
        urllib.request.urlopen(f"http://{host}:8086/ping", timeout=1)
    with pytest.raises(UnicodeError):
        socket.getaddrinfo(host, 8086)


def test_an_internationalised_url_host_is_taken(tmp_path: Path) -> None:
    """`bücher.lan` may be a clinic's name: IDNA takes it (`xn--bcher-kva.lan`)."""
    influx, hook = "http://b\u00fccher.lan:8086", "https://B\u00dcCHER.lan/hook"
    cfg = load(tmp_path, influx, hook)
    assert cfg.influx.url == influx
    assert cfg.station is not None and cfg.station.forwarder is not None
    assert cfg.station.forwarder.url == hook
