"""The building blocks of the config schema (monitord/config.py): the strict model base
and the constrained types shared by its sections (config_devices.py, config_station.py).
"""

from __future__ import annotations

import functools
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from monitord.netaddr import url_address

Port = Annotated[int, Field(ge=1, le=65535)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


def _chair_id(v: str) -> str:
    # `stations` is the topic level of the stations' status (`<prefix>/<site>/stations/+`,
    # which every chair's connection subscribes to): a chair of that id had its ACKs
    # (`.../stations/cmd/ack`) taken for a station's status and never run, and its own
    # status read as a station's on every other chair.
    if v == "stations":
        raise ValueError(
            "'stations' is reserved: the stations' status topic level "
            "(<prefix>/<site>/stations/+); a chair of that id would have its ACKs read as a "
            "station's status, never run"
        )
    return v


ChairIdent = Annotated[Ident, AfterValidator(_chair_id)]
SessionProtocol = Literal["esketamine", "iv-ketamine"]
# TOML has no path type: a path setting is a TOML string, so it alone is converted (every
# other field takes only its own TOML type, see `Strict`).
PathSetting = Annotated[Path, Field(strict=False)]


class Strict(BaseModel):
    """Unknown keys are errors (design.md section 8); a loaded config never changes.

    Strict types: a value of the wrong TOML type is an error naming its key, never
    converted (lax pydantic read `port = true` as port 1 and `check_hostname = "false"`
    as False, turning TLS hostname checks off). A TOML integer in a float field stays
    fine (strict floats take ints); paths are `PathSetting`.

    Finite floats: TOML has `inf` and `nan`, and `gt=0` lets `inf` through (NaN fails
    every bound): `storage.retention_days = inf` passed check-config and crashed the
    store at every prune, a technical alarm; no setting means anything by either.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def no_url_password(url: str, hint: str) -> str:
    """`url` unless its userinfo carries a password: a password there is inline (design.md
    section 8, never inline) and would be printed wherever the URL is logged. Or unless
    its address cannot be read (an IPv6 one without brackets: monitord/netaddr.py)."""
    url_address(url)
    try:
        password = urlsplit(url).password
    except ValueError:  # not reached: url_address refused an unreadable netloc above
        return url
    if password is not None:
        raise ValueError(f"has a password in the URL: {hint}")
    return url


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_name(v: str) -> str:
    """`v` when it is a zone's name (`[site] timezone`). Files of the
    zone database that Python loads but are no zone's name are refused: the station
    page's browser refuses them (Intl: RangeError) and its board stayed empty (no clock,
    no chairs, no alarms); `localtime` also put whatever zone the machine had on the
    REMS form under the name "localtime"."""
    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {v!r}: use an IANA name such as 'America/New_York'"
        ) from None
    if v == "localtime":
        raise ValueError(
            "'localtime' is this machine's zone, not a zone's name: name the clinic's "
            "zone, such as 'Europe/Berlin' (timedatectl shows this machine's)"
        )
    if v == "Factory" or v not in _zone_names():
        hint = v.partition("/")[2] if v.startswith(("posix/", "right/")) else ""
        use = repr(hint) if hint in _zone_names() else "an IANA name such as 'America/New_York'"
        raise ValueError(f"{v!r} is a file of the zone database, not a zone's name: use {use}")
    return v
