"""`monitord doctor`'s checks of this machine for the service: serial ports, files the
service user must reach, and the outbox's place and disk (monitord/commands/doctor.py
runs them). Doctor runs as root; what it checks here is what the unit's user
(`monitord`, sandboxed by systemd/monitord.service) will meet."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import termios
from pathlib import Path

from monitord import serviceuser
from monitord.commands.checks import Check, fail, ok, skip
from monitord.commands.doctor_unit import (
    UNIT_DEVICES,
    device_rules,
    shipped_rules,
    unit_groups,
)
from monitord.config import Config
from monitord.config_checks import command_problem, file_kind, secret_files
from monitord.credentials import SECRETS_DIR
from monitord.outbox import SCHEMA_VERSION
from monitord.pathfault import in_the_way, path_fault
from monitord.serviceuser import SERVICE_USER, may, service_user_blocked
from monitord.store import fileheader

# The shipped unit's StateDirectory= (ProtectSystem=strict: the only writable place).
STATE_DIR = Path("/var/lib/monitord")


# A chip's group and mode, for a chip no group may write (docs/delivery.md, "The local
# annunciator"): Raspberry Pi OS ships such a rule (group gpio), Debian none.
GPIO_UDEV_FILE = "/etc/udev/rules.d/60-gpiochip.rules"
GPIO_UDEV_RULE = 'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"'


# udev's stable names of USB serial adapters (systemd's rules.d/60-serial.rules): by-id
# from the adapter's vendor, model and serial number, by-path from its USB socket.
SERIAL_LINKS = (Path("/dev/serial/by-id"), Path("/dev/serial/by-path"))


# What the shipped unit hides from the daemon: ProtectHome=yes (/home, /root, /run/user
# empty) and PrivateTmp=yes (its own empty /tmp, /var/tmp).
UNIT_HIDDEN = tuple(Path(p) for p in ("/home", "/root", "/run/user", "/tmp", "/var/tmp"))


def check_annunciator_command(cfg: Config) -> Check | None:
    """The annunciator's command as the service will meet it: root (doctor) may run a
    script in /root or /tmp, or one only root may execute; under the unit it is not
    there, or not executable, and the chair's own alarm would fail at its first sound."""
    cmd = cfg.annunciator.command
    if not cmd or not Path(cmd[0]).is_absolute() or command_problem(cmd[0]) is not None:
        return None  # none, a bare name, or one root cannot run either: config checks say so
    exe = Path(os.path.abspath(cmd[0]))
    hidden = next((d for d in UNIT_HIDDEN if exe.is_relative_to(d)), None)
    if hidden is not None:
        return fail(
            "annunciator.command",
            f"{exe} is under {hidden}, which the shipped unit hides from the daemon "
            "(ProtectHome=yes, PrivateTmp=yes): it would not be found at the first alarm",
            "put it in /usr/local/bin (0755) and name it in annunciator.command",
        )
    if why := service_user_blocked(exe, run=True):
        detail, fix = why.split("; ", 1)
        return fail("annunciator.command", detail, f"{fix} (docs/delivery.md)")
    return None


