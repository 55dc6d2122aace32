"""Checks of a valid config against the machine it runs on, and its warnings.

`check(cfg, source)` returns (errors, warnings), each a line `PATH: a.b: reason` like the
schema's errors (warnings say `warning:` after the key). `monitord check-config` prints
both (exit 78 on errors, `ok` with the warnings on stderr otherwise); `monitord run`
refuses the errors and logs each warning once at WARNING.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import sys
from pathlib import Path

from monitord import credentials, serviceuser
from monitord.config import Config, where
from monitord.config_links import numbered_ports, shared_links, shared_names
from monitord.config_scenarios import scenario_errors
from monitord.config_silence import silence_warning
from monitord.config_station import (
    FORWARDER_TOKEN_ENV,
    STATION_PASSWORD_ENV,
    token_problem,
    url_credential_params,
)
from monitord.config_tls import ca_problem, station_problems
from monitord.credentials import CredentialMissing, in_unit, outside_unit, unit_directory
from monitord.serviceuser import FileKind

# What the file of each dotted key is, for the fix that keeps it so (serviceuser.file_fix):
# the client key is read through the service's group, the station's key and nurses file
# are monitord's own (docs/install.md); certificates and CAs are no secret. Listed whole:
# a key left out is a KeyError, never a quiet "0644" for a file that may be a secret.
FILE_KINDS: dict[str, FileKind] = {
    "mqtt.tls.ca_file": "public",
    "mqtt.tls.cert_file": "public",
    "mqtt.tls.key_file": "group",
    "station.tls_cert_file": "public",
    "station.tls_key_file": "own",
    "station.nurses_file": "own",
}


def file_kind(key: str) -> FileKind:
    """What the file of dotted `key` is (FILE_KINDS)."""
    return FILE_KINDS[key]


def secret_files(cfg: Config) -> list[tuple[str, Path, str]]:
    """(dotted key, path, environment variable that overrides it) of each secret file."""
    out: list[tuple[str, Path, str]] = []
    # [mqtt]'s login is only the chairs' without their own: unused, its file is not read
    # (a missing one refused a valid config where every chair has its own login).
    shared = any(chair.mqtt_username is None for chair in cfg.chairs)
    if cfg.mqtt.enabled and cfg.mqtt.password_file is not None and shared:
        out.append(("mqtt.password_file", cfg.mqtt.password_file, "MONITORD_MQTT_PASSWORD"))
    for i, chair in enumerate(cfg.chairs):
        if cfg.mqtt.enabled and chair.mqtt_password_file is not None:
            # No environment override: each chair has its own secret.
            out.append((f"chairs[{i}].mqtt_password_file", chair.mqtt_password_file, ""))
    if cfg.station is not None and cfg.station.mqtt_password_file is not None:
        # The station's own login: read by the same user from the same credentials (its
        # unit loads the same secrets directory), so judged by the same checks.
        out.append(
            (
                "station.mqtt_password_file",
                cfg.station.mqtt_password_file,
                STATION_PASSWORD_ENV,
            )
        )
    fwd = cfg.station.forwarder if cfg.station is not None else None
    if fwd is not None and fwd.token_file is not None:
        # Read by the station as its broker password is: judged by the same checks.
        out.append(("station.forwarder.token_file", fwd.token_file, FORWARDER_TOKEN_ENV))
    if cfg.influx.enabled:
        if cfg.influx.token_file is not None:
            out.append(("influx.token_file", cfg.influx.token_file, "MONITORD_INFLUX_TOKEN"))
        if cfg.influx.password_file is not None:
            out.append(
                ("influx.password_file", cfg.influx.password_file, "MONITORD_INFLUX_PASSWORD")
            )
    return out


def _resolve_secret(path: Path, secrets_dir: Path | None = None) -> Path | None:
    """Where the service reads secret `path` (monitord/credentials.py): under the unit its
    copy in $CREDENTIALS_DIRECTORY (CredentialMissing if the unit did not pass it);
    outside it the file the unit would load, in `secrets_dir` (doctor's --credentials) or
    /etc/monitord/secrets. None when that cannot be looked at from here (no such directory
    on this machine, or root-only and we are not root): nothing to check then."""
    if path.is_absolute():
        return path
    creds = unit_directory()
    if secrets_dir is not None and secrets_dir != creds:
        return outside_unit(path, secrets_dir)
    if creds is not None:
        return in_unit(path, creds)
    return outside_unit(path)


def _missing(p: Path, name: Path, env: str) -> str:
    nor = f" (nor {env} set)" if env else ""
    if name.is_absolute():
        return f"{p}: no such file{nor}"
    # Outside the unit: the file the unit's LoadCredential= would pass is not there. The
    # unit loads credentials.SECRETS_DIR whatever directory doctor's --credentials named.
    unit_dir = credentials.SECRETS_DIR
    ident = credentials.credential_ids(name)[1]
    # The secrets directory, not the file's own: a nested name (`sub/name`) has one of
    # its own, which was said to be --credentials' when no --credentials was given.
    base = p.parents[len(name.parts) - 1]
    if not base.exists():
        what = f"no such file: the secrets directory {base} does not exist{nor}"
    else:
        what = f"no such file{nor}"
    looked = "" if base == unit_dir else f" (looked up in --credentials {base})"
    looked += credentials.misnamed(base, name)
    return (
        f"{p}: {what}{looked}; the unit passes {unit_dir / name} as credential {ident}: "
        f"write the secret there (a regular file; directory 0700, file 0600, root-only)"
    )


def _not_checked(source: str, keys: list[str], secrets_dir: Path | None = None) -> str:
    """The line for secrets in a directory this user may not open. Not an error: the
    directory is root-only by design (the unit loads it as root); but an `ok` must not
    read as "the secrets are there" when nobody could look."""
    where_ = secrets_dir or credentials.SECRETS_DIR
    return (
        f"{source}: warning: {', '.join(keys)} not checked: this user cannot open {where_}; "
        "run as root (sudo) to check them"
    )


def _unreadable_secret(p: Path, st: os.stat_result) -> str:
    """The line for an absolute secret path this user cannot read, with both fixes."""
    try:
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        me = f"uid {os.geteuid()}"
    return (
        f"{p}: not readable by this user ({me}; mode {stat.S_IMODE(st.st_mode):04o}): the "
        f"daemon reads an absolute path as its own user; put the file in "
        f"{credentials.SECRETS_DIR} and name it relatively (the unit passes it), or "
        f"{serviceuser.file_fix(p, 'group')[1]}"
    )


def _unusable(p: Path, kind: FileKind = "public") -> str | None:
    """Why the service user cannot use file `p` (checked as this user), or None; its fix
    keeps a file of `kind` so (serviceuser.file_fix: a private key or the nurses file is
    never told 0644). A directory on the way that this user may not enter makes stat()
    itself fail: one line, never a traceback (scripts/make-certs.sh used to make its
    folder 0700)."""
    mode = serviceuser.file_fix(p, kind)[0]
    try:
        if p.is_dir():
            return "a directory, not a file: name the certificate file in it"
        if not p.is_file():
            return "no such file"
    except PermissionError:
        return (
            "not reachable by this user (a directory on its path is closed to it: "
            f"make the directories 0755 and the file {mode}, docs/install.md)"
        )
    except OSError as e:
        return f"cannot be checked ({e.strerror or e})"
    if not os.access(p, os.R_OK):
        return f"not readable by this user (make it {mode})"
    return None


def _service_reads(p: Path) -> bool:
    """The service user (another user than this one, on this machine) may read `p`: an
    admin outside its group checking a 0640 root:monitord secret, which the daemon reads."""
    ids = serviceuser.service_ids()
    if ids is None or ids[0] == os.geteuid():
        return False
    return serviceuser.service_user_blocked(p) is None


def _unread_counts(p: Path, as_daemon: bool) -> bool:
    """File `p`, which this user cannot read, is an error: this process is its reader
    (`run`, `station`), or the service user cannot read it either. Checked by an admin
    outside the service's group (check-config), a 0640 root:monitord file the service
    reads is none: its fix (chgrp, chmod 0640) would have been what it already was."""
    return as_daemon or not _service_reads(p)


def not_text(data: bytes) -> str | None:
    """What is wrong with a secret file's bytes for config.read_secret, or None."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return (
            f"is not UTF-8 text (an invalid byte at offset {e.start}): the login would "
            "fail; write the secret as one line of plain text"
        )
    return None


