"""Host names and addresses as a clinic's network writes them, IPv6 included: `::1`,
`fd00::10`, a link-local `fe80::1%eth0`, `broker.local` (mDNS), `[fd00::30]:8443`.

An IPv6 address has colons of its own, so `host:port` is only readable with the address in
brackets (RFC 3986 section 3.2.2): every `host:port` the code writes or reads goes through
here, never a bare `rpartition(":")`, which read `fd00::30` as host `fd00:`, port 30.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from encodings.idna import nameprep
from urllib.parse import urlsplit, urlunsplit

import yarl


def is_ipv6(host: str) -> bool:
    """`host` is an IPv6 address (a link-local one may carry its interface: `%eth0`)."""
    try:
        ipaddress.IPv6Address(host.partition("%")[0])
    except ValueError:
        return False
    return True


def hostport(host: str, port: int) -> str:
    """`host:port` as a URL or a log line writes it: `[fd00::10]:1883`, `broker:1883`."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_host(v: str) -> str:
    """A `host` setting (a server's name or address without its port): an IPv6 address in
    brackets is taken without them (getaddrinfo knows no brackets: `[fd00::10]` was never
    found); a name with `:port` is refused, the port has its own setting."""
    if v.startswith("[") and v.endswith("]") and is_ipv6(v[1:-1]):
        return v[1:-1]
    if (":" in v and not is_ipv6(v)) or "[" in v or "]" in v:
        raise ValueError(
            f"{v!r} is not a host name or an IP address; a port goes in `port`, "
            "an IPv6 address is written as it is (e.g. 'fd00::10')"
        )
    return looked_up(v)


def looked_up(v: str) -> str:
    """`v` unless no name lookup ever takes it. Python's resolver (getaddrinfo, which the
    MQTT client connects with) turns a name that is not ASCII into IDNA first, and IDNA
    refuses noncharacters (U+FFFE, U+FDD0) and invisible marks (U+200E, U+2028): check-config
    said ok, and the daemon logged every connection attempt as "internal error
    UnicodeError ... (a bug: please report it)" and never connected. An ASCII name is
    looked up as it is: not checked here."""
    if v.isascii():
        return v
    try:
        v.encode("idna")
    except UnicodeError as e:
        for c in v:
            try:
                nameprep(c)
            except UnicodeError:
                n = ord(c)
                if 0xFDD0 <= n <= 0xFDEF or (n & 0xFFFE) == 0xFFFE:
                    what = f"the Unicode noncharacter U+{n:04X}"
                else:  # named: most of these are invisible where the config is read
                    what = f"U+{n:04X} ({unicodedata.name(c, 'unnamed')})"
                break
        else:  # each character passes, the name not (a label too long, mixed directions)
            raise ValueError(
                f"is no host name a lookup takes ({e.__cause__ or e}): the daemon would "
                "never connect"
            ) from None
        raise ValueError(
            f"contains {what}, which no host name holds (IDNA refuses it): the name is never "
            "looked up, the daemon would never connect"
        ) from None
    return v


LISTEN_FORMAT = "must be host:port, e.g. '0.0.0.0:8443', '127.0.0.1:8080' or '[::]:8443'"


def split_listen(v: str) -> tuple[str, int]:
    """(host, port) of a `listen` setting: `0.0.0.0:8443`, `[::]:8443`, `[fd00::30]:8443`.
    An IPv6 address without brackets is refused: `fd00::30` was read as host `fd00:`,
    port 30, and `::1:8443` may be the address ::1:8443 or ::1 port 8443."""
    host, sep, port = v.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        if not is_ipv6(host[1:-1]):
            raise ValueError(f"{host} is not an IPv6 address; {LISTEN_FORMAT}")
        host = host[1:-1]
    elif ":" in host or is_ipv6(v):
        raise ValueError(
            f"{v!r}: an IPv6 address is written in brackets before its port, "
            "e.g. '[fd00::30]:8443' ('[::]:8443' for every address)"
        )
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(LISTEN_FORMAT)
    return host, int(port)


