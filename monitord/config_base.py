"""The building blocks of the config schema (monitord/config.py): the strict model base
and the constrained types shared by its sections (config_devices.py, config_station.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def no_url_password(url: str, hint: str) -> str:
    """`url` unless its userinfo carries a password: a password there is inline (design.md
    section 8, never inline) and would be printed wherever the URL is logged."""
    try:
        password = urlsplit(url).password
    except ValueError:  # an unparsable netloc (a bad port): the URL check says why
        return url
    if password is not None:
        raise ValueError(f"has a password in the URL: {hint}")
    return url
