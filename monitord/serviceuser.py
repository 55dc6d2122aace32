"""The service user `monitord` as the shipped unit runs it: who it is and what it may read,
enter or run. Asked by `doctor` (as root, for the daemon) and by `check-config` (an admin
outside its group checking a file the daemon reads: monitord/config_checks.py)."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path
from typing import Literal

SERVICE_USER = "monitord"

# What a file the service reads is, for a fix that keeps it so (docs/install.md): a
# certificate or CA, no secret ("public": 0644); a key or secret read through the
# service's group ("group": the [mqtt.tls] client key, a secret named by an absolute path:
# 0640 root:monitord); the service user's own ("own": the station's TLS key and nurses
# file: 0600 monitord). Never 0644 for the last two: a private key or PIN hashes for
# every user to read.
FileKind = Literal["public", "group", "own"]
_KEEP: dict[FileKind, tuple[str, str]] = {
    "public": ("0644", "chmod 0644 {p}"),
    "group": (f"0640 group {SERVICE_USER}", f"chgrp {SERVICE_USER} {{p}} && chmod 0640 {{p}}"),
    "own": (
        f"owned by {SERVICE_USER}, mode 0600",
        f"chown {SERVICE_USER}:{SERVICE_USER} {{p}} && chmod 0600 {{p}}",
    ),
}


def file_fix(path: Path, kind: FileKind) -> tuple[str, str]:
    """How file `path` of `kind` is to be for the service to read it: (its mode in words,
    for check-config's prose: "make it ..."; the command that makes it so, for doctor's
    fix). The one place this advice is worded."""
    words, command = _KEEP[kind]
    return words, command.format(p=path)


def service_ids() -> tuple[int, set[int]] | None:
    """The service user's uid and groups (primary, supplementary, `dialout` from the unit's
    SupplementaryGroups=); None on a machine without that user."""
    try:
        user = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if SERVICE_USER in g.gr_mem}
    try:
        groups.add(grp.getgrnam("dialout").gr_gid)
    except KeyError:
        pass
    return user.pw_uid, groups


def may(st: os.stat_result, ids: tuple[int, set[int]], bits: tuple[int, int, int]) -> bool:
    uid, groups = ids
    if st.st_uid == uid:
        return bool(st.st_mode & bits[0])
    if st.st_gid in groups:
        return bool(st.st_mode & bits[1])
    return bool(st.st_mode & bits[2])


def service_user_blocked(path: Path, run: bool = False, kind: FileKind = "public") -> str | None:
    """Why the service user could not read `path` (`run`: execute it), a directory on the
    way it may not enter, or the file itself, then `; ` and the fix (a command; for a file
    it may not read, the one that keeps a file of `kind` so: `file_fix`); None when it
    can or this cannot be told."""
    ids = service_ids()
    if ids is None:
        return None
    path = Path(os.path.abspath(path))
    try:
        for d in reversed(path.parents):
            st = d.stat()
            if not may(st, ids, (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)):
                mode = f"{stat.S_IMODE(st.st_mode):04o}"
                return f"user {SERVICE_USER} cannot enter {d} (mode {mode}); chmod 0755 {d}"
        st = path.stat()
    except OSError:
        return None  # missing: the config checks say so
    if run and not may(st, ids, (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)):
        mode = f"{stat.S_IMODE(st.st_mode):04o}"
        return f"user {SERVICE_USER} cannot run {path} (mode {mode}); chmod 0755 {path}"
    if not run and not may(st, ids, (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)):
        mode = f"{stat.S_IMODE(st.st_mode):04o}"
        fix = file_fix(path, kind)[1]
        return f"user {SERVICE_USER} cannot read {path} (mode {mode}); {fix}"
    return None