def check_annunciator_gpio(cfg: Config) -> Check | None:
    """The annunciator's GPIO chip as the service will meet it: root (doctor) opens any
    device, while the shipped unit (DevicePolicy=closed) lets the daemon open serial
    adapters only, and the service user needs the chip's group (`gpio` on Raspberry Pi
    OS). Before, doctor said nothing of it: all `ok`, and under the unit the daemon's
    start logged `Operation not permitted`, the chair's own alarm dead at the first
    delivery failure (docs/delivery.md, "The local annunciator")."""
    chip, line = cfg.annunciator.gpio_chip, cfg.annunciator.gpio_line
    driver = None if chip is None else _char_driver(chip)
    if chip is None or driver is None:
        return None  # none, or no character device: check-config's line says so
    dead = (
        f"the annunciator's line {line} cannot be driven, and the chair's own alarm would not sound"
    )
    if refused := _unit_refuses(driver, chip):
        return fail(
            "annunciator.gpio_chip",
            f"{chip} is a {driver} device; {refused}: under it {dead}",
            f"add DeviceAllow=char-{driver} rw in a drop-in (systemctl edit monitord; "
            "docs/delivery.md)",
        )
    try:
        st = os.stat(chip)
    except OSError:
        return None
    group_rw = st.st_mode & 0o060 == 0o060
    if (st.st_gid in unit_groups() and group_rw) or not (why := _service_user_can_use(chip)):
        return None
    group = _group_name(st.st_gid)
    if st.st_gid == 0 or not group_rw:
        # A chip no group may write (0600 root:root: Debian's, with no rule of the board's
        # vendor): its group was advised ("usermod -a -G root monitord"), which gives
        # nothing, or root's group's files. A udev rule gives the chip a group of its own.
        return fail(
            "annunciator.gpio_chip",
            f"user {SERVICE_USER} may not open {chip} (mode {stat.S_IMODE(st.st_mode):04o}, "
            f"group {group}): {dead}",
            f"give the chip a group with a udev rule: {GPIO_UDEV_RULE} in {GPIO_UDEV_FILE} "
            "(groupadd --system gpio first, if there is none; udevadm trigger "
            "--subsystem-match=gpio applies it), then SupplementaryGroups=dialout gpio in a "
            "drop-in (systemctl edit monitord; docs/delivery.md)",
        )
    return fail(
        "annunciator.gpio_chip",
        f"{why}: {dead}",
        f"usermod -a -G {group} {SERVICE_USER}, or SupplementaryGroups=dialout {group} "
        "in a drop-in (systemctl edit monitord; docs/delivery.md)",
    )


def _unit_refuses(driver: str, dev: str) -> str | None:
    """Why the installed unit keeps the daemon from opening `dev` read-write, as it opens a
    serial port (pyserial) and a GPIO chip (libgpiod: the kernel's GPIO uAPI sets a line
    by an ioctl on the line request's own descriptor, but libgpiod opens the chip O_RDWR,
    which the device cgroup refuses with `r` alone), or None when it may."""
    rules = device_rules()
    if rules.allows(driver, dev):
        return None
    if "r" in rules.access(driver, dev):
        # Counted as allowed before: `DeviceAllow=char-gpiochip r`, and EPERM at the open.
        return f"the unit lets the daemon open it read-only ({rules.lines(driver, dev)})"
    if rules != shipped_rules():  # a drop-in's own list, said as it is
        allowed = ", ".join(f"{spec} {letters}" for spec, letters in rules.allow) or "none"
        return (
            f"the unit, drop-ins included, lets the daemon open only its DeviceAllow= "
            f"devices ({allowed}; DevicePolicy={rules.policy})"
        )
    return (
        f"the shipped unit lets the daemon open only {', '.join(UNIT_DEVICES)} devices "
        "(DevicePolicy=closed)"
    )


def check_service_files(cfg: Config) -> list[Check]:
    """Files the daemon opens itself: root can read them, the service user perhaps not
    (the daemon would stop with exit 78): TLS files (a CA in a 0700 folder) and secrets
    named by an absolute path (a root-only 0600 file). A secret named relatively is a
    credential the unit passes whatever its mode: not judged here."""
    out = []
    for key, path, _env in secret_files(cfg):
        if path.is_absolute() and (why := service_user_blocked(path, kind="group")):
            detail, fix = why.split("; ", 1)
            fix += (
                f", or move it to {SECRETS_DIR} and name it relatively (the unit passes it; "
                "docs/operations.md, Secrets)"
            )
            out.append(fail(key, detail, fix))
    tls = cfg.mqtt.tls if cfg.mqtt.enabled else None
    for key in ("ca_file", "cert_file", "key_file"):
        p = getattr(tls, key) if tls is not None else None
        kind = file_kind(f"mqtt.tls.{key}")  # a client key: never 0644
        if p is not None and (why := service_user_blocked(p, kind=kind)):
            detail, fix = why.split("; ", 1)
            # Without it `monitord run` stops with exit 78 (config_checks).
            out.append(
                fail(f"mqtt.tls.{key}", detail, f"{fix} (docs/install.md, TLS certificates)")
            )
    st = cfg.station
    files = (
        []
        if st is None
        else [
            ("nurses_file", st.nurses_file),
            ("tls_cert_file", st.tls_cert_file),
            ("tls_key_file", st.tls_key_file),
        ]
    )
    for key, p in files:
        # The station reads them as `monitord` (its unit's User=), root (doctor) any file:
        # `--add-nurse` under sudo makes the nurses file 0600 root, which the station then
        # refuses at start (exit 78) while check-config as root said ok.
        if p is not None and (why := service_user_blocked(p, kind=file_kind(f"station.{key}"))):
            detail, fix = why.split("; ", 1)
            out.append(
                fail(f"station.{key}", detail, f"{fix} (docs/install.md, The nurses' station)")
            )
    return out


