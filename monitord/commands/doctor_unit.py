"""What the installed monitord.service lets the daemon open (DevicePolicy=, DeviceAllow=) and
which groups it gives it (SupplementaryGroups=), drop-ins included (`systemctl edit
monitord`, docs/delivery.md), for doctor's device checks (monitord/commands/doctor_host.py):
asked of systemd where it runs, else read from the shipped unit's settings and the
drop-ins' own files (a chroot, an image being built). Read as systemd.resource-control(5)
says: `DevicePolicy=auto` with no `DeviceAllow=` restricts nothing; an empty `DeviceAllow=`
empties the list; a device's access is every matching line's letters together."""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import subprocess
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

UNIT = "monitord.service"
# The shipped unit's `DeviceAllow=char-NAME rw` lines under its DevicePolicy=closed: the
# kernel drivers, by their /proc/devices names, whose devices the daemon may open.
UNIT_DEVICES = ("ttyUSB", "ttyACM")
UNIT_POLICY = "closed"
# Where an admin's drop-ins for the unit are (docs/delivery.md's DeviceAllow=, groups), the
# first a name is found in winning, as systemd's /etc over /run.
UNIT_DROPINS = (
    Path("/etc/systemd/system/monitord.service.d"),
    Path("/run/systemd/system/monitord.service.d"),
)


@dataclass(frozen=True)
class DeviceRules:
    """The unit's DevicePolicy= and DeviceAllow= lines, (device or char-DRIVER, access)."""

    policy: str
    allow: tuple[tuple[str, str], ...]

    def matching(self, driver: str, dev: str) -> list[tuple[str, str]]:
        """The DeviceAllow= lines for `dev`, a `driver` device: by its path (or the path
        it links to), or `char-NAME` matched against /proc/devices' names, a glob allowed."""
        names = {dev, os.path.realpath(dev)}
        return [
            (spec, letters)
            for spec, letters in self.allow
            if spec in names or (spec.startswith("char-") and fnmatchcase(driver, spec[5:]))
        ]

    def access(self, driver: str, dev: str) -> set[str]:
        """The letters (r, w, m) the unit gives the daemon on `dev`."""
        if self.policy == "auto" and not self.allow:
            return set("rwm")  # "auto": nothing restricted until a DeviceAllow= line
        return {c for _, letters in self.matching(driver, dev) for c in letters}

    def allows(self, driver: str, dev: str) -> bool:
        """Whether the daemon may open `dev` read-write, as pyserial opens a serial port
        and libgpiod (the annunciator's gpiod binding) a GPIO chip."""
        return {"r", "w"} <= self.access(driver, dev)

    def lines(self, driver: str, dev: str) -> str:
        """The DeviceAllow= lines for `dev`, for a message."""
        return ", ".join(f"DeviceAllow={s} {a}" for s, a in self.matching(driver, dev))


def shipped_rules() -> DeviceRules:
    """The shipped unit's own device rules, no drop-in."""
    return DeviceRules(UNIT_POLICY, tuple((f"char-{name}", "rw") for name in UNIT_DEVICES))


def device_rules() -> DeviceRules:
    """The installed unit's device rules, drop-ins included."""
    shown = _unit_show("DevicePolicy", "DeviceAllow")
    if shown is not None:
        allow = tuple(_allow_entry(v) for v in shown.get("DeviceAllow", []) if v.strip())
        return DeviceRules((shown.get("DevicePolicy") or [UNIT_POLICY])[-1], allow)
    # No systemd to ask: the shipped unit's, then each drop-in's lines in order. Before,
    # a drop-in's DevicePolicy= was not read (doctor judged by the shipped list), and an
    # access of `r` counted as allowed.
    policy, entries = UNIT_POLICY, list(shipped_rules().allow)
    for key, value in _dropin_lines("DevicePolicy", "DeviceAllow"):
        if key == "DevicePolicy":
            policy = value or UNIT_POLICY  # an empty one sets the default again
        elif not value:
            entries = []  # an empty DeviceAllow= empties the list
        else:
            entries.append(_allow_entry(value))
    return DeviceRules(policy, tuple(entries))


def _allow_entry(value: str) -> tuple[str, str]:
    spec, _, letters = value.strip().partition(" ")
    return spec, letters.strip() or "rwm"  # no access given is rwm (systemd's default)


def unit_groups() -> set[int]:
    """The groups the installed unit's SupplementaryGroups= gives the daemon, drop-ins
    included (docs/delivery.md's `SupplementaryGroups=dialout gpio`), asked of systemd
    where it runs, and read from the drop-ins' files (none runs in a chroot): /etc/group,
    which service_ids reads, does not hold them."""
    names = [w for _, v in _dropin_lines("SupplementaryGroups") for w in v.split()]
    names += [w for v in (_unit_show("SupplementaryGroups") or {}).values() for w in v]
    out = set()
    for name in " ".join(names).split():
        with contextlib.suppress(KeyError):
            out.add(grp.getgrnam(name).gr_gid)
    return out


def _unit_show(*props: str) -> dict[str, list[str]] | None:
    """`props` of the installed unit as systemd has them, each value a list (systemctl
    prints `DeviceAllow=DEV ACCESS` once a line); None where systemd does not run (a
    chroot, an image being built), does not answer, or has no such unit loaded (then
    DevicePolicy= reads `auto`, which it is not: the files are read instead)."""
    exe = shutil.which("systemctl")
    if exe is None or not Path("/run/systemd/system").is_dir():
        return None
    argv = [exe, "show", *(f"--property={p}" for p in ("LoadState", *props)), UNIT]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out: dict[str, list[str]] = {}
    for ln in p.stdout.splitlines():
        key, sep, value = ln.partition("=")
        if sep:
            out.setdefault(key, []).append(value)
    if p.returncode != 0 or out.pop("LoadState", None) != ["loaded"]:
        return None
    return out


def _dropin_lines(*keys: str) -> list[tuple[str, str]]:
    """(key, value) of each `keys=` line in the unit's drop-ins (`systemctl edit monitord`
    writes override.conf there), in systemd's order (by file name), empty values kept:
    read from the files, for where systemd does not run. Hidden files are not read, as
    systemd reads none."""
    files: dict[str, Path] = {}
    for d in UNIT_DROPINS:
        for f in d.glob("*.conf") if d.is_dir() else []:
            if not f.name.startswith("."):
                files.setdefault(f.name, f)
    out = []
    for name in sorted(files):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for ln in files[name].read_text().splitlines():
                k, sep, v = ln.partition("=")
                if sep and k.strip() in keys:
                    out.append((k.strip(), v.strip()))
    return out
