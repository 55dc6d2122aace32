"""`[[chairs.devices]]` of the config schema (extracted from monitord/config.py): a
device's own keys, and the driver's keys validated by the model the driver names. The
driver catalog is registered by drivers/registry.py (`use_drivers`): this module never
imports `drivers/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import (
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from monitord.config_base import Ident, PathSetting
from monitord.config_base import Strict as _Strict

# A simulated chair's virtual-clock speed: `simulate_speed`, `monitord demo --speed`.
MAX_SIMULATE_SPEED = 10_000


class SimMemoryRecord(_Strict):
    """One record in a simulated cuff's memory (`simulate_memory`): what it pushes on
    connect, stamped `age_s` seconds before the chair starts (docs/operations.md)."""

    sys: Annotated[float, Field(gt=0, lt=400)]
    dia: Annotated[float, Field(gt=0, lt=400)]
    map: Annotated[float, Field(gt=0, lt=400)] | None = None
    pulse: Annotated[float, Field(gt=0, lt=400)] | None = None
    age_s: Annotated[float, Field(gt=0, le=10 * 365 * 86_400)]


class DeviceOptions(_Strict):
    """Base of the settings a transport or a driver adds to a `[[chairs.devices]]` table.

    A transport owns its link settings (drivers/serial_link.py `SerialLinkSettings`:
    port, baud rate ...; drivers/ble_gatt.py `BleLinkSettings`: address, name) and a
    driver owns its options by extending them (drivers/intellivue.py: `poll_interval_s`),
    as a Telegraf plugin owns its struct. The TOML table stays flat: the keys that are not
    `DeviceConfig` fields are validated by the model the device's driver names.
    Validation context: `simulated` (the device has `simulate`), `driver` (its name) and
    `silence_s` (the device's, when set in its table; else the driver's default applies).
    """

    def poll_s(self) -> float | None:
        """A polled device's poll interval, default included (it talks only to answer, so
        the interval adds to its driver's `period_s`); None for a device that streams."""
        return None


_O = TypeVar("_O", bound=DeviceOptions)


class DriverSchema(Protocol):
    """What the config needs to know of a driver (a `monitord.drivers.base.DriverDescriptor`)."""

    @property
    def name(self) -> str: ...

    @property
    def transport(self) -> str: ...

    @property
    def settings(self) -> type[DeviceOptions]: ...

    @property
    def accepted_quirks(self) -> frozenset[str]: ...

    @property
    def period_s(self) -> float | None:
        """The device's output period (serial drivers); None when it has none."""
        ...

    @property
    def one_lost_s(self) -> float | None:
        """The interval between two decoded lines or packets around one lost to line
        noise (serial drivers); None when the device has no output period."""
        ...

    @property
    def default_silence_s(self) -> float | None:
        """The silence a device of this driver gets when it sets none (serial drivers)."""
        ...


# The drivers the config is validated against, registered by drivers/registry.py when it
# is imported (the registry imports this module, never the reverse).
_drivers: Mapping[str, DriverSchema] | None = None


def use_drivers(drivers: Mapping[str, DriverSchema]) -> None:
    """Register the driver catalog (drivers/registry.py does this on import)."""
    global _drivers
    _drivers = drivers


def driver_schema(name: str) -> DriverSchema | None:
    """The registered driver `name` (None if unknown) for checks beyond the schema."""
    return _catalog().get(name)


def _catalog() -> Mapping[str, DriverSchema]:
    if _drivers is None:  # a programming error: no entry point imported the registry
        raise RuntimeError("no device drivers registered: import monitord.drivers.registry first")
    return _drivers


# Keys of a device table that are DeviceConfig's own; all others are the driver's.
_COMMON_KEYS = frozenset(
    {"id", "driver", "quirks", "silence_s", "simulate", "simulate_speed", "simulate_memory"}
)