# -- serial ------------------------------------------------------------------------------
def _service_user_can_use(dev: str) -> str | None:
    """Why the service user could not open `dev` (None when it can, or when unknowable)."""
    ids = serviceuser.service_ids()
    try:
        st = os.stat(dev)
    except OSError:
        return None
    read = may(st, ids, (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)) if ids else True
    if ids is None or (read and may(st, ids, (stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH))):
        return None
    return f"user {SERVICE_USER} is not in group {_group_name(st.st_gid)} that owns {dev}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _char_driver(dev: str) -> str | None:
    """The kernel driver name (/proc/devices) of character device `dev`, or None."""
    try:
        st = os.stat(dev)
        if not stat.S_ISCHR(st.st_mode):
            return None
        text = Path("/proc/devices").read_text()
    except OSError:
        return None
    major = os.major(st.st_rdev)
    block = text.split("Block devices:", 1)[0]
    for ln in block.splitlines():
        num, _, name = ln.strip().partition(" ")
        if num.isdigit() and int(num) == major:
            return name.strip()
    return None


def check_unit_device(name: str, port: str) -> Check | None:
    """A port the unit's DevicePolicy=closed keeps from the daemon: root (doctor) opens it,
    the service gets EPERM at every open (a Pi's GPIO UART is ttyAMA, docs/install.md)."""
    driver = _char_driver(port)
    if driver is None or not (refused := _unit_refuses(driver, port)):
        return None
    return Check(
        "warn",
        f"{name} (unit)",
        f"{port} is a {driver} device; {refused}: under it this port cannot be opened",
        f"add DeviceAllow=char-{driver} rw in a drop-in (systemctl edit monitord)",
    )


def adapter_note(port: str, who: str) -> str:
    """For a port named by its device node (/dev/ttyUSB0: a kernel number, which a reboot
    may give to another adapter), the stable name udev now gives that adapter, to paste
    into the config (check-config warns of the number); "" for a port named by a link
    (by-id, by-path, an admin's own udev rule) or with none leading to it."""
    if os.path.islink(port):
        return ""
    real = os.path.realpath(port)
    found: dict[Path, dict[str, Path]] = {}  # base -> {the tty it leads to: the link}
    for base in SERIAL_LINKS:
        try:
            links = sorted(base.iterdir())
        except OSError:
            links = []
        found[base] = {os.path.realpath(link): link for link in links}
    by_id, by_path = (found[base] for base in SERIAL_LINKS)
    # Identical adapters without a serial number share one by-id name (CH340s are all
    # usb-1a86_USB2.0-Serial-if00-port0 in public configs), which leads to one of them:
    # an adapter with a by-path link and no by-id one is such a twin, and the shared name
    # may lead to the other chair's after a reboot. Then the socket's link, not by-id.
    shared = any(tty not in by_id for tty in by_path)
    link = (
        (by_path.get(real) or by_id.get(real)) if shared else (by_id.get(real) or by_path.get(real))
    )
    if link is None:
        return ""
    # Now: after a swap the link leads to the other chair's adapter, hence the check
    # before pasting it.
    return (
        f"{port} is {link} now: set that as its port once you have checked "
        f"it is {who}'s device (unplug it: the link goes)"
    )


