"""IPv6 addresses in the config, as a clinic's network writes them (monitord/netaddr.py):
`[mqtt] host = "fd00::10"` or `"[fd00::10]"`, `[station] listen = "[::]:8443"`. Before, a
bracketed broker address was kept with its brackets (getaddrinfo never found it: a daemon
that never connected, every retry the same "Name or service not known"), a host with its
port (`broker.local:1883`) likewise, and a listen address without brackets was split at
its last colon: `listen = "fd00::30"` was taken as host `fd00:`, port 30, and `"::1"` as
host `:`, port 1, with check-config saying ok."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.config import Config, ConfigError, load_config


def config(tmp_path: Path, mqtt_host: str, listen: str = "127.0.0.1:8080", extra: str = "") -> Path:
    (tmp_path / "nurses").write_text("")
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        f"""
[site]
id = "clinic"

[mqtt]
host = "{mqtt_host}"

[station]
id = "desk"
listen = "{listen}"
nurses_file = "nurses"
{extra}
"""
    )
    return cfg


def load(tmp_path: Path, mqtt_host: str, listen: str = "127.0.0.1:8080", extra: str = "") -> Config:
    return load_config(config(tmp_path, mqtt_host, listen, extra), chairs_optional=True)


def refusal(
    tmp_path: Path, mqtt_host: str, listen: str = "127.0.0.1:8080", extra: str = ""
) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, mqtt_host, listen, extra)
    return e.value.lines


@pytest.mark.parametrize(
    ("written", "host"),
    [
        ("::1", "::1"),
        ("fd00::10", "fd00::10"),
        ("[fd00::10]", "fd00::10"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("broker.local", "broker.local"),
        ("192.168.1.20", "192.168.1.20"),
    ],
)
def test_a_broker_address_is_taken_as_getaddrinfo_finds_it(
    tmp_path: Path, written: str, host: str
) -> None:
    assert load(tmp_path, written).mqtt.host == host


@pytest.mark.parametrize("written", ["broker.local:1883", "192.168.1.20:1883", "[broker]"])
def test_a_broker_host_with_its_port_is_refused_in_one_line(tmp_path: Path, written: str) -> None:
    lines = refusal(tmp_path, written)
    assert len(lines) == 1, lines
    assert "mqtt.host" in lines[0] and "a port goes in `port`" in lines[0], lines


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("[::]:8443", "::", 8443),
        ("[::1]:8080", "::1", 8080),
        ("[fd00::30]:8443", "fd00::30", 8443),
        ("0.0.0.0:8443", "0.0.0.0", 8443),
        ("station.local:8443", "station.local", 8443),
    ],
)
def test_a_listen_address_is_split_at_its_port(
    tmp_path: Path, listen: str, host: str, port: int
) -> None:
    st = load(tmp_path, "::1", listen).station
    assert st is not None
    assert (st.host, st.port) == (host, port)


@pytest.mark.parametrize("listen", ["fd00::30", "::1", "::1:8443", "fd00::30:8443"])
def test_an_ipv6_listen_address_without_brackets_is_refused(tmp_path: Path, listen: str) -> None:
    lines = refusal(tmp_path, "::1", listen)
    assert len(lines) == 1, lines
    assert "station.listen" in lines[0] and "in brackets" in lines[0], lines
    assert "'[::]:8443'" in lines[0], lines


def test_a_bracketed_listen_host_must_be_an_ipv6_address(tmp_path: Path) -> None:
    lines = refusal(tmp_path, "::1", "[station]:8443")
    assert len(lines) == 1 and "is not an IPv6 address" in lines[0], lines


def urls(influx: str, forwarder: str) -> str:
    return (
        f'[station.forwarder]\nurl = "{forwarder}"\n\n'
        f'[influx]\nurl = "{influx}"\napi = "v1"\ndatabase = "clinic"\n'
    )


def test_urls_with_a_bracketed_ipv6_address_are_taken(tmp_path: Path) -> None:
    extra = urls("http://[fd00::20]:8086", "https://[fe80::1%25eth0]:8443/hook")
    cfg = load(tmp_path, "::1", extra=extra)
    assert cfg.influx.url == "http://[fd00::20]:8086"
    assert cfg.station is not None and cfg.station.forwarder is not None
    assert cfg.station.forwarder.url == "https://[fe80::1%25eth0]:8443/hook"


@pytest.mark.parametrize(
    ("influx", "forwarder", "key"),
    [
        ("http://fd00::20:8086", "https://ntfy.clinic.lan/x", "influx.url"),
        ("http://[fd00::20]:8086", "https://fd00::40/hook", "station.forwarder.url"),
    ],
)
def test_a_url_with_an_ipv6_address_without_brackets_is_refused(
    tmp_path: Path, influx: str, forwarder: str, key: str
) -> None:
    """Before: taken by check-config; every write then failed, and doctor said the
    database was "not reachable (timed out)", never that the URL was unreadable."""
    lines = refusal(tmp_path, "::1", extra=urls(influx, forwarder))
    assert len(lines) == 1, lines
    assert f"{key}: " in lines[0] and "written in brackets" in lines[0], lines
    assert "'http://[fd00::20]:8086'" in lines[0], lines


@pytest.mark.parametrize("influx", ["http://[fd00::20:8086", "http://influx:99999"])
def test_a_url_whose_address_cannot_be_read_is_refused(tmp_path: Path, influx: str) -> None:
    lines = refusal(tmp_path, "::1", extra=urls(influx, "https://ntfy.clinic.lan/x"))
    assert len(lines) == 1 and "influx.url: " in lines[0], lines
    assert "is not a host[:port]" in lines[0], lines


@pytest.mark.parametrize(
    "forwarder",
    [
        "https://hooks.clinic.lan:8443?topic=ward:north",
        "https://hooks.clinic.lan?since=08:00:00",
        "https://hooks.clinic.lan:8443#ward:north",
    ],
)
def test_a_forwarder_url_whose_query_has_a_colon_is_taken(tmp_path: Path, forwarder: str) -> None:
    """The host ends at '?' or '#' as it does at '/' (RFC 3986 section 3.2): a query right
    after the host, with a colon in it, was counted as the host's and the URL refused as
    'an IPv6 address without brackets', a forwarder that ran before this round."""
    cfg = load(tmp_path, "::1", extra=urls("http://[fd00::20]:8086", forwarder))
    assert cfg.station is not None and cfg.station.forwarder is not None
    assert cfg.station.forwarder.url == forwarder
