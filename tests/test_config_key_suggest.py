"""An unknown key names the nearest known key of its table (monitord/config_keys.py), in
every section: a `baud` in a serial device's table said "unknown key" and nothing more.
The keys known are the schema's own at that place; a device table's are its own and its
driver's (the TOML table is flat); a key near none says "unknown key" alone."""

from __future__ import annotations

import pytest

from monitord.config import ConfigError, loads_config
from monitord.drivers.registry import DRIVERS

SITE = '[site]\nid = "c"\n'
CHAIR = '[[chairs]]\nid = "chair-1"\n'


def _device(driver: str, key: str) -> str:
    serial = DRIVERS[driver].transport == "serial"
    own = 'port = "/dev/ttyUSB0"' if serial else 'address = "AA:BB:CC:DD:EE:FF"'
    return f'{SITE}{CHAIR}[[chairs.devices]]\nid = "d"\ndriver = "{driver}"\n{own}\n{key} = 1\n'


CASES = [
    (_device("nonin-2", "baud"), "chairs[0].devices[0].baud", "baudrate"),
    (_device("masimo-ascii", "silence"), "chairs[0].devices[0].silence", "silence_s"),
    (
        _device("intellivue", "poll_intrval_s"),
        "chairs[0].devices[0].poll_intrval_s",
        "poll_interval_s",
    ),
    (_device("ble-bpm", "adress"), "chairs[0].devices[0].adress", "address"),
    (f'[site]\nid = "c"\ntimezon = "UTC"\n{CHAIR}', "site.timezon", "timezone"),
    (f'{SITE}[mqtt]\nhots = "h"\n{CHAIR}', "mqtt.hots", "host"),
    (f'{SITE}[mqtt.tls]\nca_fil = "x"\n{CHAIR}', "mqtt.tls.ca_fil", "ca_file"),
    (f'{SITE}{CHAIR}protocl = "x"\n', "chairs[0].protocl", "protocol"),
    (f"{SITE}[storage]\nretention_day = 7\n{CHAIR}", "storage.retention_day", "retention_days"),
]


@pytest.mark.parametrize(("toml", "where", "near"), CASES, ids=[c[1] for c in CASES])
def test_an_unknown_key_names_the_nearest_known_key(toml: str, where: str, near: str) -> None:
    with pytest.raises(ConfigError) as e:
        loads_config(toml)
    assert e.value.lines == [f"<config>: {where}: unknown key (did you mean {near}?)"]


@pytest.mark.parametrize("key", ["no_such_key", "settings", "ignored"])
def test_a_key_near_none_or_internal_is_unknown_alone(key: str) -> None:
    # `settings` and `ignored` are the device model's internal fields: never suggested
    with pytest.raises(ConfigError) as e:
        loads_config(_device("nonin-2", key))
    assert e.value.lines == [f"<config>: chairs[0].devices[0].{key}: unknown key"]


def test_a_device_key_is_suggested_from_its_own_drivers_keys_only() -> None:
    # poll_interval_s is IntelliVue's: an oximeter's `poll_interval` is unknown alone (a
    # key of another driver would be ignored with a warning, not an error to fix)
    with pytest.raises(ConfigError) as e:
        loads_config(_device("nonin-2", "poll_interval"))
    assert e.value.lines == ["<config>: chairs[0].devices[0].poll_interval: unknown key"]