def check_serial(cfg: Config) -> list[Check]:
    """Each serial port opens, with the line settings and the exclusive lock the daemon
    uses (drivers/serial_link.py). termios settings belong to the tty, not to our file
    descriptor: opening a port the running daemon holds would change its speed and parity
    under it. pyserial takes the flock before its tcsetattr, so a held port is reported
    in use and left untouched."""
    import serial

    from monitord.drivers.registry import DRIVERS
    from monitord.drivers.serial_link import LinkError, SerialLinkSettings, line_settings, line_text

    out: list[Check] = []
    for chair in cfg.chairs:
        for dev in chair.devices:
            d = dev.settings
            if dev.simulate is not None or not isinstance(d, SerialLinkSettings) or not d.port:
                continue
            name = f"serial {chair.id}/{dev.id}"
            url = "://" in d.port
            if not url and not os.path.exists(d.port):
                out.append(
                    fail(
                        name,
                        f"{d.port} does not exist",
                        "plug the adapter in and check `ls -l /dev/serial/by-id/`; "
                        "set chairs.devices.port to the stable by-id name",
                    )
                )
                continue
            settings = line_settings(d, DRIVERS[dev.driver])
            line = line_text(settings)
            note = "" if url else adapter_note(d.port, f"{chair.id}/{dev.id}")
            try:
                extra = {} if url else {"exclusive": True}
                s = serial.serial_for_url(d.port, timeout=0, **settings, **extra)
                s.close()
            except PermissionError:
                out.append(
                    fail(
                        name,
                        f"{d.port}: permission denied",
                        f"usermod -a -G dialout {SERVICE_USER} (and run doctor as root)",
                    )
                )
                continue
            except termios.error as e:
                # The tty refused the driver's line settings: pyserial lets termios.error
                # through, which ended doctor with a traceback (the daemon says it as
                # LinkError.LINE_SETTINGS, drivers/serial_link.py).
                out.append(
                    fail(
                        name,
                        f"{d.port}: the port refused the line settings {line} ({e.args[-1]})",
                        LinkError.LINE_SETTINGS.advice,
                    )
                )
                continue
            except (serial.SerialException, OSError, ValueError) as e:
                if "exclusively lock" in str(e):
                    out.append(
                        ok(
                            name,
                            f"{d.port} present and in use (held by another process: the "
                            "running monitord, or `monitord capture`); not opened, its "
                            "settings left as they are",
                            note,
                        )
                    )
                else:
                    out.append(
                        fail(name, f"{d.port}: cannot open ({e})", "is another program using it?")
                    )
                continue
            why = _service_user_can_use(d.port) if not url else None
            if why:
                out.append(
                    fail(
                        name, f"{d.port} opens, but {why}", f"usermod -a -G dialout {SERVICE_USER}"
                    )
                )
            else:
                out.append(ok(name, f"{d.port} present and opens ({line})", note))
            if not url and (blocked := check_unit_device(name, d.port)) is not None:
                out.append(blocked)
    if not out:
        out.append(skip("serial", "no serial devices configured"))
    return out


