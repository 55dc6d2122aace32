"""A URL setting's host that no name lookup takes (monitord/netaddr.py `url_address`, which
reuses `looked_up`, the `[mqtt] host` check): `influx.url` and `station.forwarder.url`
holding a noncharacter (U+FDD0, U+FFFE), a direction mark (U+200E) or a line separator
(U+2028). Before, check-config said ok; the daemon logged `InvalidUrlClientError` at each
retry, never connecting, and `monitord doctor` crashed sending the Host header. In process:
the doctor's side is one subprocess in tests/ops/test_doctor.py."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from pathlib import Path

import aiohttp
import pytest
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from monitord.config import Config, ConfigError, load_config
from monitord.netaddr import idna_url
from monitord.report.influxload import InfluxReader
from tests.servers import recording_http


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


def refused(tmp_path: Path, key: str, bad: str) -> tuple[list[str], Path]:
    """A config whose `key` is the URL `bad` (the other URL fine) loaded: its refusal's
    lines, and the config file they name."""
    influx, forwarder = (bad, FINE_HOOK) if key == "influx.url" else (FINE_INFLUX, bad)
    with pytest.raises(ConfigError) as e:
        load(tmp_path, influx, forwarder)
    return e.value.lines, config(tmp_path, influx, forwarder)


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
    lines, cfg = refused(tmp_path, key, bad)
    assert lines == [
        f"{cfg}: {key}: contains {what}, which no host name "
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


class _Resolver(AbstractResolver):
    """Every name at 127.0.0.1, the names asked kept: what aiohttp looks up."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        pass


async def _heads(sent: list[bytes]) -> tuple[asyncio.Server, int]:
    """A real HTTP server on 127.0.0.1 that keeps each request's head and answers 204."""

    async def on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    return server, port


def _host_header(head: bytes) -> str:
    for line in head.decode("ascii").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "host":
            return value.strip()
    raise AssertionError(head)


async def test_an_internationalised_url_host_is_taken_and_sent_as_idna(tmp_path: Path) -> None:
    """`bücher.lan` may be a clinic's name: taken, and both clients send it as IDNA
    (`xn--bcher-kva.lan`), the form DNS holds: aiohttp looks that up and writes it in the
    Host header. urllib (doctor, report) writes the name as given: `idna_url` first."""
    influx, hook = "http://b\u00fccher.lan:8086", "https://B\u00dcCHER.lan/hook"
    cfg = load(tmp_path, influx, hook)
    assert cfg.influx.url == influx
    assert cfg.station is not None and cfg.station.forwarder is not None
    assert cfg.station.forwarder.url == hook

    sent: list[bytes] = []
    server, port = await _heads(sent)
    async with server:
        resolver = _Resolver()
        conn = aiohttp.TCPConnector(resolver=resolver)
        async with aiohttp.ClientSession(connector=conn) as s:
            async with s.get(f"http://b\u00fccher.lan:{port}/ping") as r:
                assert r.status == 204
        assert resolver.asked == ["xn--bcher-kva.lan"]

        def by_urllib(url: str) -> int:
            # Through the server as an HTTP proxy: no DNS on the test machine knows the
            # name, and urllib writes the request line and Host header as it would direct.
            proxy = urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"})
            with urllib.request.build_opener(proxy).open(url, timeout=10) as r:
                status: int = r.status
            return status

        with pytest.raises(UnicodeEncodeError):  # what doctor sent before: the name as is
            await asyncio.to_thread(by_urllib, "http://b\u00fccher.lan:8086/ping")
        assert (
            await asyncio.to_thread(by_urllib, idna_url("http://b\u00fccher.lan:8086/ping")) == 204
        )
    assert [_host_header(h) for h in sent] == [
        f"xn--bcher-kva.lan:{port}",
        "xn--bcher-kva.lan:8086",
    ]


