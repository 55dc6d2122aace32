"""Configuration: the TOML schema of design.md section 8, validated by pydantic v2.

The operator's file is read, never written; a `monitord.toml` has `conf.d/*.toml` beside it
merged in name order, any other file is read alone (monitord/config_layers.py). Every
problem becomes one line `FILE: dotted.key: reason` naming the file that wrote the key
(see `ConfigError`), never a traceback.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitord.config_base import ChairIdent as _ChairIdent
from monitord.config_base import (
    Ident,
    PathSetting,
    Port,
    SessionProtocol,
    no_url_password,
    zone_name,
)
from monitord.config_base import Strict as _Strict
from monitord.config_devices import (
    DeviceConfig,
    DeviceOptions,
    DriverSchema,
    SimMemoryRecord,
    use_drivers,
)
from monitord.config_keys import error_text, refusal, unknown_key
from monitord.config_keys import flat_loc as _flat_loc
from monitord.config_station import AnnunciatorConfig, ForwarderConfig, StationConfig
from monitord.config_tls import broker_verifier
from monitord.config_topics import login_text, no_control, topic_level, topic_prefix
from monitord.netaddr import server_host

# Re-exported: the schema is imported from here (its sections live in config_*.py).
__all__ = [
    "AnnunciatorConfig",
    "ChairConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "DeviceOptions",
    "DriverSchema",
    "ForwarderConfig",
    "InfluxConfig",
    "MqttConfig",
    "SimMemoryRecord",
    "SiteConfig",
    "StationConfig",
    "StorageConfig",
    "TlsConfig",
    "load_config",
    "loads_config",
    "parse_config",
    "read_secret",
    "use_drivers",
]

from monitord.config_layers import (
    CHAIRS_NOT_A_LIST,
    LayerError,
    config_files,
    merge,
    read_layer,
    toml_loads,
)

# Keys that would put a secret inline. Refused with a hint, before schema validation,
# so the operator learns *why* rather than just "extra key".
_INLINE_SECRETS = {"password": "password_file", "token": "token_file", "secret": "*_file"}


class SiteConfig(_Strict):
    # Required: it names every MQTT topic and InfluxDB series, so two clinics on one
    # broker with a silent default would read and ack each other's chairs.
    id: Ident
    # IANA zone of the clinic (e.g. "America/New_York"): reports, the station and
    # nurse-facing messages show local time in it; stored data stays UTC.
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        return zone_name(v)


class TlsConfig(_Strict):
    ca_file: PathSetting | None = None
    cert_file: PathSetting | None = None
    key_file: PathSetting | None = None
    # Hostname checking stays on unless the operator says otherwise (self-signed
    # certificates issued to an IP address are common on clinic LANs).
    check_hostname: bool = True

    def client_context(self) -> ssl.SSLContext:
        """The client side's TLS context (the daemon, the station, doctor)."""
        ctx = broker_verifier(self.ca_file)
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        ctx.check_hostname = self.check_hostname
        return ctx