def url_address(v: str) -> str:
    """`v` (an http(s) URL setting) unless its address cannot be read: an IPv6 address
    without brackets (`http://fd00::20:8086`, which check-config took and every write then
    failed as "not reachable"), unbalanced brackets, a port that is no number."""
    # The address ends at '/', '?' or '#' (RFC 3986 section 3.2): a query's colons right
    # after it (`https://hooks.lan?at=08:00:00`) are not the address's.
    netloc = re.split(r"[/?#]", v.partition("://")[2], maxsplit=1)[0].rpartition("@")[2]
    if not netloc:
        raise ValueError("has no host")
    if not netloc.startswith("[") and netloc.count(":") > 1:
        raise ValueError(
            f"{netloc!r}: an IPv6 address in a URL is written in brackets before its port, "
            "e.g. 'http://[fd00::20]:8086'"
        )
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as e:
        raise ValueError(f"{netloc!r} is not a host[:port] ({e})") from None
    if not parts.hostname:
        raise ValueError("has no host")
    if not netloc.startswith("["):
        # As [mqtt] host: a name IDNA refuses (U+FDD0, U+200E ...) passed here, then the
        # daemon's every write failed as InvalidUrlClientError, never connecting, and
        # doctor crashed sending the Host header (http.client encodes it with IDNA too).
        # `hostname` is lower-cased: the name as written is checked, for the line to say.
        host = netloc.rpartition(":")[0] if parts.port is not None else netloc
        aiohttp_takes(looked_up(host.removesuffix(":")))
    return v


def aiohttp_takes(host: str) -> str:
    """`host` (a URL's name, which IDNA 2003 takes) unless aiohttp's URL (yarl: the daemon's
    sink, the forwarder) refuses it: yarl refuses what IDNA 2003 silently drops, a zero width
    joiner U+200D or a soft hyphen U+00AD (`a\u200db.lan`). check-config said ok and the daemon
    never connected, while doctor asked for `ab.lan`, another server."""
    if host.isascii():
        return host
    try:
        yarl.URL.build(scheme="http", host=host)
    except ValueError as e:
        for c in host:
            try:
                yarl.URL.build(scheme="http", host=f"a{c}b")
            except ValueError:
                raise ValueError(
                    f"contains U+{ord(c):04X} ({unicodedata.name(c, 'unnamed')}), which no "
                    "host name holds (aiohttp refuses it): the daemon would never connect"
                ) from None
        raise ValueError(
            f"is no host name aiohttp takes ({e}): the daemon would never connect"
        ) from None
    return host


def idna_url(url: str) -> str:
    """`url` with a host that is not ASCII as DNS holds it, IDNA as aiohttp writes it
    (`http://bücher.lan:8086` -> `http://xn--bcher-kva.lan:8086`), for urllib (doctor,
    report). urllib writes the host as given in the request's Host header, which
    http.client encodes as Latin-1: a name outside Latin-1 (`ωmega.lan`) crashed doctor
    with UnicodeEncodeError, and `bücher.lan` went out as Latin-1 bytes, not the name a
    server (or a proxy) knows. The host has passed `url_address`: aiohttp takes it, and it
    is no IPv6 address (those are ASCII)."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.netloc.isascii():
        return url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, colon, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    # Encoded by aiohttp's own URL (yarl: UTS 46 / IDNA 2008), not Python's IDNA 2003
    # codec: where they differ (`straße` -> `xn--strae-oqa` against `strasse`, final `ς`)
    # doctor and report asked another server than the daemon writes to.
    # Only a host that is not ASCII: yarl refuses `[fd00::1]` (brackets) as a host.
    ascii_host = host if host.isascii() else yarl.URL.build(scheme="http", host=host).raw_host
    netloc = f"{userinfo}{at}{ascii_host}{colon}{port}"
    return urlunsplit(parts._replace(netloc=netloc))