def check(
    cfg: Config, source: str, secrets_dir: Path | None = None, as_daemon: bool = True
) -> tuple[list[str], list[str]]:
    """`secrets_dir`: where relative secret names are looked up outside the unit (doctor's
    --credentials); default as the service does (monitord/credentials.py). `as_daemon`:
    this process reads the secrets itself (`run`, `station`); else (check-config) a secret
    named by an absolute path is judged for the service user too."""
    errors: list[str] = []
    warnings: list[str] = []
    unchecked: list[str] = []  # secrets in a directory this user may not open
    for key, path, env in secret_files(cfg):
        if env and os.environ.get(env):
            continue
        try:
            p = _resolve_secret(path, secrets_dir)
        except CredentialMissing as e:
            # Under the unit: exit 78 with the fix, not a login retried forever.
            errors.append(f"{where(cfg, source, key)}: {e}")
            continue
        if p is None:
            unchecked.append(key)
            continue
        try:
            if not path.is_absolute() and unit_directory() is None and p.is_symlink():
                errors.append(
                    f"{where(cfg, source, key)}: {p} is a symbolic link, which systemd "
                    "skips when it loads the secrets directory: put the file itself there"
                )
                continue
            st = p.stat()
            # The installers lay each secret out empty: an `ok` then read as "ready"
            # while every login would be refused (doctor said so, check-config did not).
            # Its text only when this user may read it (else its size: not an error).
            readable = os.access(p, os.R_OK)
            data = p.read_bytes() if readable else b""
            empty = st.st_size == 0 or (readable and not data.strip())
        except FileNotFoundError:
            errors.append(f"{where(cfg, source, key)}: {_missing(p, path, env)}")
            continue
        except OSError as e:
            errors.append(f"{where(cfg, source, key)}: {p}: {e.strerror or e}")
            continue
        if path.is_absolute() and not readable:
            # Read as it is, by the daemon as itself (a relative name is a credential the
            # unit passes whatever its mode): unreadable, every login failed as "cannot
            # reach broker ... Permission denied", retried for ever with the service up.
            if _unread_counts(p, as_daemon):
                errors.append(f"{where(cfg, source, key)}: {_unreadable_secret(p, st)}")
                continue
        if bad := not_text(data):
            # Read as UTF-8 text (config.read_secret): every login would fail, as an
            # "internal error" the sink retried for ever, with the service up.
            errors.append(f"{where(cfg, source, key)}: {p} {bad}")
            continue
        if key == "station.forwarder.token_file" and (bad := token_problem(data.decode().strip())):
            errors.append(f"{where(cfg, source, key)}: {p} {bad}")  # a header: one line
            continue
        if empty:
            warnings.append(
                f"{where(cfg, source, key)}: warning: {p} is empty: the login would be "
                "refused; write the secret into it (one line)"
            )
        # By absolute path the daemon reads it as itself (0640 group monitord: "chmod o-r"
        # left root:root 0640, unreadable); in the secrets directory root-only 0600
        # (docs/install.md): a 0640 one gave its group the password, unwarned. Under the
        # unit `p` is systemd's copy (the service's own), not the operator's file.
        if who := _open_to(p, by_group=not path.is_absolute() and unit_directory() is None):
            fix = "chmod 0600 it (root-only: systemd hands the service a copy)"
            if path.is_absolute():
                fix = serviceuser.file_fix(p, "group")[1]
            warnings.append(f"{where(cfg, source, key)}: warning: {p} is {who}; {fix}")
    if unchecked:
        warnings.append(_not_checked(source, unchecked, secrets_dir))
    tls = cfg.mqtt.tls if cfg.mqtt.enabled else None
    for key in ("ca_file", "cert_file", "key_file"):
        # Checked before connecting: a missing CA file would otherwise show up only as
        # "cannot reach broker", retried forever.
        p = getattr(tls, key) if tls is not None else None
        if p is None:
            continue
        problem = _unusable(p, file_kind(f"mqtt.tls.{key}"))  # a client key: never 0644
        if problem and problem.startswith("not readable") and not _unread_counts(p, as_daemon):
            continue  # a key 0640 root:monitord (docs/install.md), as for a secret
        if problem or (key == "ca_file" and (problem := ca_problem(p))):
            errors.append(f"{where(cfg, source, f'mqtt.tls.{key}')}: {p}: {problem}")
    if cfg.station is not None:
        _check_station(cfg, source, errors, warnings, as_daemon)
    errors.extend(scenario_errors(cfg, source))
    for i, chair in enumerate(cfg.chairs):
        if not chair.devices:
            warnings.append(
                f"{where(cfg, source, f'chairs[{i}].devices')}: warning: chair {chair.id!r} "
                "has no devices; it monitors nothing"
            )
        for j, dev in enumerate(chair.devices):
            key, short = silence_warning(dev)
            if short:
                warnings.append(
                    f"{where(cfg, source, f'chairs[{i}].devices[{j}].{key}')}: warning: {short}"
                )
            for key in dev.ignored:
                warnings.append(
                    f"{where(cfg, source, f'chairs[{i}].devices[{j}].{key}')}: warning: not a "
                    f"setting of driver {dev.driver!r}; ignored"
                )
    # The annunciator's command and chip are warned of, not refused: the chair's local
    # alarm is the fallback for a delivery failure, and refusing would stop all monitoring
    # (at an upgrade, at a boot where the command's disk mounts late) for want of it.
    silent = " (the chair's own alarm will not sound when delivery fails)"
    if cfg.annunciator.command and (problem := command_problem(cfg.annunciator.command[0])):
        warnings.append(f"{where(cfg, source, 'annunciator.command')}: warning: {problem}{silent}")
    if (chip := cfg.annunciator.gpio_chip) is not None:
        at = where(cfg, source, "annunciator.gpio_chip")
        if problem := gpio_chip_problem(chip):
            warnings.append(f"{at}: warning: {problem}{silent}")
        if gpio_binding_missing():
            warnings.append(
                f"{at}: warning: the gpiod module (libgpiod's Python binding, v2) is not "
                "installed in this monitord: the line will not be driven; "
                f"{sys.executable} -m pip install 'gpiod>=2.1' (again after each upgrade, "
                "which replaces the virtualenv; docs/delivery.md)"
            )
    errors += shared_links(cfg, source)
    warnings += shared_names(cfg, source)
    warnings += numbered_ports(cfg, source)
    warnings += _acl_fit(cfg, source)
    return errors, warnings


