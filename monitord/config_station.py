"""`[station]` (with `[station.forwarder]`) and `[annunciator]` of the config schema
(extracted from monitord/config.py): the nurses' station server (docs/station.md) and the
chair's local annunciator (docs/delivery.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from monitord.config_base import Ident, PathSetting, no_url_password
from monitord.config_base import Strict as _Strict
from monitord.config_topics import login_text
from monitord.netaddr import split_listen


class ForwarderConfig(_Strict):
    """`[station.forwarder]`: phone escalation of high alerts nobody acknowledged."""

    url: Annotated[str, Field(pattern=r"^https?://[^/\s]+")]
    after_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    mode: Literal["json", "ntfy"] = "json"
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    # The webhook's access token, sent as `Authorization: Bearer <token>` (design.md §8:
    # secrets from files or the environment, never inline; before, an ntfy server that
    # needs a token got it in the URL, `?auth=...`, held in clear in the config).
    token_file: PathSetting | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        # user:password@ is never sent as such (aiohttp would make it Basic auth, and
        # the URL reaches logs): a token goes in token_file.
        return no_url_password(v, "remove user:password@; a token goes in token_file")


# The forwarder's token in the environment, read before `token_file` (as the station's
# broker password's MONITORD_STATION_MQTT_PASSWORD): by the station and check-config.
FORWARDER_TOKEN_ENV = "MONITORD_STATION_FORWARDER_TOKEN"
# Query parameters that carry a credential (ntfy's `?auth=`, a webhook's `?token=`,
# `?key=` ...), compared without case: still taken (a station that ran yesterday must
# start), but warned by check-config and at the station's start.
CREDENTIAL_PARAMS = frozenset(
    ("auth", "token", "access_token", "key", "apikey", "password", "secret")
)


def token_problem(token: str) -> str | None:
    """What keeps `token` (as read, stripped) out of an HTTP header, or None: a line break
    or another control character (aiohttp refuses it as header injection, a ValueError
    that ended the forwarder and with it the station). Never the token itself."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
        return (
            "holds a line break or control character, which an HTTP header cannot carry; "
            "write the token as one line"
        )
    return None


def url_credential_params(url: str) -> list[str]:
    """The names (as written, each once) of `url`'s query parameters that look like a
    credential (CREDENTIAL_PARAMS); never their values."""
    names: list[str] = []
    for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name.lower() in CREDENTIAL_PARAMS and name not in names:
            names.append(name)
    return names


# The station's broker password in the environment, read before `mqtt_password_file` (as
# MONITORD_MQTT_PASSWORD before [mqtt]'s): by the station, check-config and doctor.
STATION_PASSWORD_ENV = "MONITORD_STATION_MQTT_PASSWORD"


class StationConfig(_Strict):
    """`[station]`: the nurses' station web server (`monitord station`, docs/station.md)."""

    id: Ident
    listen: str = "127.0.0.1:8080"
    tls_cert_file: PathSetting | None = None
    tls_key_file: PathSetting | None = Field(default=None, validate_default=True)
    # One nurse per line, `name:hash` (written by `monitord station --add-nurse`).
    nurses_file: PathSetting
    # The station's own broker account (one per station, config/mosquitto/monitord.acl);
    # `[mqtt] username` stays the chairs'. Never sent to a browser.
    mqtt_username: str | None = None
    mqtt_password_file: PathSetting | None = None
    # A nurse's login lasts this long (a shift), then the PIN is asked again.
    session_ttl_s: Annotated[float, Field(gt=0, le=7 * 86_400)] = 12 * 3600.0
    # An event stream whose client has taken no byte this long is cut (a page still there
    # reconnects by itself): monitord/station/stall.py.
    stream_stall_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    forwarder: ForwarderConfig | None = None

    @field_validator("mqtt_username")
    @classmethod
    def _login(cls, v: str | None) -> str | None:
        return None if v is None else login_text(v)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        split_listen(v)  # ValueError: what is wrong with it
        return v

    @field_validator("tls_key_file")
    @classmethod
    def _tls_pair(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        # A field check (not a model one) so it is reported along with other field errors.
        if (info.data.get("tls_cert_file") is None) != (v is None):
            raise ValueError("tls_cert_file and tls_key_file go together (both or neither)")
        return v

    @field_validator("mqtt_password_file")
    @classmethod
    def _login_pair(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        # The MQTT client sends a password only with a user name: without one the station
        # logged in anonymously, refused by the broker for ever, while check-config said ok.
        if v is not None and info.data.get("mqtt_username") is None:
            raise ValueError("mqtt_password_file needs mqtt_username (the station's own login)")
        return v

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


class AnnunciatorConfig(_Strict):
    """The local annunciator at the chair (docs/delivery.md): a buzzer/LED on a GPIO line
    and/or a command run with the pattern (`high`, `technical`, `off`) as its last
    argument and in $MONITORD_ANNUNCIATOR."""

    gpio_chip: str | None = None  # e.g. "/dev/gpiochip0"
    gpio_line: Annotated[int, Field(ge=0, le=1023)] | None = None
    command: Annotated[list[str], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _gpio_pair(self) -> AnnunciatorConfig:
        if (self.gpio_chip is None) != (self.gpio_line is None):
            raise ValueError("gpio_chip and gpio_line go together (the chip and its line)")
        return self