class DeviceConfig(_Strict):
    """One `[[chairs.devices]]` table. Its own keys are below; every other key belongs to
    the device's driver and is validated by the settings model its descriptor names
    (`settings`, typed by `settings_as(...)`), so the table stays flat in TOML."""

    id: Ident
    driver: str
    # Quirk names for a device that deviates from its spec (docs/devices.md). Unset: the
    # model table picks them by advertised name; a list (even empty) replaces that choice.
    quirks: list[str] | None = None
    silence_s: Annotated[float, Field(gt=0)] | None = None
    simulate: PathSetting | None = None
    simulate_speed: Annotated[float, Field(gt=0, le=MAX_SIMULATE_SPEED)] = 1.0
    simulate_memory: list[SimMemoryRecord] = Field(default_factory=list)  # ble-bpm only
    # The transport's and the driver's keys (port, address, poll_interval_s ...),
    # validated by the driver's model; last: its validator needs `driver` and `simulate`.
    settings: SerializeAsAny[DeviceOptions] = Field(default_factory=DeviceOptions)
    # Keys of another driver's settings (a `poll_interval_s` on an oximeter): accepted and
    # ignored as they always were, and warned about (monitord/config_checks.py).
    ignored: tuple[str, ...] = Field(default=(), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        # The TOML table is flat: gather the keys that are not ours into `settings`.
        # (Only code passes a built settings model; a `settings` key in TOML is unknown.)
        if not isinstance(data, dict) or isinstance(data.get("settings"), DeviceOptions):
            return data
        own = {k: v for k, v in data.items() if k in _COMMON_KEYS}
        rest = {k: v for k, v in data.items() if k not in _COMMON_KEYS}
        drivers = _catalog()
        name = data.get("driver")
        desc = drivers.get(name) if isinstance(name, str) else None
        if desc is not None:
            mine = desc.settings.model_fields
            anyones = {f for d in drivers.values() for f in d.settings.model_fields}
            ignored = tuple(k for k in rest if k not in mine and k in anyones)
            rest = {k: v for k, v in rest.items() if k not in ignored}
            own["ignored"] = ignored
        return {**own, "settings": rest}

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Dumped flat, as written in TOML (capture file headers record it this way).
        out: dict[str, Any] = handler(self)
        settings = out.pop("settings", None) or {}
        return {**out, **settings}

    @field_validator("driver")
    @classmethod
    def _driver(cls, v: str) -> str:
        drivers = _catalog()
        if v not in drivers:
            raise ValueError(f"unknown driver {v!r} (known: {', '.join(sorted(drivers))})")
        return v

    @field_validator("quirks")
    @classmethod
    def _quirks(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        desc = _catalog().get(info.data.get("driver", ""))
        if v is None or desc is None:  # an unknown driver is reported on its own field
            return v
        known = desc.accepted_quirks
        for q in v:
            if q not in known:
                raise ValueError(
                    f"unknown quirk {q!r} for driver {desc.name!r} "
                    f"(known: {', '.join(sorted(known)) or 'none'})"
                )
        return v

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, v: Any, info: ValidationInfo) -> Any:
        desc = _catalog().get(info.data.get("driver", ""))
        if desc is None:  # unknown driver: reported on its own field, nothing to check by
            return DeviceOptions()
        if isinstance(v, desc.settings):
            return v
        context = {
            "simulated": info.data.get("simulate") is not None,
            "driver": desc.name,
            "silence_s": info.data.get("silence_s"),
        }
        return desc.settings.model_validate(v, context=context)

    @model_validator(mode="after")
    def _memory(self) -> DeviceConfig:
        if self.simulate_memory and (self.simulate is None or self.driver != "ble-bpm"):
            raise ValueError("simulate_memory is for a simulated ble-bpm cuff (with simulate)")
        return self

    def settings_as(self, model: type[_O]) -> _O:
        """This device's settings as the transport or driver model that owns them."""
        if not isinstance(self.settings, model):
            raise TypeError(f"device {self.id!r} ({self.driver}) has no {model.__name__}")
        return self.settings

    def with_settings(self, **update: Any) -> DeviceConfig:
        """A copy with some of the driver's settings replaced (simulators use it)."""
        return self.model_copy(update={"settings": self.settings.model_copy(update=update)})