def command_problem(exe: str) -> str | None:
    """Why the annunciator's command `exe` cannot be started (as this user), or None.
    Checked before the daemon starts: the command runs first at the first change of
    pattern, an alarm while delivery fails, and a missing or non-executable one was then
    one ERROR line while the chair's own alarm stayed silent (docs/delivery.md)."""
    if "/" not in exe:
        # Found through PATH as the daemon's exec finds it; the unit's PATH is systemd's
        # default, maybe not this shell's: an absolute path means the same everywhere.
        if shutil.which(exe) is None:
            return (
                f"{exe!r} not found in PATH ({os.environ.get('PATH', '')}); "
                "give the command's absolute path, e.g. /usr/local/bin/monitord-tone"
            )
        return None
    p = Path(exe)
    if not p.is_absolute():
        return (
            f"{exe}: a relative path is taken from the daemon's working directory "
            "(/ under the unit): give the absolute path"
        )
    try:
        if not p.is_file():
            return f"{p}: no such file; install the command there or correct the path"
    except OSError as e:  # a directory on the way this user may not enter
        return f"{p}: cannot be reached by this user ({e.strerror or e}); chmod 0755 its folders"
    if not os.access(p, os.X_OK):
        mode = stat.S_IMODE(p.stat().st_mode)
        return f"{p}: not executable (mode {mode:04o}); chmod 0755 {p}"
    return None


