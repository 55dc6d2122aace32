"""Real test servers: Mosquitto, InfluxDB 1.6 and VictoriaMetrics on free loopback ports.

Each server is a `ServerProcess`: a child process with its own temp config and data dir,
started on a free 127.0.0.1 port and polled until ready. Tests can take it down and bring
it back on the SAME port and data dir (`stop()`/`start()`), or freeze it (`pause()` sends
SIGSTOP, `resume()` SIGCONT) to play an outage where TCP still accepts but nothing answers.

A missing binary is a test FAILURE naming the Debian package (never a skip): the suite is
only meaningful against the real servers (`scripts/setup.sh test` installs them).

The pytest fixtures built on these live in `tests/conftest.py`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
# The IPv6 loopback: a server started with `host=LOOPBACK6` listens there only (a clinic
# network addressed in IPv6, tests/ops/test_ipv6.py).
LOOPBACK6 = "::1"

# Every process started here, so a crashing session still reaps them (atexit in conftest).
_LIVE: weakref.WeakSet[ServerProcess] = weakref.WeakSet()


class MissingServerBinary(RuntimeError):
    """A server binary is not installed; the message names the Debian package."""


def find_binary(names: list[str], package: str) -> str:
    for name in names:
        if os.path.isabs(name) and os.access(name, os.X_OK):
            return name
        found = shutil.which(name)
        if found:
            return found
    raise MissingServerBinary(
        f"{names[0]} not found: install the Debian package '{package}' "
        f"(apt-get install {package}, or scripts/setup.sh test)"
    )


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


# Below the kernel's ephemeral range: a port the kernel handed out (bind to 0) was free
# when asked, but the same range serves every outgoing connection's local port, so a
# server started with it a moment later could find it taken by one of the suite's many
# loopback clients (CI under load: "cannot listen on 127.0.0.1:43635: the port is in use").
# Out of that range only another test's pick can collide: random, and checked here.
_PICK_FROM = 10_000
_pick = random.SystemRandom()

# A port picked here stays this process's for its life: one byte of a shared file, locked
# (POSIX record locks, released by the kernel when the process ends). A port is checked
# free only when picked, so while a test held its server down (`stop()`, then `start()` on
# the same port) another xdist worker could pick that port and keep it, and the restart
# failed: "Address already in use" (CI: tests/heard/test_rechair_backlog.py, and a session
# broker whose 139 later tests errored). Now no other worker picks a port picked here.
_RESERVED_FILE = Path(tempfile.gettempdir()) / "monitord-test-ports.lock"
_reserved: set[int] = set()
_reserved_fd: int | None = None


def _reserve(port: int) -> bool:
    """Take `port` for this process; False if this or another live process has it."""
    global _reserved_fd
    if port in _reserved:
        return False  # record locks do not conflict within one process: keep our own set
    if _reserved_fd is None:
        # Never closed: closing any descriptor of the file drops all this process's locks.
        _reserved_fd = os.open(_RESERVED_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(_reserved_fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
    except OSError:
        return False
    _reserved.add(port)
    return True


def free_port(host: str = LOOPBACK) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    low = _ephemeral_low()
    for _ in range(200 if low - _PICK_FROM > 1000 else 0):
        port = _pick.randrange(_PICK_FROM, low)
        if port in _reserved:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        if _reserve(port):
            return port
    with socket.socket(family, socket.SOCK_STREAM) as s:  # a kernel with no room below
        s.bind((host, 0))
        given: int = s.getsockname()[1]
        return given


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_post(
    url: str,
    body: bytes,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@contextlib.contextmanager
def recording_http(answer: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """A real HTTP server on 127.0.0.1 that keeps each request's head and sends `answer` (a
    whole response) to each: set as urllib's `http_proxy`, it sees the request line and
    Host header a client writes for a name no DNS here knows. Yields its URL and the heads."""
    heads: list[bytes] = []
    srv = socket.create_server((LOOPBACK, 0))

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return  # closed: the test is over
            with c:
                head = b""
                while b"\r\n\r\n" not in head and (chunk := c.recv(4096)):
                    head += chunk
                heads.append(head)
                c.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://{LOOPBACK}:{srv.getsockname()[1]}", heads
    finally:
        srv.close()


class ServerProcess:
    """One server child process on a fixed loopback port with a persistent data dir."""

    name = "server"
    package = "?"
    binaries: list[str] = []  # noqa: RUF012
    ready_timeout_s = 30.0

    def __init__(self, workdir: Path, host: str = LOOPBACK) -> None:
        self.binary = find_binary(self.binaries, self.package)
        self.host = host
        self.port = free_port(host)
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.logfile = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        _LIVE.add(self)

    @property
    def netloc_host(self) -> str:
        """The host as a URL or a `host:port` writes it: an IPv6 address in brackets."""
        return f"[{self.host}]" if ":" in self.host else self.host

    # -- to override ---------------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        return port_open(self.host, self.port)

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        """Start (or restart) on the same port and data dir; returns once it is ready."""
        if self.running:
            return
        log = open(self.logfile, "ab")
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,  # a Ctrl-C in pytest must not hit the servers first
            )
        finally:
            log.close()
        self.paused = False
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} on start; "
                    f"log {self.logfile}:\n{self.log_tail()}"
                )
            if self.is_ready():
                # Still running a moment later: a listener that is another process's on
                # this port (see ensure_running) answered for a server that failed to bind.
                time.sleep(0.05)
                if self.proc.poll() is None:
                    return
                continue  # its exit is said above
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"{self.name} not ready on {self.host}:{self.port} after {self.ready_timeout_s}s; "
            f"log {self.logfile}:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM, SIGKILL after `timeout`); data dir and port are kept."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.paused = False
        # Wait until the port is released so a restart can bind it again.
        deadline = time.monotonic() + 5
        while port_open(self.host, self.port, 0.1) and time.monotonic() < deadline:
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts TCP connections but nothing is answered."""
        assert self.proc is not None and self.running, f"{self.name} is not running"
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def ensure_running(self) -> None:
        """Undo whatever a previous test did (paused or stopped). A restart that fails where
        the server can move moves to a new port: while a test held it down, another
        worker's `free_port` could pick its port (ports are checked free only when picked)
        and keep it, and the session's server then failed every later test of that worker
        (a CI run: "mosquitto exited with 1 on start", 139 errors). Later tests read the
        new port from the fixture."""
        self.resume()
        if self.running:
            return
        try:
            self.start()
        except RuntimeError:
            old = self.port
            self.port = free_port(self.host)
            if not self.port_moved():
                self.port = old
                raise
            self.start()

    def port_moved(self) -> bool:
        """`self.port` changed: rewrite what names it; False when this server cannot."""
        return False

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port} pid={self.pid}>"


