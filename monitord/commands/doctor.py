"""`monitord doctor [--config PATH]`: is this Pi ready to run monitord?

One line per check, in the order an operator fixes things: config (and its checks against
this machine, config_checks.py), serial ports, Bluetooth adapter, broker, each chair's round
trip to a station and whether one is online (doctor_mqtt.py; doctor_live.py: a running
daemon's or station's state, not a login taking its connection), database (doctor_influx.py),
clock, disk. A failing line says what is wrong and how to fix it, `warn` what is worth
fixing, `skip` why a check did not apply. Exit 1 if any check failed (design.md 4). Run as
root (sudo): secrets are root-only; a relative `password_file`/`token_file` is a systemd
credential (LoadCredential=) in `--credentials` (default: $CREDENTIALS_DIRECTORY, else
/etc/monitord/secrets).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from monitord import certfiles
from monitord.cli import EX_USAGE, MAX_SECONDS, bad_seconds
from monitord.commands import doctor_live as dl
from monitord.commands.checks import (
    Check,
    SecretProblem,
    fail,
    ok,
    skip,
    sourced_secret,
    tls_context,
)
from monitord.commands.doctor_host import (
    check_annunciator_command,
    check_annunciator_gpio,
    check_disk,
    check_serial,
    check_service_files,
    check_store,
)
from monitord.commands.doctor_influx import check_influx
from monitord.commands.doctor_mqtt import round_trip, station_login, stations_online
from monitord.commands.doctor_probe import RENEW, check_cert_expiry, mismatch, quiet_paho
from monitord.config import Config, ConfigError, load_config
from monitord.config_checks import check as config_checks
from monitord.config_station import STATION_PASSWORD_ENV
from monitord.credentials import SECRETS_DIR, unit_directory
from monitord.netaddr import hostport
from monitord.tlsclock import BROKER_CA, clock_fact, clock_fix, peer_validity

DEFAULT_CREDENTIALS = str(SECRETS_DIR)
SYSTEM_BUS = "/run/dbus/system_bus_socket"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--credentials",
        metavar="DIR",
        help="where relative secret names are found (default: $CREDENTIALS_DIRECTORY, "
        f"else {DEFAULT_CREDENTIALS})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds per network check (default 5)",
    )
    p.add_argument(
        "--station-user",
        metavar="NAME",
        help="a station's MQTT user: read the round trip back as it (default: [station] "
        "mqtt_username when the config has it)",
    )
    p.add_argument(
        "--station-password-file",
        metavar="PATH",
        help="that station's password file (a relative name is looked up in --credentials)",
    )


# -- config ------------------------------------------------------------------------------
def check_config(path: str) -> tuple[Check, Config | None]:
    try:
        cfg = load_config(path)
    except ConfigError as e:
        more = f" (+{len(e.lines) - 1} more)" if len(e.lines) > 1 else ""
        return fail("config", e.lines[0] + more, f"monitord check-config {path}"), None
    n_dev = sum(len(c.devices) for c in cfg.chairs)
    return ok(
        "config", f"{path}: site {cfg.site.id}, {len(cfg.chairs)} chair(s), {n_dev} device(s)"
    ), cfg


def check_config_machine(cfg: Config, path: str, creds: Path | None = None) -> list[Check]:
    """What `monitord check-config` and `monitord run` check beyond the schema (secret
    files, TLS files, ACL fit ...): an error fails, a warning is a `warn` line. Relative
    secret names are looked up in `creds` (--credentials) as the unit would pass them."""
    errors, warnings = config_checks(cfg, path, creds)
    out = [fail("config checks", e, f"monitord check-config {path}") for e in errors]
    out += [Check("warn", "config checks", w) for w in warnings]
    return out or [ok("config checks", "secret and TLS files usable; no warnings")]


def check_credentials(cfg: Config, creds: Path | None) -> Check | None:
    """Says where relative secret names were looked up, and that doctor is not the unit
    (which passes /etc/monitord/secrets as credentials: monitord/credentials.py)."""
    names = [
        p
        for p in (
            cfg.mqtt.password_file,
            *(c.mqtt_password_file for c in cfg.chairs),
            cfg.influx.token_file,
            cfg.influx.password_file,
            cfg.station.mqtt_password_file if cfg.station is not None else None,
        )
        if p is not None and not p.is_absolute()
    ]
    if not names:
        return None
    if creds is not None and creds == unit_directory():
        return ok("credentials", f"secret names read from {creds} (inside the unit)")
    where = creds or SECRETS_DIR
    note = "" if where == SECRETS_DIR else f"; the unit passes {SECRETS_DIR}, not {where}"
    return ok(
        "credentials",
        f"secret names looked up in {where} as the unit passes them "
        f"(LoadCredential=secrets:{SECRETS_DIR}); doctor runs outside the unit{note}",
    )


# -- Bluetooth (BlueZ over D-Bus) ----------------------------------------------------------
def _ble_devices(cfg: Config) -> list[str]:
    from monitord.drivers.registry import DRIVERS

    return [
        f"{c.id}/{d.id}"
        for c in cfg.chairs
        for d in c.devices
        if d.simulate is None and DRIVERS[d.driver].transport == "ble"
    ]


async def _bluez_adapters(limit_s: float) -> list[str]:
    """Object paths of BlueZ adapters (org.bluez.Adapter1) on the system bus."""
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), limit_s)
    try:
        reply = await asyncio.wait_for(
            bus.call(
                Message(
                    destination="org.bluez",
                    path="/",
                    interface="org.freedesktop.DBus.ObjectManager",
                    member="GetManagedObjects",
                )
            ),
            limit_s,
        )
    finally:
        bus.disconnect()
    if reply is None or reply.message_type == MessageType.ERROR:
        err = reply.error_name if reply is not None else "no reply"
        raise LookupError(f"BlueZ (org.bluez) not on the system bus: {err}")
    objects: dict[str, dict[str, object]] = reply.body[0]
    return sorted(p for p, ifaces in objects.items() if "org.bluez.Adapter1" in ifaces)


def _system_bus_present() -> bool:
    return bool(os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")) or Path(SYSTEM_BUS).is_socket()


async def check_bluetooth(cfg: Config, limit_s: float) -> Check:
    wanted = _ble_devices(cfg)
    if not _system_bus_present():
        if wanted:
            return fail(
                "bluetooth",
                f"no D-Bus system bus, needed for BLE devices {', '.join(wanted)}",
                "apt-get install bluez dbus; systemctl enable --now bluetooth",
            )
        return skip("bluetooth", "no D-Bus system bus here (container?); no BLE devices configured")
    try:
        adapters = await _bluez_adapters(limit_s)
    except Exception as e:  # any D-Bus failure is one line, never a traceback
        if wanted:
            return fail(
                "bluetooth",
                f"BlueZ not reachable: {e}",
                "systemctl enable --now bluetooth; is the adapter enabled (rfkill)?",
            )
        return skip("bluetooth", f"BlueZ not reachable ({e}); no BLE devices configured")
    if not adapters:
        if wanted:
            return fail(
                "bluetooth",
                "BlueZ runs but has no adapter",
                "rfkill unblock bluetooth; check `bluetoothctl list`",
            )
        return skip("bluetooth", "BlueZ runs, no adapter; no BLE devices configured")
    return ok("bluetooth", f"BlueZ adapter {', '.join(a.rsplit('/', 1)[-1] for a in adapters)}")


# -- MQTT broker -------------------------------------------------------------------------
async def check_mqtt(cfg: Config, creds: Path | None, limit_s: float) -> Check:
    """Log in to the broker with every login the chairs use ([mqtt]'s, or a chair's own
    mqtt_username): the first that fails is the line; else one ok line."""
    if not cfg.mqtt.enabled:
        return skip("mqtt", "disabled in config (mqtt.enabled = false)")
    from monitord.sinks.mqtt_errors import chair_login_words, station_login_words

    # (user, password file, environment variable): the env is [mqtt]'s (None: own login),
    # each with the words of its settings for a refused one (the daemon's, sinks/mqtt_errors).
    logins: dict[tuple[str | None, Path | None, str | None], str] = {}
    for c in cfg.chairs:
        login = c.mqtt_login(cfg.mqtt)
        logins.setdefault(login, chair_login_words(c.id, login[2]))
    if not logins and cfg.station is not None:
        # A station's config (no chairs): its own login, as `monitord station` logs in.
        st = cfg.station
        login = (st.mqtt_username, st.mqtt_password_file, STATION_PASSWORD_ENV)
        logins[login] = station_login_words()
    if not logins:
        return skip("mqtt", "no [[chairs]] and no [station] in the config: nothing logs in")
    results = [await _check_login(cfg, *login, w, creds, limit_s) for login, w in logins.items()]
    failed = [r for r in results if r.status != "ok"]
    if failed or len(results) == 1:
        return (failed or results)[0]
    users = ", ".join(str(u) for u, _pw, _env in logins)
    detail = results[0].detail.split(": connected", 1)[0] + f": connected as {users}"
    return ok("mqtt", detail, "; ".join(r.hint for r in results if r.hint))


async def _check_login(
    cfg: Config,
    username: str | None,
    password_file: Path | None,
    env: str | None,
    keys: str,
    creds: Path | None,
    limit_s: float,
) -> Check:
    """One login; `env` is the variable the daemon reads before `password_file` ([mqtt]'s
    login: MONITORD_MQTT_PASSWORD), None for a chair's own login (which has none); `keys`
    the words of its settings (sinks/mqtt_errors.login_words)."""
    import aiomqtt

    from monitord.mqttv5 import V5Client
    from monitord.sinks.mqtt_errors import describe_error, no_account

    m = cfg.mqtt
    where = f"{'mqtts' if m.tls else 'mqtt'}://{hostport(m.host, m.port)}"
    pw_keys = {
        None: "chairs.mqtt_password_file",
        STATION_PASSWORD_ENV: "station.mqtt_password_file",
    }
    pw_key = pw_keys.get(env, "mqtt.password_file")
    try:
        password, source = sourced_secret(password_file, creds, pw_key, env)
    except SecretProblem as e:
        return fail("mqtt", f"{where}: cannot log in", str(e))
    try:
        tls = tls_context(m)
    except (OSError, ssl.SSLError) as e:
        return fail(
            "mqtt",
            f"{where}: TLS files unusable ({e})",
            "check mqtt.tls ca_file/cert_file/key_file paths and permissions",
        )
    client = V5Client(
        m.host,
        m.port,
        username=username,
        password=password,
        identifier=f"monitord-doctor-{cfg.site.id}-{os.getpid()}",
        tls_context=tls,
        timeout=limit_s,
        logger=quiet_paho,
    )
    try:
        async with asyncio.timeout(limit_s + 1):
            async with client:
                pass
    except (aiomqtt.MqttError, OSError, ssl.SSLError, TimeoutError) as e:
        # Classified as the daemon does it: by exception type and MQTT reason code.
        cls, _msg = describe_error(e, m)
        text = str(e) or type(e).__name__
        user = username or "(anonymous)"
        # A TLS/plain mix-up reads as a reset or a timeout: ask the port what it speaks.
        if cls != "auth" and (lang := await mismatch(m.host, m.port, bool(tls), limit_s)):
            return fail(
                "mqtt",
                f"{where}: port {m.port} speaks {lang}, the config "
                f"{'expects TLS ([mqtt.tls] is set)' if tls else 'has no [mqtt.tls]'}",
                "check [mqtt] port and [mqtt.tls] (the shipped broker's TLS listener is 8883)",
            )
        if "certificate has expired" in text:
            return fail("mqtt", f"{where}: TLS failed ({text})", f"{RENEW}; check this Pi's clock")
        if cls == "clock":  # a Pi booted behind (monitord/tlsclock.py); ask the dates
            dates = await peer_validity(m.host, m.port, limit_s) if m.tls else None
            fact = clock_fact("broker", dt.datetime.now(dt.UTC), dates, BROKER_CA)
            return fail("mqtt", f"{where}: TLS failed: {fact}", clock_fix("broker"))
        if cls == "dns":
            return fail(
                "mqtt",
                f"{where}: the host name does not resolve ({text})",
                f"is this machine's network up (DHCP, Wi-Fi, cable)? check mqtt.host and "
                f"`getent hosts {m.host}`",
            )
        if cls == "net":  # an address and no route to it: the network not up yet
            return fail(
                "mqtt",
                f"{where}: not reachable: no route to it ({text})",
                f"is this machine's network up (DHCP, Wi-Fi, cable)? check mqtt.host and "
                f"`ip route get {m.host}`",
            )
        if cls == "auth":
            return fail(
                "mqtt",
                f"{where}: login refused for user {user} ({text})",
                f"check {keys} against the broker's password file{no_account(username)}",
            )
        if cls == "tls":
            return fail(
                "mqtt",
                f"{where}: TLS failed ({text})",
                "check mqtt.tls.ca_file is the broker's CA, the port is the TLS "
                "listener, and the host matches the certificate",
            )
        if cls == "timeout" or isinstance(e, TimeoutError):
            return fail(
                "mqtt",
                f"{where}: no answer within {limit_s:g} s",
                "is the broker running and the port open (firewall)?",
            )
        return fail(
            "mqtt",
            f"{where}: not reachable ({text})",
            "start the broker (systemctl status mosquitto) or fix mqtt.host/port",
        )
    auth = f"as {username}" if username else "anonymously"
    # Where the password came from: the environment wins over the file, as in the daemon.
    note = f"{username}'s password from {source}" if password is not None else ""
    return ok("mqtt", f"{where}: connected {auth}{' over TLS' if tls else ''}", note)


# -- clock -------------------------------------------------------------------------------
def check_clock(limit_s: float) -> Check:
    exe = shutil.which("timedatectl")
    if exe is None:
        return skip("clock", "timedatectl not available: cannot tell whether NTP is in sync")
    try:
        p = subprocess.run(
            [exe, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=limit_s,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return skip("clock", f"timedatectl failed ({e}): cannot tell whether NTP is in sync")
    value = p.stdout.strip()
    if p.returncode != 0 or value not in ("yes", "no"):
        why = (p.stderr.strip().splitlines() or ["no answer"])[0]
        return skip(
            "clock", f"timedatectl cannot ask systemd-timedated ({why}); sync status unknown"
        )
    if value == "no":
        return fail(
            "clock",
            "system clock not synchronized (NTPSynchronized=no)",
            "systemctl enable --now systemd-timesyncd; check the NTP server is "
            "reachable (timedatectl timesync-status); readings are stamped with it",
        )
    return ok("clock", "synchronized (NTP)")


# -- main --------------------------------------------------------------------------------
def _credentials_dir(arg: str | None) -> Path | None:
    if arg:
        return Path(arg)
    env = os.environ.get("CREDENTIALS_DIRECTORY")
    if env:
        return Path(env)
    return Path(DEFAULT_CREDENTIALS) if os.path.isdir(DEFAULT_CREDENTIALS) else None


async def run_checks(
    cfg: Config,
    creds: Path | None,
    limit_s: float,
    emit: Callable[[Check], None],
    station: tuple[str | None, str | None] = (None, None),
) -> None:
    for c in check_serial(cfg):
        emit(c)
    # The network checks are independent: run them together, print them in order.
    live = dl.live_mqtt_checks(cfg) or dl.live_station_checks(cfg)  # no takeover (doctor_live)
    slow: list[Awaitable[Check]] = [
        check_bluetooth(cfg, limit_s),
        check_mqtt(cfg, creds, limit_s) if live is None else dl.done(live[0]),
        check_influx(cfg, creds, limit_s),
    ]
    bluetooth, mqtt, influx = await asyncio.gather(*slow)
    emit(bluetooth)
    emit(mqtt)
    tls = tls_context(cfg.mqtt) if cfg.mqtt.enabled and mqtt.status == "ok" else None
    if tls is not None:
        for c in await check_cert_expiry(cfg.mqtt.host, cfg.mqtt.port, tls, limit_s):
            emit(c)
    # This machine's own files, read without a handshake: the chair's client certificate,
    # the station's HTTPS one, the CA when the broker was not reached (certfiles.py).
    for line in certfiles.near(local_cert_files(cfg, with_ca=tls is None), dt.datetime.now(dt.UTC)):
        emit(Check("warn", "tls files", line))
    for c in (live or [])[1:]:
        emit(c)
    if live is None and cfg.mqtt.enabled and mqtt.status == "ok":
        who = station_login(cfg, *station)
        if not cfg.chairs:
            emit(skip("mqtt round trip", "no [[chairs]] in this config (a station's)"))
        for chair in cfg.chairs:
            emit(await round_trip(cfg, chair, creds, who, limit_s))
        emit(await stations_online(cfg, creds, who, limit_s))
    elif live is None and cfg.mqtt.enabled:
        emit(skip("mqtt round trip", "the broker check failed (above)"))
    emit(influx)
    emit(check_clock(limit_s))
    # A station keeps no outbox: no free space "for the outbox", no store "made at start".
    no_store = skip("disk", "no [[chairs]] in this config (a station's): it keeps no outbox")
    emit(check_disk(cfg) if cfg.chairs else no_store)


def main(args: argparse.Namespace) -> int:
    if bad_seconds("doctor", "--timeout", args.timeout, MAX_SECONDS):
        return EX_USAGE
    failed = False

    def emit(c: Check) -> None:
        nonlocal failed
        failed |= c.status == "FAIL"
        # One write, the newline in it: print() writes the text and its end apart (two
        # writes under PYTHONUNBUFFERED=1), and the log's thread (monitord/logwriter.py),
        # writing a library's WARNING while the checks run, could land a line between
        # them when stdout and stderr are one file (`doctor > doctor.txt 2>&1`).
        sys.stdout.write(c.line() + "\n")
        sys.stdout.flush()

    first, cfg = check_config(args.config)
    emit(first)
    if cfg is None:
        emit(skip("other checks", "they need a valid config"))
        return 1
    creds = _credentials_dir(args.credentials)
    for c in check_config_machine(cfg, args.config, creds):
        emit(c)
    for maybe in (
        check_credentials(cfg, creds),
        check_annunciator_command(cfg),
        check_annunciator_gpio(cfg),
    ):
        if maybe is not None:
            emit(maybe)
    for c in [*check_store(cfg), *check_service_files(cfg), *dl.station_listen(cfg)]:
        emit(c)
    station = (args.station_user, args.station_password_file)
    asyncio.run(run_checks(cfg, creds, args.timeout, emit, station))
    return 1 if failed else 0


def local_cert_files(cfg: Config, with_ca: bool) -> list[certfiles.CertFile]:
    """The certificate files of this machine's config that doctor reads for their expiry."""
    files = certfiles.mqtt_files(cfg.mqtt.tls) if cfg.mqtt.enabled else []
    if not with_ca:
        files = [f for f in files if f[2] != "ca"]  # said by check_cert_expiry
    if cfg.station is not None and cfg.station.tls_cert_file is not None:
        files.append(("station.tls_cert_file", cfg.station.tls_cert_file, "station"))
    return files
