"""A small Chrome DevTools Protocol client over aiohttp websockets, for Debian's headless
Chromium (no chromium-driver needed): start the browser, open a page, evaluate JS, tap
an element with a real (trusted) mouse event, take a screenshot.

One Chromium per test process (per autoplay policy, a command-line flag), started at the
first `Browser` and kept: each `Browser` is a browser context of its own in it (Chrome's
incognito profile: no cookie, storage or cache of another test's), its pages closed with
it. A Chromium start costs ~0.6 s of CPU and the suite opens ~250 browsers."""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.kit import eventually

CHROMIUM = "/usr/bin/chromium"


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.console: list[str] = []
        self.target_id = ""  # the tab's DevTools target (Browser.new_page)
        self.context_id = ""  # its browser context (the test's `Browser`)
        # DevTools events a test listens to (method -> handler of its params), e.g.
        # `Fetch.requestPaused` to hold a request of the page on its way.
        self.on: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            fut = self._waiting.pop(data.get("id", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(data)
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"]["args"]
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append("EXCEPTION " + json.dumps(data["params"]["exceptionDetails"]))
            elif (handler := self.on.get(data.get("method", ""))) is not None:
                handler(data["params"])

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        i = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[i] = fut
        await self.ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
        async with asyncio.timeout(30):
            data = await fut
        if "error" in data:
            raise RuntimeError(f"{method}: {data['error']}")
        return dict(data.get("result", {}))

    async def js(self, expr: str) -> Any:
        r = await self.send(
            "Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in r:
            raise RuntimeError(f"JS error in {expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.until("document.readyState === 'complete'", 30, "page loaded")

    async def until(self, expr: str, within_s: float = 30.0, what: str = "") -> Any:
        """Poll a JS expression until it is truthy (a DOM state, never a duration). An
        expression that throws (`querySelector(...)` is null: the tile is not drawn yet)
        counts as not yet; the last error is in the failure message."""
        value: Any = None
        error = ""
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            try:
                value, error = await self.js(expr), ""
            except RuntimeError as e:
                value, error = None, str(e)[:300]
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"not reached within {within_s} s: {what or expr}; "
                    f"{error + '; ' if error else ''}console: {self.console[-5:]}"
                )
            await asyncio.sleep(0.05)

    async def tap(self, selector: str) -> None:
        """A trusted click (a user gesture, as a nurse's tap) in the middle of `selector`."""
        box = await self.until(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e || e.offsetParent === null) return null;"
            " const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()",
            30,
            f"{selector} visible",
        )
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box["x"],
                y=box["y"],
                button="left",
                clickCount=1,
            )

    async def type_into(self, selector: str, text: str) -> None:
        await self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            f" e.value = {json.dumps(text)}; return true; }})()"
        )

    async def screenshot(self, path: Path) -> None:
        r = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(r["data"]))

    async def other_tab_in_front(self) -> str:
        """Open another tab in this page's window and bring it to the front (the EHR over
        the station): this page is in the background, hidden. Returns the tab's target."""
        tab = await self.send(
            "Target.createTarget", url="about:blank", browserContextId=self.context_id
        )
        await self.send("Target.activateTarget", targetId=tab["targetId"])
        return str(tab["targetId"])

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self.ws.close()


class _Chromium:
    """A headless Chromium kept for the test process: stopped when the process exits, and
    killed by the kernel if the process dies without exiting (util-linux's `setpriv
    --pdeathsig`: a `preexec_fn` is not safe in a process with threads)."""

    def __init__(self, autoplay: bool) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="station-chromium-"))
        args = [
            "setpriv",
            "--pdeathsig=KILL",
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # tests run as root in CI containers
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={self.dir}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ]
        if autoplay:
            args.append("--autoplay-policy=no-user-gesture-required")
        self.proc = subprocess.Popen(
            [*args, "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        self.port = 0
        atexit.register(self.stop)

    async def started(self) -> int:
        port_file = self.dir / "DevToolsActivePort"
        await eventually(
            lambda: port_file.exists() and port_file.read_text().count("\n") >= 1,
            30,
            "chromium DevTools port",
        )
        self.port = int(port_file.read_text().split()[0])
        return self.port

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


_CHROMIUMS: dict[bool, _Chromium] = {}


class Browser:
    def __init__(self, autoplay: bool = True, size: tuple[int, int] = (1400, 900)) -> None:
        self.autoplay = autoplay
        self.size = size
        self.http: aiohttp.ClientSession | None = None
        self.port = 0
        self.context_id = ""
        self._root: Page | None = None  # the browser's own DevTools session
        self._pages = 0

    async def __aenter__(self) -> Browser:
        chromium = _CHROMIUMS.get(self.autoplay)
        if chromium is None or chromium.proc.poll() is not None:
            if chromium is not None:
                chromium.stop()  # it died (a crash): a new one for the tests after it
            chromium = _CHROMIUMS[self.autoplay] = _Chromium(self.autoplay)
        self.port = chromium.port or await chromium.started()
        self.http = aiohttp.ClientSession()
        async with self.http.get(f"http://127.0.0.1:{self.port}/json/version") as r:
            url = (await r.json())["webSocketDebuggerUrl"]
        self._root = Page(await self.http.ws_connect(url, max_msg_size=0))
        ctx = await self._root.send("Target.createBrowserContext")
        self.context_id = str(ctx["browserContextId"])
        return self

    async def new_page(self) -> Page:
        assert self.http is not None and self._root is not None
        # The context's first page opens its window (of the browser's size); the next ones
        # are tabs in it, in front, as a nurse's second tab.
        window = {} if self._pages else {"width": self.size[0], "height": self.size[1]}
        target = await self._root.send(
            "Target.createTarget", url="about:blank", browserContextId=self.context_id, **window
        )
        self._pages += 1
        ws = await self.http.ws_connect(
            f"ws://127.0.0.1:{self.port}/devtools/page/{target['targetId']}", max_msg_size=0
        )
        page = Page(ws)
        page.target_id = str(target["targetId"])
        page.context_id = self.context_id
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=self.size[0],
            height=self.size[1],
            deviceScaleFactor=1,
            mobile=False,
        )
        return page

    async def clear_cookies(self) -> None:
        """Forget this context's cookies (its login): a page opened next starts at the login
        form, as on a browser that never logged in."""
        assert self._root is not None
        await self._root.send("Storage.clearCookies", browserContextId=self.context_id)

    async def close_tab(self, page: Page) -> None:
        """Close the tab itself (as a nurse closing the wallboard), not only our DevTools
        connection to it: its scripts stop and its event stream is cut."""
        assert self.http is not None
        await page.close()
        async with self.http.get(f"http://127.0.0.1:{self.port}/json/close/{page.target_id}") as r:
            assert r.status == 200, await r.text()

    async def __aexit__(self, *exc: object) -> None:
        # The context's pages close with it: nothing of this test's left for the next.
        if self._root is not None:
            with contextlib.suppress(Exception):
                await self._root.send(
                    "Target.disposeBrowserContext", browserContextId=self.context_id
                )
            await self._root.close()
        if self.http is not None:
            await self.http.close()


@contextlib.asynccontextmanager
async def browser(**kw: Any) -> AsyncIterator[Browser]:
    async with Browser(**kw) as b:
        yield b
