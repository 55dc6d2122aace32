"""What `monitord doctor` reports: one `Check` per line, and the helpers its checks share
(secrets named on errors, the broker's TLS context)."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from monitord.config import MqttConfig
from monitord.config_checks import not_text
from monitord.credentials import SECRETS_DIR, credential_ids, misnamed, unit_directory

# `warn`: worth fixing, but monitord runs (a config_checks warning); exit stays 0.
Status = Literal["ok", "FAIL", "skip", "warn"]


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str
    hint: str = ""

    def line(self) -> str:
        tail = f" -> fix: {self.hint}" if self.hint and self.status == "FAIL" else ""
        note = f" ({self.hint})" if self.hint and self.status != "FAIL" else ""
        return f"{self.status:<4}  {self.name}: {self.detail}{tail}{note}"


def ok(name: str, detail: str, note: str = "") -> Check:
    return Check("ok", name, detail, note)


def fail(name: str, detail: str, hint: str) -> Check:
    return Check("FAIL", name, detail, hint)


def skip(name: str, detail: str) -> Check:
    return Check("skip", name, detail)


# -- secrets -----------------------------------------------------------------------------
class SecretProblem(Exception):
    """A configured secret that cannot be used; the message says which file and why."""


def secret(path: Path | None, creds: Path | None, what: str, env: str | None = None) -> str | None:
    """The secret's text, like monitord.config.read_secret, but naming the file on errors."""
    return sourced_secret(path, creds, what, env)[0]


def sourced_secret(
    path: Path | None, creds: Path | None, what: str, env: str | None = None
) -> tuple[str | None, str]:
    """(the secret's text, where it was read: `env` or the file), as the service reads it:
    the environment variable `env` first when it is set, as monitord.config.read_secret
    (the daemon and the station) does; else `path` (`secret` says how it is found)."""
    if env and os.environ.get(env):
        return os.environ[env], f"environment variable {env}"
    if path is None:
        return None, ""
    # A relative name is found as the service finds it (monitord/credentials.py): in the
    # unit's $CREDENTIALS_DIRECTORY under its own name or as `secrets_<name>`, else in the
    # secrets directory the unit loads, under its own name only (systemd passes a
    # `secrets_<name>` file there as `secrets_secrets_<name>`, which the service never
    # reads); never in the working directory.
    candidates = [path]
    base = creds or SECRETS_DIR
    inside = creds is not None and creds == unit_directory()
    if not path.is_absolute():
        candidates = [base / ident for ident in credential_ids(path)] if inside else [base / path]
        if not inside and candidates[0].is_symlink():
            raise SecretProblem(
                f"{what} {candidates[0]} is a symbolic link, which systemd skips when it "
                "loads the secrets directory; put the file itself there"
            )
    for p in candidates:
        if p.exists():
            try:
                text = p.read_text(encoding="utf-8").strip()
            except OSError as e:
                raise SecretProblem(
                    f"{what} {p} unreadable ({e.strerror}); run doctor as root (sudo)"
                ) from None
            except UnicodeDecodeError:  # was a traceback that ended doctor
                raise SecretProblem(f"{what} {p} {not_text(p.read_bytes())}") from None
            if not text:
                raise SecretProblem(f"{what} {p} is empty; write the secret into it (one line)")
            return text, str(p)
    nor = f" (nor {env} set)" if env else ""
    where = str(candidates[0])
    twin = "" if path.is_absolute() or inside else misnamed(base, path)
    if inside:  # the unit's copies, read-only: the file is written where the unit loads it
        raise SecretProblem(
            f"{what} not found at {where}{nor}: the unit did not pass it; write it to "
            f"{SECRETS_DIR / path} (root-only, mode 0600), then restart the service"
        )
    # `base`, not the file's own directory: a nested name (`sub/name`) is in a directory
    # of its own, and was said to be looked up in --credentials when none was given.
    if path.is_absolute() or base == SECRETS_DIR:
        raise SecretProblem(
            f"{what} not found at {where}{nor}{twin or '; create it (root-only, mode 0600)'}"
        )
    # doctor's --credentials DIR: the service reads the unit's directory, not DIR.
    raise SecretProblem(
        f"{what} not found at {where} (--credentials){nor}{twin}; the unit reads "
        f"{SECRETS_DIR / path}: write it there (root-only, mode 0600)"
    )


def tls_context(m: MqttConfig) -> ssl.SSLContext | None:
    return m.tls.client_context() if m.tls is not None else None
