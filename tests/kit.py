"""Shared test helpers: waiting for an outcome, a recording DeviceContext, and an MQTT
observer standing in for the nurses' station.

`eventually` bounds how long an outcome may take to happen (a liveness bound: the tests
never assert how fast anything is). `RecordingContext` is a small real
`monitord.drivers.base.DeviceContext` that records what a transport and protocol report, for tests
below the daemon (the daemon's own context is `monitord.chair_inputs.DeviceCtx`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from monitord.chair import ChairRuntime
from monitord.clock import SimClock, WallClock
from monitord.config import DeviceConfig, StorageConfig, loads_config
from monitord.drivers.base import Reject
from monitord.engine import AlertEngine
from monitord.engine.rules import RuleSet
from monitord.hub import Hub
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from monitord.storeguard import StoreGuard
from monitord.techalarm import TechAlarms


def device_config(**table: Any) -> DeviceConfig:
    """A device as its flat `[[chairs.devices]]` TOML table: the transport's and the
    driver's keys (port, address, poll_interval_s ...) next to DeviceConfig's own. The same
    validation as `DeviceConfig(**table)`, which a type checker only allows with the model's
    own fields."""
    return DeviceConfig.model_validate(table)


class SetClock(WallClock):
    """A chair's wall clock that the test sets (`t`, epoch s); in the daemon it is
    monotonic-anchored. For `make_chair(..., clock=SetClock(t0))`."""

    def __init__(self, t: float) -> None:
        super().__init__()
        self.t = t

    def now(self) -> float:
        return self.t

    def horizon(self) -> float:
        return self.t

    def follow(self, idle: Callable[[float], bool]) -> str | None:
        return None


def make_chair(
    tmp_path: Path, hub: Hub, alerts: str = "", clock: WallClock | SimClock | None = None
) -> ChairRuntime:
    """A real chair (`chair-1`, its engine with `alerts`, the [alerts] table's TOML body)
    on a real outbox that commits on the caller, without devices or sinks: for tests of
    what the chair does with the items it is given."""
    cfg = loads_config(
        '[site]\nid = "kit"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[alerts]\n{alerts}\n[[chairs]]\nid = "chair-1"\n'
    )
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path, StorageConfig(path=path), memory=True)
    chair_cfg = cfg.chairs[0]
    engine = AlertEngine(RuleSet.from_overrides(cfg.alerts), {"chair-1": chair_cfg.protocol})
    guard = StoreGuard(outbox, TechAlarms())
    return ChairRuntime(chair_cfg, engine, clock or WallClock(), guard, hub)


async def eventually(pred: Callable[[], object], within_s: float = 30.0, what: str = "") -> None:
    """Poll `pred` on the event loop until it is true; fail after `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within_s} s: {what or pred}")
        await asyncio.sleep(0.02)


async def stop_racing(
    start: Callable[[], Coroutine[Any, Any, object]],
    wake: Callable[[], object],
    rounds: int = 20,
    park_turns: int = 3,
) -> None:
    """`rounds` times: run `start()` as a task, let it park in its wait (`park_turns` loop
    turns), then `wake()` it and cancel it in the same loop turn, as a stop (SIGTERM) that
    comes with work would. The task must end cancelled each time: Python 3.11's
    asyncio.wait_for loses that cancellation and the loop went on (monitord/aio.py)."""
    for _ in range(rounds):
        task = asyncio.create_task(start())
        for _ in range(park_turns):
            await asyncio.sleep(0)
        wake()
        task.cancel()
        try:
            await asyncio.wait_for(task, 10)
        except asyncio.CancelledError:
            pass
        except TimeoutError:
            raise AssertionError("the stop was lost: the task went on waiting") from None
        assert task.cancelled(), "the task ended without being cancelled"


@dataclass
class RecordingContext:
    chair: str = "chair-1"
    device: str = "dev-1"
    readings: list[Reading] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    links: list[tuple[bool, str]] = field(default_factory=list)

    def emit(self, reading: Reading) -> None:
        self.readings.append(reading)

    def reject(self, reject: Reject) -> None:
        self.rejects.append(reject)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def link(self, up: bool, reason: str = "") -> None:
        self.links.append((up, reason))

    @property
    def link_up(self) -> bool:
        return bool(self.links) and self.links[-1][0]

    def of(self, kind: Kind) -> list[Reading]:
        return [r for r in self.readings if r.kind is kind]

    async def until(self, pred: Callable[[], bool], what: str, limit_s: float = 15.0) -> None:
        """`eventually`, failing with what this context saw last."""
        try:
            await eventually(pred, limit_s, what)
        except AssertionError:
            raise AssertionError(
                f"never happened: {what}; links={self.links} rejects={self.rejects[-5:]} "
                f"readings={[(r.kind, dict(r.values)) for r in self.readings[-5:]]}"
            ) from None


class Observer:
    """A nurse-station client: persistent session (clean_session=False), QoS 1,
    reconnects on its own; records (topic, payload, retained) in arrival order. Entering
    waits for its first subscription; `**client_kw` go to aiomqtt.Client (TLS, login)."""

    def __init__(
        self, broker: Any, topics: list[str], ident: str | None = None, **client_kw: Any
    ) -> None:
        from tests.servers import unique_name

        self.broker, self.topics, self.kw = broker, topics, client_kw
        self.ident = ident or unique_name("nurse")
        self.msgs: list[tuple[str, Any, bool]] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def of(self, suffix: str) -> list[Any]:
        return [p for t, p, _ in self.msgs if t.endswith(suffix)]

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.broker.host,
                    self.broker.port,
                    identifier=self.ident,
                    clean_session=False,
                    timeout=2,
                    **self.kw,
                ) as c:
                    await c.subscribe([(t, 1) for t in self.topics])
                    self.connected.set()
                    async for m in c.messages:
                        assert isinstance(m.payload, bytes)
                        self.msgs.append((str(m.topic), json.loads(m.payload), m.retain))
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.1)

    async def __aenter__(self) -> Observer:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def sighup_default() -> None:
    """A `preexec_fn`: the child's SIGHUP at its default, whatever the test run's. A suite
    run under `nohup` ignores SIGHUP, every child inherits that, and monitord keeps an
    ignored SIGHUP ignored (monitord/hangup.py): the SIGHUP tests then saw nothing."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