# -- disk --------------------------------------------------------------------------------
def existing_folder(path: Path) -> Path:
    """The deepest folder on `path`'s way that exists: where its store's space is. A file
    where a folder is to be (storage.path typed with a file's name as its folder) is no
    such folder: `disk` said "MB free at" that file."""
    hit = in_the_way(path)
    probe = hit[1] if hit else Path(os.path.abspath(path)).parent
    # os.path, not Path: Path.exists() raises behind a folder this user may not enter.
    while not os.path.isdir(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def check_disk(cfg: Config) -> Check:
    path = Path(os.path.abspath(cfg.storage.path))
    probe = existing_folder(path)
    usage = shutil.disk_usage(probe)
    free_mb = usage.free / 1e6
    need_mb = cfg.storage.max_mb
    note = "" if os.path.isdir(path.parent) else f"; {path.parent} is made at first start"
    if fault := path_fault(path):  # then nothing is made there: the store line fails too
        note = f"; {fault}: no store can be made under it (move it aside or check storage.path)"
    if free_mb < need_mb:
        return fail(
            "disk",
            f"{free_mb:.0f} MB free at {probe}, outbox may use {need_mb:g} MB",
            "free space or lower storage.max_mb (undelivered readings are dropped "
            "first when the budget is reached)",
        )
    return ok(
        "disk",
        f"{free_mb:.0f} MB free at {probe} for the outbox "
        f"(budget storage.max_mb = {need_mb:g} MB){note}",
    )


def check_store_place(cfg: Config) -> Check | None:
    """A `[storage] path` outside the unit's StateDirectory: under ProtectSystem=strict
    nothing else is writable, so the daemon would run on a store in memory (technical
    alarm store.memory: no history, nothing kept across a restart)."""
    path = Path(os.path.abspath(cfg.storage.path))
    if path.is_relative_to(STATE_DIR):
        return None
    folder = path.parent
    allow = f"add ReadWritePaths={folder}"
    if not os.path.isdir(folder):
        # systemd starts no unit whose ReadWritePaths= does not exist (systemd.exec(5)).
        # Not a folder above it instead: that lets the service write all of it (`/` for a
        # store under a missing top folder: ProtectSystem=strict undone), and the service
        # user could still not make the store's folder in a root-owned one (EACCES).
        made = f"install -d -o {SERVICE_USER} -g {SERVICE_USER} -m 0700 {folder}"
        allow = f"make {folder} the service user's ({made}) and {allow}"
    if hit := in_the_way(path):
        # The file is what to fix: allowed, it is still no folder to make the store in.
        allow = f"move {hit[0]} aside (it is not a folder), {allow}"
    return Check(
        "warn",
        "storage",
        f"storage.path {path} is outside {STATE_DIR}, the only place the shipped unit "
        "may write (ProtectSystem=strict): under it the daemon would keep its outbox in "
        "memory (alarm store.memory)",
        f"use {STATE_DIR}/outbox.sqlite, or {allow} in a drop-in (systemctl edit monitord)",
    )


def check_store(cfg: Config) -> list[Check]:
    """The outbox's place and, when one is kept there, its schema."""
    return [c for c in (check_store_place(cfg), check_store_schema(cfg)) if c is not None]


def check_store_schema(cfg: Config) -> Check | None:
    """The store's schema as the daemon's start will judge it. One written by a newer
    monitord (a Pi taken back to an older package with its store kept) is refused at
    start (exit 78, no monitoring); doctor said every line ok, and the first the admin
    heard of it was the unit failing after `systemctl enable --now`. An older one is
    migrated at start, every record kept: said, so an admin who upgrades sees it coming.
    Read only: nothing in the store changes, nothing is moved aside.
    None when there is no store yet, or it cannot be read here (the daemon's start moves
    a file that is not a store aside and begins a new one: docs/operations.md)."""
    path = Path(os.path.abspath(cfg.storage.path))
    # Where the file is: SQLite keeps the -wal beside a linked store's target, and its
    # migration needs the room there (read at the link, a newer version in the target's
    # -wal was missed and the link's disk measured).
    real = Path(os.path.realpath(path))
    if not cfg.chairs:  # a station's config keeps no outbox
        return None
    if fault := path_fault(path):
        # A folder on its way that is a file (a file's name typed as storage.path's folder):
        # no user reads or makes a store there, root neither. Before, "cannot read it here
        # (Not a directory ...) -> run doctor as root", also to root; the daemon's start
        # keeps its outbox in memory then (alarm store.memory).
        return fail(
            "store",
            f"{path}: {fault}: the daemon cannot make its store there and keeps its outbox "
            "in memory (technical alarm store.memory): nothing kept across a restart",
            "check storage.path",
        )
    try:
        if not stat.S_ISREG(real.stat().st_mode):
            return None
        # From the files' bytes: an SQLite connection, read-only too, makes a -shm file.
        version = fileheader.user_version(real)
    except FileNotFoundError:
        return None
    except OSError as e:
        # Not silence: a newer monitord's store (in its -wal too) stops the daemon's start.
        return Check(
            "warn",
            "store",
            f"{path}: cannot read it here ({e.strerror}: {e.filename}): its schema is not "
            "checked (a store a newer monitord wrote stops the daemon's start, exit 78)",
            "run doctor as root: sudo monitord doctor",
        )
    if version is None:
        return None
    if version > SCHEMA_VERSION:
        return fail(
            "store",
            f"{path}: schema v{version} is newer than this monitord (v{SCHEMA_VERSION}): "
            "a newer monitord wrote it, and the daemon refuses to start on it (exit 78, "
            "no monitoring); it is never rewritten",
            "install the newer monitord again, or let it deliver what it holds and move "
            f"every {path.name}* file aside (docs/install.md, going back to an older version)",
        )
    if not 0 < version < SCHEMA_VERSION:
        return None
    said = f"{path}: schema v{version}, migrated to v{SCHEMA_VERSION} at the daemon's next start"
    size, free = real.stat().st_size, shutil.disk_usage(real.parent).free
    if free <= size:
        # A step may rewrite the whole store (store/schema.py); without the room it is
        # rolled back and the daemon runs from memory (alarm store.memory) until there is.
        return Check(
            "warn",
            "store",
            f"{said}, which may rewrite the whole store: {free / 1e6:.0f} MB free beside it, "
            f"the store is {size / 1e6:.0f} MB (without the room the daemon runs on a store "
            "in memory, alarm store.memory)",
            "free a little more space than the store's size before the daemon starts",
        )
    return ok("store", f"{said} (every record kept; an older monitord cannot read it after that)")
