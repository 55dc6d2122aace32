"""BLE device simulators on an in-process bumble virtual link (see simulators/chair.py).

link = VirtualBleLink()
async with make_sim_device("ble-bpm", "SimCuff", link) as cuff:
    client_backend, scanner_backend = backends(link)
    ... run_ble_device(dev, desc, ctx, client_backend=..., scanner_backend=...)
    await cuff.send(SimEvent(Kind.BP, {"sys_mmHg": 120, ...}), at)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitord.config import DeviceConfig
from monitord.drivers.ble_gatt import BleLinkSettings, model_key
from monitord.models import Kind
from monitord.simulators.base import SimDevice, SimEvent
from monitord.simulators.ble.beurer import BeurerCuff
from monitord.simulators.ble.devices import SimCuff, SimOximeter, SimStrap, _Peripheral
from monitord.simulators.ble.link import VirtualBleLink
from monitord.simulators.bleak_bumble import backends

_BY_DRIVER: dict[str, type[_Peripheral]] = {
    "ble-bpm": SimCuff,
    "ble-hrm": SimStrap,
    "ble-plx": SimOximeter,
}
# Models whose simulator speaks as that model does, matched in the advertised name the
# way the driver picks its quirks (drivers/ble_gatt.py `model_key`), so a simulated
# "Beurer BM85" sends what the daemon, choosing the BM85's quirks by that name, expects
# from one. Only models with a public capture: the BM85 (simulators/ble/beurer.py); the
# BM59/BM48/ELITE900 share its quirks by report only, what they send is not known.
_BY_MODEL: dict[str, dict[str, type[_Peripheral]]] = {
    "ble-bpm": {"BM85": BeurerCuff},
}


class VirtualLink(VirtualBleLink):
    """`async with VirtualLink() as link:` a virtual link with its bleak backends bound,
    as simulators/chair.py uses it for simulated chairs (one link per chair)."""

    def __init__(self) -> None:
        super().__init__()
        self.client_backend, self.scanner_backend = backends(self)

    async def __aenter__(self) -> VirtualLink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def make_sim_device(driver_name: str, name: str, link: VirtualBleLink, **kw: Any) -> SimDevice:
    """A simulated peripheral for a BLE driver name, advertising as `name` once entered:
    the model's own simulator when `name` names one (`_BY_MODEL`), else the driver's
    generic one; `kw` go to its class (SimCuff: `episodic`, `memory`)."""
    try:
        cls = _BY_DRIVER[driver_name]
    except KeyError:
        raise ValueError(
            f"no BLE simulator for driver {driver_name!r} (known: {', '.join(_BY_DRIVER)})"
        ) from None
    key = model_key(name)
    for model, model_cls in _BY_MODEL.get(driver_name, {}).items():
        if model in key:
            cls = model_cls
            break
    return cls(name, link, **kw)


def attach_simulated(
    dev: DeviceConfig, chair: str, link: VirtualBleLink, start: datetime | None = None
) -> tuple[SimDevice, DeviceConfig]:
    """For a device with `simulate = ...`: its simulator, advertising under a name unique
    on the link (the configured `name`, else `{chair}-{id}`), and the config the BLE link
    should run with so that it finds exactly that simulator by name. `start`: the chair's
    start (a simulated cuff's memory records are stamped before it; default now).

        sim, run_dev = attach_simulated(dev, chair.id, link)
        client, scanner = backends(link)
        async with sim:
            run_ble_device(run_dev, desc, ctx, client_backend=client, scanner_backend=scanner)
    """
    name = dev.settings_as(BleLinkSettings).name or f"{chair}-{dev.id}"[:20]  # 20: fits an ad
    sim = make_sim_device(dev.driver, name, link, **_cuff_options(dev, start))
    return sim, dev.with_settings(name=name, address=None)


def _cuff_options(dev: DeviceConfig, start: datetime | None) -> dict[str, Any]:
    """A simulated cuff plays its config: `quirks` with `episodic` (it connects only after
    a measurement, as home cuffs do) and `simulate_memory` (old records it holds, stamped
    `age_s` before the chair's start)."""
    if dev.driver != "ble-bpm":
        return {}
    now = start or datetime.now(UTC).replace(microsecond=0)
    memory = [
        (
            SimEvent(
                Kind.BP,
                {"sys_mmHg": m.sys, "dia_mmHg": m.dia, "map_mmHg": m.map, "pulse_bpm": m.pulse},
            ),
            now - timedelta(seconds=m.age_s),
        )
        for m in dev.simulate_memory
    ]
    episodic = "episodic" in {q.strip().lower() for q in (dev.quirks or [])}
    return {"episodic": episodic, "memory": memory}


__all__ = [
    "BeurerCuff",
    "SimCuff",
    "SimOximeter",
    "SimStrap",
    "VirtualBleLink",
    "VirtualLink",
    "attach_simulated",
    "backends",
    "make_sim_device",
]
