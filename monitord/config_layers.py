"""A config made of layers: `monitord.toml` and then `conf.d/*.toml` beside it, in name order
(issue 19: one site file shared by the fleet, one chair file per Pi).

Only a main file named `monitord.toml` takes the layers (docs/install.md, "Fleet
configuration"): `conf.d/` holds the chair daemon's pieces, and another file in the same
folder is read alone, by every command. The station's `/etc/monitord/station.toml` on a Pi
that is also a chair would otherwise take in that Pi's `conf.d/20-chair.toml` ([mqtt]
username, [[chairs]], [site] overrides), and `check-config -c station.toml` would judge a
config the station was never meant to have.

Merge rules (docs/install.md, "Fleet configuration"):
- tables are merged key by key, recursively; a later file's value wins for the same key;
- `[[chairs]]` are concatenated in file order: the site file usually has none and each
  Pi's `conf.d/20-chair.toml` adds its own; a chair id defined twice is an error, as in one
  file;
- every other value, arrays included, is replaced whole by a later file.

Each layer's relative paths are resolved against its own file before the merge, and every
error names the file that wrote the key, with the index a chair has *in that file*:
`/etc/monitord/conf.d/20-chair.toml: chairs[0].devices[1].port: ...`.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitord import serviceuser

Loc = tuple[int | str, ...]


@dataclass
class Layer:
    source: str  # the file's path as the user named it, for error lines
    raw: dict[str, Any]


# The one main file name that takes `conf.d/*.toml` (see the module docstring).
LAYERED_NAME = "monitord.toml"


def taken(name: str) -> bool:
    """Whether a file in conf.d/ is one of the config's layers: a `*.toml` whose name does
    not start with a dot. The one rule for conf.d, the daemon's and every command's (the
    install's and the package's upgrade checks ask it: `check-config --files`). A hidden
    name is an editor's, as the shell's `*` and `ls` leave it out: emacs's lock
    `.#20-chair.toml` (a dangling link while the file is edited) stopped the daemon, exit 78.
    Backups (`20-chair.toml~`, `#20-chair.toml#`) are no `*.toml`. A dangling link by a
    visible name is taken, and named: what it was to say must not go unsaid."""
    return name.endswith(".toml") and not name.startswith(".")


def config_files(path: Path) -> list[Path]:
    """The main file, then, for a `monitord.toml`, the conf.d/ files `taken` beside it in
    name order (none when absent); any other file alone. A conf.d/ this user may not list
    is a LayerError: `glob` found nothing in it, and a chair (or the clinic's [alerts])
    written there was left out without a word, the daemon running on the rest."""
    if path.name != LAYERED_NAME:
        return [path]
    conf_d = path.parent / "conf.d"
    if not conf_d.is_dir():
        return [path]
    try:
        names = os.listdir(conf_d)
    except PermissionError as e:
        raise LayerError(
            f"{conf_d}: cannot list: {e.strerror or e}{_closed_dir_hint(conf_d)}"
        ) from None
    except OSError as e:
        raise LayerError(f"{conf_d}: cannot list: {e.strerror or e}") from None
    return [path, *(conf_d / n for n in sorted(n for n in names if taken(n)))]


class LayerError(Exception):
    """A file that cannot be read as TOML; `line` names it (monitord.config turns it into
    a ConfigError: this module imports nothing from monitord.config, no import cycle)."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def _name(table: str, ident: int) -> str:
    try:
        return pwd.getpwuid(ident).pw_name if table == "pwd" else grp.getgrgid(ident).gr_name
    except KeyError:
        return str(ident)


def _whose(st: os.stat_result) -> str:
    """` (this user admin; mode 0640, root:root)`: who is refused a file of this stat."""
    owner = f"{_name('pwd', st.st_uid)}:{_name('grp', st.st_gid)}"
    return (
        f" (this user {_name('pwd', os.geteuid())}; mode {stat.S_IMODE(st.st_mode):04o}, {owner})"
    )


def _closed_hint(path: Path) -> str:
    """What to do about a config file this user may not read (a conf.d file made 0640
    root:root was refused with "Permission denied" alone, where every other mode error
    names the fix): who it is, its mode and owner, and the fix. A config holds no secret
    (docs/install.md: 0644, the daemon reads it as its own user), so the fix is 0644,
    worded as the other checks' (serviceuser.file_fix); or run it as root."""
    try:
        st = path.stat()
    except OSError:  # a directory on the way is closed: the file's mode is not to be had
        return ": make the directories on its path 0755 (docs/install.md), or run it with sudo"
    return (
        f"{_whose(st)}: a config file holds "
        f"no secret and the daemon reads it as user {serviceuser.SERVICE_USER}: "
        f"{serviceuser.file_fix(path, 'public')[1]} (docs/install.md), or run it with sudo"
    )


def _closed_dir_hint(conf_d: Path) -> str:
    """Who may not list `conf.d`, its mode and owner, and the fix (0755, docs/install.md's
    layout: the daemon lists it as its own user)."""
    return (
        f"{_whose(conf_d.stat())}: its files would be left out; the daemon lists it as user "
        f"{serviceuser.SERVICE_USER}: chmod 0755 {conf_d} (docs/install.md), or run it with sudo"
    )


def read_layer(path: Path) -> Layer:
    """One file's TOML, or a LayerError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError as e:
        raise LayerError(f"{path}: cannot read: {e.strerror or e}{_closed_hint(path)}") from None
    except FileNotFoundError as e:
        why = e.strerror
        if path.is_symlink():  # "No such file or directory" of a file `ls` shows
            why = f"a symbolic link to {os.readlink(path)}, which does not exist"
        raise LayerError(f"{path}: cannot read: {why}") from None
    except OSError as e:
        raise LayerError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise LayerError(f"{path}: not UTF-8 text") from None
    try:
        return Layer(str(path), toml_loads(text))
    except ValueError as e:
        raise LayerError(f"{path}: {e}") from None


def toml_loads(text: str) -> dict[str, Any]:
    """tomllib.loads, every way it refuses a text a ValueError of one line: beside its
    TOMLDecodeError it raised int()'s own ValueError (a number of over 4,300 digits) and
    RecursionError (arrays or inline tables nested thousands deep), each a traceback out
    of check-config and the daemon's start."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"TOML syntax: {e}") from None
    except ValueError as e:
        if "int_max_str" not in str(e):
            raise
        raise ValueError("TOML: a number of more than 4300 digits") from None
    except RecursionError:
        raise ValueError("TOML: arrays or inline tables nested too deeply") from None


@dataclass
class Provenance:
    """Which file wrote each key of the merged config."""

    main: str
    keys: dict[Loc, str] = field(default_factory=dict)  # key path (tables only) -> file
    chairs: list[tuple[str, int]] = field(default_factory=list)  # merged index -> file, own index

    def locate(self, loc: Loc) -> tuple[str, Loc]:
        """The file to name for an error at `loc` of the merged config, and `loc` as that
        file spells it (its own chair index)."""
        if len(loc) >= 2 and loc[0] == "chairs" and isinstance(loc[1], int):
            if 0 <= loc[1] < len(self.chairs):
                source, own = self.chairs[loc[1]]
                return source, ("chairs", own, *loc[2:])
        if loc and loc[0] == "chairs" and self.chairs:
            return self.chairs[-1][0], loc
        # The longest key path some file wrote; a missing key is blamed on the file that
        # wrote its table, or the main file when none did.
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.keys:
                return self.keys[loc[:n]], loc
        return self.main, loc


# `chairs` that is a table, not an array of tables: TOML makes one of `[[chairs.devices]]`
# (or `[chairs]`) with no `[[chairs]]` before it in the file, e.g. a conf.d file that adds
# devices to a chair another file starts. Merged, it replaced every chair before it, and
# the schema's "Input should be a valid list" named the previous chair file.
CHAIRS_NOT_A_LIST = (
    "[[chairs.devices]] (or [chairs]) with no [[chairs]] before it in this file: start "
    "each chair with [[chairs]] and its id, and put its [[chairs.devices]] after it in "
    "the same file"
)


def merge(layers: list[Layer]) -> tuple[dict[str, Any], Provenance]:
    prov = Provenance(main=layers[0].source)
    merged: dict[str, Any] = {}
    for layer in layers:
        if isinstance(layer.raw.get("chairs"), Mapping):
            raise LayerError(f"{layer.source}: chairs: {CHAIRS_NOT_A_LIST}")
        for key, value in layer.raw.items():
            if key == "chairs" and isinstance(value, list):
                have = merged.setdefault("chairs", [])
                if isinstance(have, list):
                    have.extend(value)
                    prov.chairs += [(layer.source, i) for i in range(len(value))]
                    continue
            _put(merged, (key,), value, layer.source, prov)
    return merged, prov


def _put(into: dict[str, Any], loc: Loc, value: Any, source: str, prov: Provenance) -> None:
    key = loc[-1]
    assert isinstance(key, str)
    prov.keys[loc] = source
    have = into.get(key)
    if isinstance(value, Mapping) and isinstance(have, dict):
        for k, v in value.items():
            _put(have, (*loc, k), v, source, prov)
    elif isinstance(value, Mapping):
        into[key] = {}
        for k, v in value.items():
            _put(into[key], (*loc, k), v, source, prov)
    else:
        into[key] = value