class MqttConfig(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Port = 1883
    tls: TlsConfig | None = None
    username: str | None = None
    password_file: PathSetting | None = None
    prefix: str = "monitord"
    client_id: str | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    # How long the broker may be unreachable, with an alert active, before the local
    # delivery alarm (clinical-rules.md "Delivery of alarms").
    delivery_alarm_after_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # A command carrying a `time` older than this is refused (a queued or re-sent one).
    command_max_age_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    # A high/medium alert raised or escalated and accepted by the broker, with no station
    # receipt (alerts/receipts) after this long: technical alarm `delivery.unheard`.
    receipt_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    # Home Assistant MQTT discovery (monitord/sinks/homeassistant.py): off unless a site
    # wants its chairs in Home Assistant.
    ha_discovery: bool = False
    ha_prefix: str = "homeassistant"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return topic_prefix(v)

    @field_validator("ha_prefix")
    @classmethod
    def _ha_prefix(cls, v: str) -> str:
        return topic_level(v)

    @field_validator("host", "username", "client_id")
    @classmethod
    def _text(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        return server_host(no_control(v)) if info.field_name == "host" else login_text(v)


class InfluxConfig(_Strict):
    enabled: bool = True
    url: str = "http://127.0.0.1:8086"
    api: Literal["v1", "v2"] = "v2"
    # v2
    org: str | None = None
    bucket: str | None = None
    token_file: PathSetting | None = None
    # v1
    database: str | None = None
    retention_policy: str | None = None
    username: str | None = None
    password_file: PathSetting | None = None
    batch_size: Annotated[int, Field(ge=1, le=50_000)] = 5000
    flush_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    gzip: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http:// or https:// URL")
        if "?" in v:
            # InfluxDB 1.x takes its login as `?u=...&p=...` too: that password would be
            # in every log line naming the server (and the write, /write appended after
            # the query, went to `/`).
            raise ValueError(
                "has a query (?...): influx.url is the server's address (and a proxy's path) "
                "only; credentials go in password_file / token_file"
            )
        return no_url_password(v.rstrip("/"), "credentials go in password_file / token_file")

    @model_validator(mode="after")
    def _api_fields(self) -> InfluxConfig:
        if not self.enabled:
            return self
        if self.api == "v2" and not self.bucket:
            raise ValueError("api = 'v2' needs bucket (and org, token_file for InfluxDB 2.x)")
        if self.api == "v1" and not self.database:
            raise ValueError("api = 'v1' needs database")
        return self


class StorageConfig(_Strict):
    path: PathSetting = Path("/var/lib/monitord/outbox.sqlite")
    retention_days: Annotated[float, Field(gt=0)] = 30.0
    # Disk budget for the outbox. When reached, delivered rows are pruned oldest first;
    # if undelivered rows alone exceed it, the oldest undelivered *readings* are dropped
    # (counted and logged at ERROR), never alert or session events.
    # At most 1 TB (no Pi's card is larger): 1e308 passed, and the prune's byte budget,
    # infinite, crashed the store task at every start (`task.crashing`).
    max_mb: Annotated[float, Field(gt=0, le=1_000_000)] = 512.0
    # How often retention and max_mb are applied while the daemon runs (and at its start).
    # At most an hour: 1e308 ("never") pruned once at start and then never, unsaid, the
    # budget and retention not applied until the next restart.
    prune_interval_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # Group commit: batches of readings alone wait up to this long to be committed (one
    # fsync) with the others, and so do delivery marks and status; alert and session
    # events and commands are committed at once, with everything queued before them. The
    # loss window for readings on a crash or power loss (docs/reliability.md). 5 s keeps
    # a chair's SD-card writes under 10 MB an hour (issue 20; 0.2 s wrote ~10x more).
    # 0 = every batch at once.
    commit_interval_s: Annotated[float, Field(ge=0, le=60)] = 5.0
    # A write to the store unfinished this long (a disk that hangs in fsync) raises the
    # technical alarm `store.stalled` and shows the alarms it holds without it
    # (monitord/storestall.py). Far above a slow SD card's worst commit (~1 s). The alarm
    # clears after writes went normally for 3x this (hysteresis).
    stall_alarm_after_s: Annotated[float, Field(gt=0, le=300)] = 10.0


class ChairConfig(_Strict):
    id: _ChairIdent
    protocol: SessionProtocol = "esketamine"
    devices: list[DeviceConfig] = Field(default_factory=list)
    # This chair's own broker login (one account per chair: docs/delivery.md); unset: [mqtt]'s.
    mqtt_username: str | None = None
    mqtt_password_file: PathSetting | None = None

    @field_validator("mqtt_username")
    @classmethod
    def _login(cls, v: str | None) -> str | None:
        return None if v is None else login_text(v)

    @model_validator(mode="after")
    def _login_pair(self) -> ChairConfig:
        if self.mqtt_password_file is not None and self.mqtt_username is None:
            raise ValueError("mqtt_password_file needs mqtt_username (the chair's own login)")
        return self

    def mqtt_login(self, mqtt: MqttConfig) -> tuple[str | None, Path | None, str | None]:
        """(username, password file, password environment variable) this chair logs in
        with: its own when it has one, else [mqtt]'s."""
        if self.mqtt_username is not None:
            return self.mqtt_username, self.mqtt_password_file, None
        return mqtt.username, mqtt.password_file, "MONITORD_MQTT_PASSWORD"

    @model_validator(mode="after")
    def _devices(self) -> ChairConfig:
        seen: set[str] = set()
        for d in self.devices:
            if d.id in seen:
                raise ValueError(f"duplicate device id {d.id!r}")
            seen.add(d.id)
        sims = [d for d in self.devices if d.simulate is not None]
        if sims and len(sims) != len(self.devices):
            raise ValueError("a chair never mixes simulated and real devices")
        if len({d.simulate_speed for d in sims}) > 1:
            raise ValueError("all simulated devices of one chair share one simulate_speed")
        return self

    @property
    def simulated(self) -> bool:
        return bool(self.devices) and all(d.simulate is not None for d in self.devices)

    @property
    def speed(self) -> float:
        return self.devices[0].simulate_speed if self.simulated else 1.0


class Config(_Strict):
    site: SiteConfig
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    influx: InfluxConfig = Field(default_factory=lambda: InfluxConfig(bucket="monitord"))
    storage: StorageConfig = Field(default_factory=StorageConfig)
    # Rule overrides by rule id; validated against the rule table by the alert engine.
    alerts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Before `chairs`: a station-only config needs no chairs (it finds them on the broker).
    station: StationConfig | None = None
    # At least one unless [station] is set: a config that monitors nothing must not look
    # ready (`monitord run` still requires them, monitord/commands/run.py).
    chairs: list[ChairConfig] = Field(default_factory=list, validate_default=True)
    annunciator: AnnunciatorConfig = Field(default_factory=AnnunciatorConfig)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Which file wrote a key (conf.d layers), for checks made after parsing; see `where`.
    _origin: Origin | None = PrivateAttr(default=None)

    @field_validator("chairs")
    @classmethod
    def _some_chairs(cls, v: list[ChairConfig], info: ValidationInfo) -> list[ChairConfig]:
        # `monitord report` reads only [site], [influx], [storage] (a central machine's).
        optional = (info.context or {}).get("chairs_optional", False)
        if not v and info.data.get("station") is None and not optional:
            raise PydanticCustomError("no_chairs", NO_CHAIRS)
        return v

    @field_validator("chairs")
    @classmethod
    def _unique_chairs(cls, v: list[ChairConfig]) -> list[ChairConfig]:
        # A model check would be reported at "(top level)"; the index of the repeat goes
        # in the error's context so `parse_config` names it as `chairs[i].id`.
        seen: set[str] = set()
        for i, c in enumerate(v):
            if c.id in seen:
                raise PydanticCustomError(
                    "duplicate_chair",
                    "duplicate chair id {chair}",
                    {"chair": repr(c.id), "index": i},
                )
            seen.add(c.id)
        return v


Loc = tuple[int | str, ...]
# Where an error at a key of the merged config is reported: (file, key as that file has it).
Origin = Callable[[Loc], tuple[str, Loc]]


def where(cfg: Config, source: str, dotted: str) -> str:
    """`FILE: key` for a problem found in a parsed config at `dotted` (`chairs[0].id`),
    naming the conf.d file that wrote it when the config has layers."""
    if cfg._origin is None:
        return f"{source}: {dotted}"
    loc: Loc = tuple(
        int(part[1:-1]) if part.startswith("[") else part
        for part in re.findall(r"\[\d+\]|[^.\[\]]+", dotted)
    )
    file, own = cfg._origin(loc)
    return f"{file}: {_dotted(own)}"


class ConfigError(Exception):
    """A config that cannot be used. `lines` are ready to print, one problem each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + _printable(part)
    return out or "(top level)"


def _printable(key: str) -> str:
    """A key as it can be printed on one line: a quoted TOML key may hold a newline (or
    U+2028, which splitlines also breaks at), and one error must stay one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in key)


def _walk(obj: Any, loc: tuple[int | str, ...] = ()) -> Iterator[tuple[tuple[int | str, ...], str]]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield (*loc, k), k
            yield from _walk(v, (*loc, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, (*loc, i))


def _strings(
    obj: Any, loc: tuple[int | str, ...] = ()
) -> Iterator[tuple[tuple[int | str, ...], str]]:
    if isinstance(obj, str):
        yield loc, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _strings(v, (*loc, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, (*loc, i))


def _resolve_relative(raw: dict[str, Any], base: Path) -> None:
    """Paths in the config are relative to the config file, not the working directory."""
    for chair in raw.get("chairs", []) if isinstance(raw.get("chairs"), list) else []:
        for dev in chair.get("devices", []) if isinstance(chair, dict) else []:
            if isinstance(dev, dict) and isinstance(dev.get("simulate"), str):
                p = Path(dev["simulate"])
                if not p.is_absolute():
                    dev["simulate"] = str(base / p)
    mqtt = raw.get("mqtt")
    tls = mqtt.get("tls") if isinstance(mqtt, dict) else None
    if isinstance(tls, dict):
        for key in ("ca_file", "cert_file", "key_file"):
            if isinstance(tls.get(key), str) and not Path(tls[key]).is_absolute():
                tls[key] = str(base / tls[key])
    station = raw.get("station")
    if isinstance(station, dict):
        for key in ("tls_cert_file", "tls_key_file", "nurses_file"):
            if isinstance(station.get(key), str) and not Path(station[key]).is_absolute():
                station[key] = str(base / station[key])
    storage = raw.get("storage")
    if isinstance(storage, dict) and isinstance(storage.get("path"), str):
        p = Path(storage["path"])
        if not p.is_absolute():
            storage["path"] = str(base / p)


_NO_SITE = (
    "missing: set [site] id to this clinic's id (it names every MQTT topic and "
    "InfluxDB series; two sites must never share one)"
)
NO_CHAIRS = "no [[chairs]]: this config monitors nothing; add one [[chairs]] per chair"


def parse_config(
    raw: dict[str, Any],
    source: str = "<config>",
    base: Path | None = None,
    origin: Origin | None = None,
    chairs_optional: bool = False,
) -> Config:
    """`raw` validated; `origin` names the file of each key when `raw` merges several."""

    def at(loc: Loc) -> str:
        if origin is None:
            return f"{source}: {_dotted(loc)}"
        file, own = origin(loc)
        return f"{file}: {_dotted(own)}"

    errors: list[str] = []
    said: set[Loc] = set()  # keys with an error already
    for loc, key in _walk(raw):
        if key in _INLINE_SECRETS:
            said.add(loc)
            errors.append(
                f"{at(loc)}: secrets are never inline; "
                f"put it in a file and set {_INLINE_SECRETS[key]}"
            )
    for loc, text in _strings(raw):
        # NUL is never meant (TOML allows it as \u0000): as a path it raised ValueError
        # deep in the daemon, in a topic it breaks the MQTT protocol.
        if "\x00" in text:
            said.add(loc)
            errors.append(f"{at(loc)}: contains the NUL character (U+0000)")
    if isinstance(raw.get("chairs"), Mapping):
        said.add(("chairs",))
        errors.append(f"{at(('chairs',))}: {CHAIRS_NOT_A_LIST}")
    # Reported with the schema's errors, not instead of them: the operator fixes the
    # whole file in one pass (a key said once: an inline `password` is no "unknown key").
    if base is not None:
        _resolve_relative(raw, base)
    try:
        cfg = Config.model_validate(raw, context=(context := {"chairs_optional": chairs_optional}))
    except ValidationError as e:
        for err in e.errors():
            loc = _flat_loc(tuple(err["loc"]))
            msg = error_text(err, refusal(Config, raw, context, loc))
            if loc in said:
                continue
            if err["type"] == "extra_forbidden":
                msg = unknown_key(Config, raw, tuple(err["loc"]))
            elif loc in (("site",), ("site", "id")) and err["type"] == "missing":
                loc, msg = ("site", "id"), _NO_SITE
            elif loc == ("chairs",) and err["type"] == "duplicate_chair":
                loc = ("chairs", err["ctx"]["index"], "id")
            elif loc == ("chairs",) and err["type"] == "no_chairs":
                if isinstance(raw.get("station"), dict):
                    continue  # a [station] with errors: those are the lines to read
                msg = NO_CHAIRS
            errors.append(f"{at(loc)}: {msg}")
        raise ConfigError(errors) from None
    if errors:
        raise ConfigError(errors)
    cfg._origin = origin
    try:
        from monitord.engine.rules import validate_overrides
    except ImportError:  # engine not built yet in this checkout
        return cfg
    for loc2, msg in validate_overrides(cfg.alerts):
        # A rule id holds dots (`bp.severe.sys_ge`): split at each, the key was found in no
        # file and the error blamed on the last one with an [alerts] table.
        rule = max(
            (r for r in cfg.alerts if loc2 == r or loc2.startswith(f"{r}.")), key=len, default=loc2
        )
        wrote: Loc = ("alerts", rule, loc2[len(rule) + 1 :]) if loc2 != rule else ("alerts", rule)
        file = origin(wrote)[0] if origin else source
        errors.append(f"{file}: alerts.{loc2}: {msg}")
    if errors:
        raise ConfigError(errors)
    return cfg


def load_config(path: str | os.PathLike[str], chairs_optional: bool = False) -> Config:
    """`path` and then, for a `monitord.toml`, `conf.d/*.toml` beside it, merged
    (monitord/config_layers.py)."""
    try:
        files = config_files(Path(path))
        layers = [read_layer(f) for f in files]
    except LayerError as e:
        raise ConfigError([e.line]) from None
    if len(layers) == 1:
        base = files[0].resolve().parent
        return parse_config(layers[0].raw, str(files[0]), base, chairs_optional=chairs_optional)
    # Each file's relative paths are its own: resolved before the merge.
    for f, layer in zip(files, layers, strict=True):
        _resolve_relative(layer.raw, f.resolve().parent)
    try:
        raw, prov = merge(layers)
    except LayerError as e:
        raise ConfigError([e.line]) from None
    return parse_config(raw, str(files[0]), origin=prov.locate, chairs_optional=chairs_optional)


def loads_config(text: str, source: str = "<config>", base: Path | None = None) -> Config:
    try:
        raw = toml_loads(text)
    except ValueError as e:
        raise ConfigError([f"{source}: {e}"]) from None
    return parse_config(raw, source=source, base=base)


def read_secret(path: Path | None, env: str | None = None) -> str | None:
    """A secret from the environment (`env`) or a file; a relative `path` is a systemd
    credential name, read as the unit passes it (monitord/credentials.py): under the unit
    from `$CREDENTIALS_DIRECTORY` (CredentialMissing, one line with the fix, when it was
    not passed), outside it from /etc/monitord/secrets, never from the working directory
    (the unit's is /).
    """
    from monitord.credentials import secret_path

    if env and os.environ.get(env):
        return os.environ[env]
    if path is None:
        return None
    return secret_path(path).read_text(encoding="utf-8").strip()