def gpio_chip_problem(chip: str) -> str | None:
    """Why `chip` is no GPIO chip on this machine, or None. The annunciator opens its
    line at the daemon's start: a wrong path was one ERROR line then, the buzzer or LED
    dead, while check-config said ok."""
    try:
        st = os.stat(chip)
    except OSError as e:
        return f"{chip}: {e.strerror or e}; `gpiodetect` lists this machine's GPIO chips"
    if not stat.S_ISCHR(st.st_mode):
        return f"{chip}: not a GPIO chip device; `gpiodetect` lists this machine's"
    return None


def gpio_binding_missing() -> bool:
    """The optional `gpiod` binding (extra `gpio`) is not installed: the Debian package
    and install.sh leave it out, and an upgrade replaces the virtualenv it was added to.
    A warning, not an error: refusing the config would stop monitoring after such an
    upgrade, for want of the buzzer."""
    try:
        import gpiod  # noqa: F401
    except ImportError:
        return True
    return False


def _open_to(p: Path, by_group: bool = True) -> str | None:
    """Who besides its owner may use file `p`, in words with its mode, or None (0600);
    without `by_group`, only a file every user can read is told."""
    st = p.stat()
    mode = stat.S_IMODE(st.st_mode)
    if not mode & (0o077 if by_group else stat.S_IROTH):
        return None
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    if mode & stat.S_IROTH:
        return f"readable by every user (mode {mode:04o})"
    if mode & stat.S_IRGRP:
        return f"readable by group {group} (mode {mode:04o})"
    return f"open to users other than its owner (mode {mode:04o}, group {group})"