# -- Mosquitto ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsMaterial:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client cert."""

    dir: Path
    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


#: How long the test certificates are valid by default: a leaf's life from make-certs.sh
#: (825 days), well past monitord's expiry warning (certfiles.WARN_DAYS), so that a TLS
#: process's log has no "expires ..." WARNING unless a test asks for a certificate that
#: expires soon (`client_until`, `ca_until`, `server_until`).
VALID_DAYS = 825


def make_tls_material(
    dirpath: Path,
    server_from: dt.datetime | None = None,
    client_until: dt.datetime | None = None,
    ca_until: dt.datetime | None = None,
    server_until: dt.datetime | None = None,
    server_aki: bool = True,
    server_names: tuple[str, ...] = (),
    ca_from: dt.datetime | None = None,
) -> TlsMaterial:
    """`server_from`: the server certificate's notBefore (default a day ago, as the CA's):
    a time ahead of the clock is a certificate "not yet valid", as on a Pi booted behind.
    `client_until`: the client certificate's notAfter (default the CA's, VALID_DAYS ahead):
    a time past is a chair's own certificate expired, a time soon one about to. `ca_until`:
    the CA's notAfter (default VALID_DAYS ahead): a time past is the clinic's CA expired.
    `server_until`: the server certificate's notAfter (default the CA's). `server_aki=False`:
    the server certificate without an Authority Key Identifier (as OpenSSL 1.1's
    `x509 -req` signed one without it in the -extfile). `server_names`: the server
    certificate for these DNS names only (another host's), not localhost and loopback.
    `ca_from`: the CA's notBefore (default a day ago): a time ahead is a CA not yet valid
    under a server certificate that is."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    dirpath.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    valid_from, valid_to = now - dt.timedelta(days=1), now + dt.timedelta(days=VALID_DAYS)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k: ec.EllipticCurvePrivateKey, p: Path) -> None:
        p.write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        p.chmod(0o600)

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "monitord test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca_from or valid_from)
        .not_valid_after(ca_until or valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, server: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        start = server_from if server and server_from is not None else valid_from
        end = (client_until if not server else server_until) or valid_to
        if end != valid_to:  # an end given in the past: valid for a day before it
            start = min(start, end - dt.timedelta(days=1))
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server_aki or not server:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        if server:
            b = b.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(n) for n in server_names]
                    or [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address(LOOPBACK)),
                        x509.IPAddress(ipaddress.ip_address(LOOPBACK6)),
                    ]
                ),
                critical=False,
            )
        return b.sign(ca_key, hashes.SHA256()), k

    m = TlsMaterial(
        dir=dirpath,
        ca_file=dirpath / "ca.pem",
        server_cert=dirpath / "server.pem",
        server_key=dirpath / "server.key",
        client_cert=dirpath / "client.pem",
        client_key=dirpath / "client.key",
    )
    m.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    srv, srv_key = leaf("localhost", server=True)
    m.server_cert.write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    write_key(srv_key, m.server_key)
    cli, cli_key = leaf("monitord-test-client", server=False)
    m.client_cert.write_bytes(cli.public_bytes(serialization.Encoding.PEM))
    write_key(cli_key, m.client_key)
    return m


class SServer(ServerProcess):
    """`openssl s_server` answering HTTPS (-www) with `tls` and `args`: what only OpenSSL's
    own server does (TLS 1.2 with a client certificate required: `-tls1_2 -Verify 1`)."""

    name = "s_server"
    package = "openssl"
    binaries = ["openssl"]  # noqa: RUF012

    def __init__(self, workdir: Path, tls: TlsMaterial, args: list[str]) -> None:
        super().__init__(workdir)
        self.tls, self.args = tls, args

    def command(self) -> list[str]:
        t = self.tls
        return [
            self.binary, "s_server", "-accept", f"{self.host}:{self.port}", "-www", "-quiet",
            "-cert", str(t.server_cert), "-key", str(t.server_key), "-CAfile", str(t.ca_file),
            *self.args,
        ]  # fmt: skip


class Mosquitto(ServerProcess):
    """Debian's mosquitto 2.x, anonymous on loopback, with persistence (sessions survive
    a restart, like a production broker with `persistence true`)."""

    name = "mosquitto"
    package = "mosquitto"
    binaries = ["/usr/sbin/mosquitto", "mosquitto"]  # noqa: RUF012

    def __init__(
        self,
        workdir: Path,
        *,
        tls: TlsMaterial | None = None,
        users: dict[str, str] | None = None,
        require_client_cert: bool = False,
        host: str = LOOPBACK,
    ) -> None:
        super().__init__(workdir, host)
        self.tls = tls
        self.users = dict(users or {})
        self.require_client_cert = require_client_cert
        self.conf = workdir / "mosquitto.conf"
        self._write_config()

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.netloc_host}:{self.port}"

    def port_moved(self) -> bool:
        self._write_config()
        return True

    def log_tail(self, n: int = 30) -> str:
        # The broker logs to its own file (log_dest): why it would not start is there.
        try:
            own = (self.workdir / "mosquitto-broker.log").read_text(errors="replace")
        except OSError:
            own = "(no broker log)"
        return f"{super().log_tail(n)}\n{chr(10).join(own.splitlines()[-n:])}"

    def _write_config(self) -> None:
        lines = [
            # As root mosquitto drops to user `mosquitto`, which cannot read our 0700 temp
            # dirs; "root" keeps the current user (ignored when not started as root).
            *(["user root"] if os.geteuid() == 0 else []),
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            "persistence true",
            f"persistence_location {self.datadir}/",
            "autosave_interval 1",
            f"log_dest file {self.workdir / 'mosquitto-broker.log'}",
            "log_type all",
            "connection_messages true",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
        ]
        if self.users:
            pwfile = self.workdir / "passwd"
            pwfile.write_text("")
            tool = find_binary(["/usr/bin/mosquitto_passwd", "mosquitto_passwd"], "mosquitto")
            for user, pw in self.users.items():
                subprocess.run([tool, "-b", str(pwfile), user, pw], check=True)
            pwfile.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines += ["allow_anonymous true"]
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                "tls_version tlsv1.2",
            ]
            if self.require_client_cert:
                lines += ["require_certificate true"]
        self.conf.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.conf)]

    def broker_log(self) -> str:
        p = self.workdir / "mosquitto-broker.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def pub_args(self) -> list[str]:
        """Connection arguments for mosquitto_pub/mosquitto_sub against this broker."""
        args = ["-h", self.host, "-p", str(self.port)]
        if self.tls is not None:
            args += ["--cafile", str(self.tls.ca_file)]
        return args


# -- InfluxDB 1.6 ------------------------------------------------------------------------


class Influxd(ServerProcess):
    """Debian's InfluxDB 1.6 (`influxd`), HTTP only on loopback (HTTPS with `tls`: its
    server certificate and key), no reporting."""

    name = "influxd"
    package = "influxdb"
    binaries = ["/usr/bin/influxd", "influxd"]  # noqa: RUF012

    def __init__(
        self,
        workdir: Path,
        max_body_size: int | None = None,
        host: str = LOOPBACK,
        tls: TlsMaterial | None = None,
    ) -> None:
        """`max_body_size`: the `[http] max-body-size` in bytes (HTTP 413 above it);
        InfluxDB's own default (25 MB) when None."""
        super().__init__(workdir, host)
        self.tls = tls
        https = (
            ""
            if tls is None
            else f'\n  https-enabled = true\n  https-certificate = "{tls.server_cert}"'
            f'\n  https-private-key = "{tls.server_key}"'
        )
        self.rpc_port = free_port(host)
        body_limit = "" if max_body_size is None else f"\n  max-body-size = {max_body_size}"
        self.conf = workdir / "influxdb.conf"
        d = self.datadir
        self.conf.write_text(
            f"""\
reporting-disabled = true
bind-address = "{self.netloc_host}:{self.rpc_port}"

[meta]
  dir = "{d / "meta"}"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{d / "data"}"
  wal-dir = "{d / "wal"}"
  wal-fsync-delay = "0s"
  index-version = "inmem"
  query-log-enabled = false
  trace-logging-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "{self.netloc_host}:{self.port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false
  unix-socket-enabled = false{body_limit}{https}

[ifql]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[[graphite]]
  enabled = false
[[collectd]]
  enabled = false
[[opentsdb]]
  enabled = false
[[udp]]
  enabled = false

[continuous_queries]
  enabled = false
"""
        )

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.netloc_host}:{self.port}"

    def command(self) -> list[str]:
        return [self.binary, "run", "-config", str(self.conf)]

    def is_ready(self) -> bool:
        if self.tls is not None:  # up: it answers TLS (what verifies it is the test's part)
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    with self._unverified().wrap_socket(sock):
                        return True
            except OSError:
                return False
        try:
            status, _ = http_get(f"{self.url}/ping", timeout=0.5)
        except OSError:
            return False
        return status == 204

    @staticmethod
    def _unverified() -> ssl.SSLContext:
        """The fixture's own HTTPS: the server's certificate is what tests verify."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx

    def query(self, q: str, db: str | None = None) -> dict[str, object]:
        """Run InfluxQL via /query; returns the decoded JSON (raises on HTTP errors)."""
        import json

        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        status, body = http_post(
            f"{self.url}/query",
            urllib.parse.urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            context=self._unverified() if self.tls is not None else None,
        )
        if status != 200:
            raise RuntimeError(f"influxd /query {status}: {body[:300]!r}")
        out: dict[str, object] = json.loads(body)
        return out

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        self.query(f'DROP DATABASE "{name}"')

    def rows(self, q: str, db: str) -> list[dict[str, object]]:
        """Rows of the first statement's series as dicts (column -> value), tags merged in."""
        res = self.query(q, db)
        out: list[dict[str, object]] = []
        results = res.get("results")
        assert isinstance(results, list)
        for r in results:
            if "error" in r:
                raise RuntimeError(f"influxd query error: {r['error']}")
            for s in r.get("series", []):
                cols = s["columns"]
                for v in s["values"]:
                    row = dict(zip(cols, v, strict=True))
                    row.update(s.get("tags") or {})
                    out.append(row)
        return out


