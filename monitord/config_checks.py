"""Checks of a valid config against the machine it runs on, and its warnings.

`check(cfg, source)` returns (errors, warnings), each a line `PATH: a.b: reason` like the
schema's errors (warnings say `warning:` after the key). `monitord check-config` prints
both (exit 78 on errors, `ok` with the warnings on stderr otherwise); `monitord run`
refuses the errors and logs each warning once at WARNING.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from monitord.config import Config, where


def _secret_files(cfg: Config) -> list[tuple[str, Path, str]]:
    """(dotted key, path, environment variable that overrides it) of each secret file."""
    out: list[tuple[str, Path, str]] = []
    if cfg.mqtt.enabled and cfg.mqtt.password_file is not None:
        out.append(("mqtt.password_file", cfg.mqtt.password_file, "MONITORD_MQTT_PASSWORD"))
    if cfg.influx.enabled:
        if cfg.influx.token_file is not None:
            out.append(("influx.token_file", cfg.influx.token_file, "MONITORD_INFLUX_TOKEN"))
        if cfg.influx.password_file is not None:
            out.append(
                ("influx.password_file", cfg.influx.password_file, "MONITORD_INFLUX_PASSWORD")
            )
    return out


def _resolve_secret(path: Path) -> Path | None:
    """Where read_secret would read `path`; None for a systemd credential name that can
    only be resolved inside the unit ($CREDENTIALS_DIRECTORY)."""
    if path.is_absolute():
        return path
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / path).exists():
        return Path(creds) / path
    return None


def check(cfg: Config, source: str) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    for key, path, env in _secret_files(cfg):
        p = _resolve_secret(path)
        if p is None or os.environ.get(env):
            continue
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            errors.append(f"{where(cfg, source, key)}: {p}: no such file (nor {env} set)")
            continue
        except OSError as e:
            errors.append(f"{where(cfg, source, key)}: {p}: {e.strerror or e}")
            continue
        if mode & stat.S_IROTH:
            warnings.append(
                f"{where(cfg, source, key)}: warning: {p} is readable by every user "
                f"(mode {stat.S_IMODE(mode):04o}); chmod o-r it (e.g. 0640 root:monitord)"
            )
    tls = cfg.mqtt.tls if cfg.mqtt.enabled else None
    for key in ("ca_file", "cert_file", "key_file"):
        # Checked before connecting: a missing CA file would otherwise show up only as
        # "cannot reach broker", retried forever.
        p = getattr(tls, key) if tls is not None else None
        if p is None:
            continue
        if not p.is_file():
            errors.append(f"{where(cfg, source, f'mqtt.tls.{key}')}: {p}: no such file")
        elif not os.access(p, os.R_OK):
            errors.append(
                f"{where(cfg, source, f'mqtt.tls.{key}')}: {p}: not readable by this user"
            )
    for i, chair in enumerate(cfg.chairs):
        if not chair.devices:
            warnings.append(
                f"{where(cfg, source, f'chairs[{i}].devices')}: warning: chair {chair.id!r} "
                "has no devices; it monitors nothing"
            )
        for j, dev in enumerate(chair.devices):
            for key in dev.ignored:
                warnings.append(
                    f"{where(cfg, source, f'chairs[{i}].devices[{j}].{key}')}: warning: not a "
                    f"setting of driver {dev.driver!r}; ignored"
                )
    return errors, warnings