def _check_station(
    cfg: Config, source: str, errors: list[str], warnings: list[str], as_daemon: bool = True
) -> None:
    """[station]: its files exist and are readable before the server starts (a missing
    nurses file would otherwise lock every nurse out at the first login). Its secret is
    one of `secret_files`, judged as the chairs' (`check`)."""
    st = cfg.station
    assert st is not None
    files = [("nurses_file", st.nurses_file), ("tls_cert_file", st.tls_cert_file)]
    files.append(("tls_key_file", st.tls_key_file))
    for key, p in files:
        if p is None:
            continue
        # PIN hashes and a private key: monitord's own, never "make it 0644", also when a
        # closed directory is the cause (a key left in /etc/ssl/private).
        problem = _unusable(p, file_kind(f"station.{key}"))
        if problem and problem.startswith("not readable") and not _unread_counts(p, as_daemon):
            continue  # the nurses file and key belong to monitord (docs/install.md)
        if problem is not None:
            errors.append(f"{where(cfg, source, f'station.{key}')}: {p}: {problem}")
        elif key in ("nurses_file", "tls_key_file") and (who := _open_to(p)):
            # monitord's own, 0600 (docs/install.md): "chmod o-r" left 0640, wrong owner;
            # a 0640 file gives its group the PIN hashes or the private key.
            warnings.append(
                f"{where(cfg, source, f'station.{key}')}: warning: {p} is {who}; "
                + serviceuser.file_fix(p, file_kind(f"station.{key}"))[1]
            )
    if st.forwarder is not None:
        for name in url_credential_params(st.forwarder.url):
            # Taken (a station that ran yesterday still starts), said once: the value
            # sits in clear in the config (design.md §8). Its name only, never its value.
            warnings.append(
                f"{where(cfg, source, 'station.forwarder.url')}: warning: its query parameter "
                f"{name!r} looks like a credential, held in clear in the config: put the "
                "token in a file named by station.forwarder.token_file (sent as "
                "Authorization: Bearer; ntfy: ?auth= -> token_file) and remove it from the URL"
            )
    cert, tls_key = st.tls_cert_file, st.tls_key_file
    if cert and tls_key and _unusable(cert) is None and _unusable(tls_key) is None:
        # Loaded as the station loads them: a key named as the certificate stopped it at
        # start with "cannot listen on ...: [SSL] PEM lib", naming neither.
        for name, p, why in station_problems(cert, tls_key):
            errors.append(f"{where(cfg, source, f'station.{name}')}: {p}: {why}")
    if _unusable(st.nurses_file) is None:
        from monitord.station.auth import NursesFileError, load_nurses

        try:
            nurses = load_nurses(st.nurses_file)
        except NursesFileError as e:
            errors.append(f"{where(cfg, source, 'station.nurses_file')}: {e}")
        else:
            if not nurses:  # re-read at each login: a warning, the station may start
                warnings.append(
                    f"{where(cfg, source, 'station.nurses_file')}: warning: "
                    f"{st.nurses_file} names no nurse: nobody can log in to acknowledge an "
                    "alarm; add each with monitord station -c CONFIG --add-nurse NAME"
                )


