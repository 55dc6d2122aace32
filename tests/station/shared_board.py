"""One real station per board, shared by the cases of a module that only look at that
board (a fresh page each, on a browser of its own): a station's start and stop
cost about 5 s of a 2-core machine, more than most such cases' own work. A case that
changes what the station holds (taps that send, a broker stopped, alarms raised under a
finger) keeps a station of its own (station_kit.station_page).

A module uses it through a module-scoped fixture on the module's event loop:

    pytestmark = pytest.mark.asyncio(loop_scope="module")

    @pytest_asyncio.fixture(scope="module", loop_scope="module")
    async def boards(mosquitto_server, tmp_path_factory):
        async with shared_boards(mosquitto_server, tmp_path_factory) as b:
            yield b
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.kit import eventually
from tests.servers import Mosquitto, unique_name
from tests.station.cdp import Page, browser
from tests.station.station_kit import (
    STATION,
    ChairPublisher,
    Proc,
    login_page,
    mqtt_login,
    show_logs,
    station_config,
    station_process,
)

Fill = Callable[[ChairPublisher], Awaitable[Any]]


@dataclass
class Served:
    """A station showing one board: its process, URL, publisher and what `fill` returned."""

    proc: Proc
    url: str
    pub: ChairPublisher
    filled: Any


class Boards:
    """The module's stations, one per board name."""

    def __init__(
        self, broker: Mosquitto, tmp: pytest.TempPathFactory, stack: contextlib.AsyncExitStack
    ) -> None:
        self.broker, self.tmp, self.stack = broker, tmp, stack
        self._served: dict[str, Served] = {}

    async def _station(self, name: str, fill: Fill) -> Served:
        if name not in self._served:
            # A prefix of its own: no retained message of another board or test reaches it.
            prefix = f"test/{unique_name('p')}"
            d = self.tmp.mktemp("station")
            cfg = station_config(d, self.broker, acl=False, prefix=prefix)
            # An id of its own: the module's stations run at once, and two with one id
            # (one MQTT client id) take the broker connection from each other.
            text = cfg.read_text()
            own = f'id = "{STATION}-{len(self._served) + 1}"\nlisten'
            assert f'id = "{STATION}"\nlisten' in text
            cfg.write_text(text.replace(f'id = "{STATION}"\nlisten', own))
            c = await self.stack.enter_async_context(mqtt_login(self.broker))
            proc, url = await self.stack.enter_async_context(
                station_process(cfg, d / "station.log")
            )
            # Its board on the broker, the station connected to it before any page: a page
            # loaded before that shows a NOT LIVE gap under a second (its banner takes the room
            # the cases measure).
            await eventually(
                lambda: "station MQTT: connected" in proc.output(), 20, "station on the broker"
            )
            pub = ChairPublisher(c, prefix)
            self._served[name] = Served(proc, url, pub, await fill(pub))
        return self._served[name]

    @contextlib.asynccontextmanager
    async def page(
        self,
        name: str,
        fill: Fill,
        size: tuple[int, int] = (1400, 900),
        prepare: Callable[[Page], Awaitable[None]] | None = None,
    ) -> AsyncIterator[tuple[Page, Served]]:
        """A fresh page logged in as alice (audio armed) on board `name`'s station, the
        board published by `fill` when the station started; the station's log shown if
        the case fails. `prepare`: what the case sets on its page before it loads (the
        screen's emulation: the board is there at once, never drawn at another size)."""
        served = await self._station(name, fill)
        # A browser of its own: nothing of another case's page (its login's cookie, its
        # storage) in this one.
        async with show_logs(served.proc), browser(size=size) as b:
            page = await b.new_page()
            try:
                if prepare is not None:
                    await prepare(page)
                await login_page(page, served.url, "alice")
                await page.until("window.__monitordAudio.armed", 10, "audio armed")
                yield page, served
            finally:
                await page.close()


@contextlib.asynccontextmanager
async def shared_boards(broker: Mosquitto, tmp: pytest.TempPathFactory) -> AsyncIterator[Boards]:
    broker.ensure_running()
    async with contextlib.AsyncExitStack() as stack:
        yield Boards(broker, tmp, stack)