def test_the_report_asks_influxdb_for_an_idna_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`monitord report` reading InfluxDB (urllib): before, `ωmega.lan` failed writing the
    request and was said as "the answer is not JSON"; now it asks for `xn--...`."""
    body = b'{"results": [{"statement_id": 0}]}'
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with recording_http(answer) as (proxy, heads):
        # The server as urllib's HTTP proxy: no DNS here knows the name.
        monkeypatch.setenv("http_proxy", proxy)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        cfg = load(tmp_path, "http://\u03c9mega.lan:8086", FINE_HOOK).influx
        assert InfluxReader(cfg, "clinic").session_events() == []
    assert heads[0].startswith(b"GET http://xn--mega-fpd.lan:8086/query?"), heads
    assert b"\r\nHost: xn--mega-fpd.lan:8086\r\n" in heads[0], heads


# Names where Python's IDNA 2003 codec and aiohttp's yarl (the `idna` package, UTS 46)
# write different DNS names: 2003 maps `ß` to `ss` and `ς` to `σ`, 2008 keeps both.
DIVERGING = [
    pytest.param("stra\u00dfe.lan", "xn--strae-oqa.lan", id="sharp-s"),
    pytest.param("\u03c3\u03bf\u03c6\u03bf\u03c2.lan", "xn--0xaajbq.lan", id="final-sigma"),
]


@pytest.mark.parametrize(("host", "dns"), DIVERGING)
async def test_doctor_and_report_ask_for_the_host_the_daemon_writes_to(
    tmp_path: Path, host: str, dns: str
) -> None:
    """Before, `idna_url` (doctor, report) encoded with IDNA 2003: `straße.lan` was asked for
    as `strasse.lan` while the daemon's aiohttp looked up `xn--strae-oqa.lan`, another
    server (doctor said "writable" of a database the daemon never writes to)."""
    url = f"http://{host}:8086"
    assert load(tmp_path, url, FINE_HOOK).influx.url == url
    sent: list[bytes] = []
    server, port = await _heads(sent)
    async with server:
        resolver = _Resolver()
        conn = aiohttp.TCPConnector(resolver=resolver)
        async with aiohttp.ClientSession(connector=conn) as s:
            async with s.get(f"http://{host}:{port}/ping") as r:
                assert r.status == 204
    assert resolver.asked == [dns]
    assert _host_header(sent[0]) == f"{dns}:{port}"
    assert idna_url(f"{url}/ping") == f"http://{dns}:8086/ping"


IGNORED = [
    pytest.param("in\u200dflux.lan", "U+200D (ZERO WIDTH JOINER)", id="zwj"),
    pytest.param("in\u200cflux.lan", "U+200C (ZERO WIDTH NON-JOINER)", id="zwnj"),
    pytest.param("in\u00adflux.lan", "U+00AD (SOFT HYPHEN)", id="soft-hyphen"),
]


@pytest.mark.parametrize(("host", "what"), IGNORED)
@pytest.mark.parametrize("key", ["influx.url", "station.forwarder.url"])
def test_a_url_host_aiohttp_refuses_is_one_line_naming_the_key(
    tmp_path: Path, key: str, host: str, what: str
) -> None:
    """IDNA 2003 drops these invisible characters (`in\\u200dflux.lan` -> `influx.lan`), so
    check-config took them; aiohttp refuses the host, and the daemon never connected."""
    bad = f"http://{host}:8086" if key == "influx.url" else f"https://{host}/hook"
    with pytest.raises(ValueError):  # the source: what the daemon's sink builds
        yarl.URL(bad).raw_host  # noqa: B018
    lines, cfg = refused(tmp_path, key, bad)
    assert lines == [
        f"{cfg}: {key}: contains {what}, which no host name "
        "holds (aiohttp refuses it): the daemon would never connect"
    ]


def test_a_non_ascii_user_before_an_ascii_host_keeps_the_url() -> None:
    """Only a host that is not ASCII is encoded: an IPv6 address in brackets is left as it is
    when the user name is what is not ASCII."""
    for url in ["http://us\u00e9r:pw@[fd00::1]:8086/x", "http://us\u00e9r@influx.lan:8086"]:
        assert idna_url(url) == url