def _acl_fit(cfg: Config, source: str) -> list[str]:
    """Logins the shipped broker config (config/mosquitto/) would refuse or mix up: its ACL
    lets a user publish only under `{prefix}/{site}/<its user name>/`, and
    `use_username_as_clientid` makes two connections of one user replace each other.
    Anonymous (no username) is a broker without logins, hence without that ACL."""
    if not cfg.mqtt.enabled:
        return []
    out: list[str] = []
    users: dict[str, list[str]] = {}
    for i, chair in enumerate(cfg.chairs):
        user = chair.mqtt_login(cfg.mqtt)[0]
        if user is None:
            continue
        users.setdefault(user, []).append(chair.id)
        key = f"chairs[{i}].mqtt_username" if chair.mqtt_username else "mqtt.username"
        if user != chair.id:
            out.append(
                f"{where(cfg, source, key)}: warning: chair {chair.id!r} logs in as {user!r}, "
                "which the "
                f"shipped ACL (config/mosquitto/monitord.acl) does not let publish under "
                f"{cfg.mqtt.prefix}/{cfg.site.id}/{chair.id}/: the broker would refuse its "
                f'alerts; give the chair its own login ([[chairs]] mqtt_username = "{chair.id}" '
                "and mqtt_password_file, docs/delivery.md) or extend the ACL"
            )
    st = cfg.station
    if st is not None and st.mqtt_username is not None and st.mqtt_username != st.id:
        # The ACL's station block lets the account write only stations/<account>: the
        # station's `online` is refused, the chairs count no station online from it
        # (their annunciators sound while an alert is active), and the station said
        # nothing of it (monitord/station/bridge.py now says it at run time). The copy
        # may also have kept the account and changed the id (a second room's station):
        # then the id of its account makes it the first station's twin, whose connections
        # take each other over (bridge.py), and its own account is the fix.
        out.append(
            f"{where(cfg, source, 'station.id')}: warning: station {st.id!r} logs in as "
            f"{st.mqtt_username!r}, which the shipped ACL (config/mosquitto/monitord.acl) "
            f"does not let publish its status on {cfg.mqtt.prefix}/{cfg.site.id}/stations/"
            f"{st.id}: the chairs would count no station online from it; give it the id "
            f'of its account (id = "{st.mqtt_username}") or extend the ACL; but if another '
            f"station already logs in as {st.mqtt_username!r}, give this one its own account "
            f'(mqtt_username = "{st.id}", with its block in the broker ACL): two stations on '
            "one account take the broker connection from each other"
        )
    for user, chairs in users.items():
        if len(chairs) > 1:
            out.append(
                f"{where(cfg, source, 'mqtt.username')}: warning: chairs {', '.join(chairs)} "
                "share the login "
                f"{user!r}; under the shipped broker config (use_username_as_clientid) their "
                "connections replace each other; give each chair its own mqtt_username"
            )
    return out
