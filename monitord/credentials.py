"""Where a secret named in the config is read: one rule for the daemon, check-config and
doctor, so what the checks say is what the service will find.

A relative `password_file` / `token_file` (and the station's `mqtt_password_file`) is a
systemd credential name. The shipped units (systemd/monitord.service and
systemd/monitord-station.service) pass the whole secrets directory:

    LoadCredential=secrets:/etc/monitord/secrets

systemd (251 and later; Debian 12 has 252) loads every regular file of that directory,
recursively, as credential `secrets_<file>` (a subdirectory's `/` becomes `_`) and ignores
symbolic links (systemd.exec(5), LoadCredential=). A credential named on its own line
(`LoadCredential=mqtt-password:...`, e.g. in an older drop-in) keeps its plain name. So,
under the unit ($CREDENTIALS_DIRECTORY set), name N is `$CREDENTIALS_DIRECTORY/N` or
`$CREDENTIALS_DIRECTORY/secrets_N`. Outside the unit (check-config, doctor, a `run` by
hand) it is the file the unit would pass: `/etc/monitord/secrets/N`.
"""

from __future__ import annotations

import os
from pathlib import Path

SECRETS_DIR = Path("/etc/monitord/secrets")
# The ID of the unit's directory credential; systemd prefixes each file's name with it.
DIR_CREDENTIAL = "secrets"


class CredentialMissing(FileNotFoundError):
    """A credential name the service was not given; the message is the one-line fix."""


def unit_directory() -> Path | None:
    """$CREDENTIALS_DIRECTORY: set by systemd when the process runs under a unit with
    credentials (the shipped one)."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(creds) if creds else None


def credential_ids(name: Path) -> tuple[str, str]:
    """The two names credential `name` may have under the unit: its own line's, or the
    directory credential's."""
    return str(name), f"{DIR_CREDENTIAL}_{str(name).replace('/', '_')}"


def missing_text(name: Path) -> str:
    return (
        f"systemd credential {str(name)!r} was not passed to the service: write the secret "
        f"to {SECRETS_DIR / name} (a regular file, not a symlink; root-only, mode 0600), "
        "then restart the service (monitord, or monitord-station for a station)"
    )


def in_unit(name: Path, creds: Path) -> Path:
    """The copy systemd made of credential `name` in `creds`; CredentialMissing if none."""
    for ident in credential_ids(name):
        if (creds / ident).is_file():
            return creds / ident
    raise CredentialMissing(missing_text(name))


def secret_path(path: Path) -> Path:
    """The file read for a configured secret `path` in this process: an absolute path as
    it is; a credential name as the unit passes it (see the module docstring)."""
    if path.is_absolute():
        return path
    creds = unit_directory()
    if creds is not None:
        return in_unit(path, creds)
    return SECRETS_DIR / path


def outside_unit(name: Path, secrets_dir: Path | None = None) -> Path | None:
    """For the checks run outside the unit: the file the unit would load as `name` (from
    `secrets_dir`, default SECRETS_DIR), or None when this user cannot look (a root-only
    directory and we are not root). A directory that does not exist gives its file: that
    secret is missing (the unit would not start), and the check says so, naming both."""
    secrets_dir = secrets_dir or SECRETS_DIR
    try:
        if secrets_dir.is_dir() and not os.access(secrets_dir, os.X_OK):
            return None
    except OSError:
        return None
    return secrets_dir / name


def misnamed(secrets_dir: Path, name: Path) -> str:
    """For a secret missing outside the unit: a note when the admin wrote it as
    `secrets_<name>` (the name it has *under* the unit). systemd would pass that file as
    `secrets_secrets_<name>`, which the service does not look for; "" when no such file."""
    twin = secrets_dir / credential_ids(name)[1]
    try:
        if not twin.is_file():
            return ""
    except OSError:
        return ""
    return (
        f"; {twin} is there, but the unit passes it as credential "
        f"{DIR_CREDENTIAL}_{twin.name}, which the service does not read: rename it to "
        f"{secrets_dir / name}"
    )
