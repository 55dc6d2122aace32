"""docs/station.md "Security": no other page may frame the station (clickjacking: a page
laid over the board, its button where ACK is, and a nurse's tap acknowledges an alarm
she never saw). The worst case is a page of another service on the station's own host
(another port): it is same-site, so the nurse's SameSite=Strict cookie goes with the
framed station and the frame would be logged in. In a real headless Chromium, with the
nurse logged in, such a page's frame of the station is refused by the browser (the
station's `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`): no board loads in
it. Without those headers this test fails (the frame loads the station's page)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from tests.servers import Mosquitto, free_port
from tests.station.station_kit import login_page, station_and_browser


def frames(tree: dict[str, object]) -> list[dict[str, object]]:
    """Every child frame of a Page.getFrameTree answer, depth first."""
    out: list[dict[str, object]] = []
    for child in tree.get("childFrames", []) or []:  # type: ignore[attr-defined]
        out.append(child["frame"])
        out.extend(frames(child))
    return out


async def test_another_page_cannot_frame_the_station(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, _, _, url, b):
        page = await b.new_page()
        await login_page(page, url, "alice")  # the nurse's cookie is in this browser
        evil = (
            "<!doctype html><title>lunch menu</title>"
            f'<iframe id="f" src="{url}/" width="1200" height="800"></iframe>'
        )

        async def menu(_: web.Request) -> web.Response:
            return web.Response(text=evil, content_type="text/html")

        app = web.Application()
        app.router.add_get("/", menu)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            other = await b.new_page()
            await other.goto(f"http://127.0.0.1:{port}/")
            await other.until("document.getElementById('f') !== null", 10, "the frame")
            # Navigated (refused or not) once the frame has a URL of its own in the tree.
            child: dict[str, object] = {}
            async with asyncio.timeout(20):
                while str(child.get("url", "about:blank")) == "about:blank":
                    tree = await other.send("Page.getFrameTree")
                    children = frames(tree["frameTree"])
                    assert len(children) == 1, children
                    child = children[0]
                    await asyncio.sleep(0.1)
            # Chromium puts its error page in a refused frame: the station's URL is only
            # its unreachableUrl, and no script of the station's runs there.
            assert str(child.get("url", "")).startswith("chrome-error://"), child
            assert child.get("unreachableUrl", "").startswith(url), child  # type: ignore[attr-defined]
            await other.close()
        finally:
            await runner.cleanup()
        await page.close()