# -- VictoriaMetrics ---------------------------------------------------------------------


class VictoriaMetrics(ServerProcess):
    """Debian's victoria-metrics (single node): accepts InfluxDB line protocol on /write
    and /api/v2/write; reads back via /api/v1/export (raw samples)."""

    name = "victoria-metrics"
    package = "victoria-metrics"
    binaries = ["/usr/bin/victoria-metrics", "victoria-metrics"]  # noqa: RUF012

    def __init__(self, workdir: Path, extra_flags: list[str] | None = None) -> None:
        super().__init__(workdir)
        self.extra_flags = list(extra_flags or [])

    @property
    def url(self) -> str:
        return f"http://{self.netloc_host}:{self.port}"

    def command(self) -> list[str]:
        return [
            self.binary,
            f"-httpListenAddr={self.host}:{self.port}",
            f"-storageDataPath={self.datadir}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
            # InfluxDB overwrites a point rewritten with the same series and timestamp, so
            # a retried "may have landed" write is idempotent there. VictoriaMetrics keeps
            # every raw sample unless deduplication is on; with it, one sample per series
            # and millisecond survives, which gives the same idempotent retries.
            "-dedup.minScrapeInterval=1ms",
            *self.extra_flags,
        ]

    def is_ready(self) -> bool:
        try:
            status, body = http_get(f"{self.url}/health", timeout=0.5)
        except OSError:
            return False
        return status == 200 and body.strip() == b"OK"

    def flush(self) -> None:
        """Make just-ingested samples searchable (they are buffered for ~1 s otherwise)."""
        http_get(f"{self.url}/internal/force_flush", timeout=5)

    def count_samples(self, match: str) -> int:
        n = 0
        for s in self.export(match):
            values = s["values"]
            assert isinstance(values, list)
            n += len(values)
        return n

    def wait_samples(self, match: str, n: int, timeout: float = 15.0) -> int:
        """Poll until at least `n` samples match (VictoriaMetrics makes new samples
        searchable about a second after ingestion), then return the count seen."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.count_samples(match)
            if got >= n or time.monotonic() >= deadline:
                return got
            time.sleep(0.1)

    def export(self, match: str) -> list[dict[str, object]]:
        """Raw samples of every series matching the selector, one JSON object per series."""
        import json

        self.flush()
        q = urllib.parse.urlencode({"match[]": match, "start": "0"})
        status, body = http_get(f"{self.url}/api/v1/export?{q}", timeout=10)
        if status != 200:
            raise RuntimeError(f"victoria-metrics export {status}: {body[:300]!r}")
        return [json.loads(line) for line in body.splitlines() if line.strip()]


# -- helpers -----------------------------------------------------------------------------


def json_int(v: object) -> int:
    """`int(v)` of a number in decoded JSON (an InfluxDB count, a time in ns, ...)."""
    assert isinstance(v, int | float | str), f"not a JSON number: {v!r}"
    return int(v)


def json_float(v: object) -> float:
    """`float(v)` of a number in decoded JSON."""
    assert isinstance(v, int | float | str), f"not a JSON number: {v!r}"
    return float(v)


def unique_name(prefix: str = "t") -> str:
    """A fresh identifier usable as a database name, MQTT topic level or site id."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def reap_all() -> None:
    """Kill every server still running (atexit / session teardown after a crash)."""
    for srv in list(_LIVE):
        with contextlib.suppress(Exception):
            srv.resume()
            srv.kill()


def wait_for(pred: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll `pred` until true or `timeout`; returns the last result (tests assert it)."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def session_tmpdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"monitord-{prefix}-"))
