"""Real Node-RED (tests/forward/nodered/: the npm package at the version its
package-lock.json pins, installed by `scripts/setup.sh test`) running
config/nodered/alerts-flow.json as a user imports it: the broker node pointed at the
test broker (host, port, the CA file), the account's password given, and the debug node
that says "replace with your notifier" replaced by a notifier: a function node that
writes each message it is given (`topic`, `payload`, `chair`, `alert_id`) as a JSON
line through a core `file` node. The ACK inject node is pressed through the editor's
own endpoint (POST /inject/<id> with the values typed into it, as "inject now" with
edited properties does).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.acl_kit import AclMosquitto
from tests.forward.forward_kit import NODERED_FILE
from tests.kit import eventually

PINNED = Path(__file__).resolve().parent / "nodered"  # package.json, package-lock.json
# Installed in the virtualenv running the tests by `scripts/setup.sh test`.
RED_JS = Path(sys.prefix) / "node-red" / "node_modules" / "node-red" / "red.js"


def flow_nodes() -> list[dict[str, Any]]:
    nodes = json.loads(NODERED_FILE.read_text())
    assert isinstance(nodes, list)
    return nodes


def node(nodes: list[dict[str, Any]], node_id: str) -> dict[str, Any]:
    (found,) = [n for n in nodes if n["id"] == node_id]
    return found


def account() -> str:
    """The broker account the shipped flow logs in as."""
    return str(node(flow_nodes(), "monitord-broker")["credentials"]["user"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeRed:
    """`node red.js` with its own user directory, the editor on a loopback port."""

    def __init__(
        self, workdir: Path, broker: AclMosquitto, nodes: list[dict[str, Any]] | None = None
    ) -> None:
        """`nodes`: the flow as the user edited it (default: as shipped)."""
        node_bin = shutil.which("node")
        if node_bin is None or not RED_JS.exists():
            pytest.fail(
                "Node-RED is not installed: scripts/setup.sh test installs Debian's nodejs "
                f"and npm and installs {PINNED}/package-lock.json into {RED_JS.parents[2]}",
                pytrace=False,
            )
        assert broker.tls is not None
        self.node_bin, self.dir, self.port = node_bin, workdir, free_port()
        self.out = workdir / "notified.jsonl"
        self.log = workdir / "node-red.log"
        nodes = flow_nodes() if nodes is None else nodes
        b = node(nodes, "monitord-broker")
        user = b["credentials"]["user"]
        b.update(broker=broker.host, port=str(broker.port))
        del b["credentials"]  # an exported flow carries none: the user types them in
        node(nodes, "monitord-tls")["ca"] = str(broker.tls.ca_file)
        notify = node(nodes, "notify")
        assert notify["type"] == "debug" and "replace" in notify["name"], notify
        nodes.remove(notify)
        nodes += [
            {
                "id": "notify",
                "type": "function",
                "z": notify["z"],
                "name": "test notifier",
                "func": "msg.payload = JSON.stringify({topic: msg.topic, payload: "
                "msg.payload, chair: msg.chair, alert_id: msg.alert_id});\nreturn msg;",
                "outputs": 1,
                "wires": [["notify-file"]],
            },
            {
                "id": "notify-file",
                "type": "file",
                "z": notify["z"],
                "filename": str(self.out),
                "filenameType": "str",
                "appendNewline": True,
                "createDir": False,
                "overwriteFile": "false",
                "encoding": "utf8",
                "wires": [[]],
            },
        ]
        (workdir / "flows.json").write_text(json.dumps(nodes))
        creds = {"monitord-broker": {"user": user, "password": broker.users[user]}}
        (workdir / "flows_cred.json").write_text(json.dumps(creds))
        (workdir / "settings.js").write_text(
            "module.exports = {\n"
            f"  uiHost: '127.0.0.1', uiPort: {self.port}, flowFile: 'flows.json',\n"
            "  credentialSecret: false, flowFilePretty: true,\n"
            "  telemetry: {enabled: false, updateNotification: false},\n"
            "  diagnostics: {enabled: false},\n"
            "  logging: {console: {level: 'info'}},\n"
            "};\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def launch(self) -> None:
        env = {**os.environ, "NODE_RED_HOME": str(self.dir)}
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [self.node_bin, str(RED_JS), "--userDir", str(self.dir),
                 "--settings", str(self.dir / "settings.js"), "flows.json"],
                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip

    async def start(self) -> None:
        """Launched, its flows started and its broker node connected (this run's log)."""
        seen = len(self.output())
        self.launch()

        def connected() -> bool:
            return "Connected to broker" in self.output()[seen:]

        try:
            await eventually(
                lambda: connected() or (self.proc is not None and self.proc.poll() is not None),
                30,
                "Node-RED connected to the broker",
            )
        except AssertionError:
            pass
        assert connected(), (
            "Node-RED never connected to the broker (no notification can reach anyone); "
            f"its log:\n{self.output()[seen:][-2500:]}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    async def inject(self, node_id: str, props: list[dict[str, str]]) -> None:
        """Press an inject node with these property values (the editor's "inject now")."""
        body = json.dumps({"__user_inject_props__": props}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/inject/{node_id}",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )

        def post() -> int:
            # 30 s: Node-RED's single thread answers an inject in ms, but a loaded CI machine
            # (3 workers, Chromium beside) once took over 10 s (URLError, a timeout).
            with urllib.request.urlopen(req, timeout=30) as r:
                return int(r.status)

        assert await asyncio.to_thread(post) == 200

    def notified(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(ln) for ln in self.out.read_text().splitlines() if ln.strip()]
