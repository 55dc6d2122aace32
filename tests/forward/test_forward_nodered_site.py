"""config/nodered/alerts-flow.json at a site not named `clinic-north` (every site but
the example's), set up as its instructions say (the tab's description, docs/operations.md
"Forwarding alerts"). Before: neither said the site is written in the flow (the topic of
the node the alerts come in by, the code building an ACK's topic); a site importing it
as told had Node-RED "Connected to broker", subscribed to `monitord/clinic-north/...`,
which its ACL refuses, and not one alert forwarded, with nothing in Node-RED's log.
Now both name the nodes to change; changing the site in those (and only those) forwards
the site's alerts and acknowledges them on its chairs (a real Node-RED, the shipped ACL
for that site on a real mosquitto).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.acl_kit import REPO, SITE
from tests.forward.forward_kit import CHAIR, WALLBOARD, login, passwords, start_broker
from tests.forward.nodered_kit import NodeRed, account, flow_nodes
from tests.forward.test_forward_nodered import LAST
from tests.kit import eventually
from tests.servers import TlsMaterial, session_tmpdir

OTHER = "clinic-south"


def info() -> str:
    (tab,) = [n for n in flow_nodes() if n["type"] == "tab"]
    return str(tab["info"])


def named_for_site(text: str) -> set[str]:
    """The nodes the instructions say the site is written in: the backquoted names in
    the sentence that says to change `clinic-north` to the site."""
    found: set[str] = set()
    for sentence in re.split(r"(?<=[.;])\s", " ".join(text.split())):
        if f"`{SITE}`" in sentence and "site" in sentence:
            found |= set(re.findall(r"`([^`]+)`", sentence)) - {SITE}
    return found


def holding_site(nodes: list[dict[str, Any]]) -> set[str]:
    return {str(n["name"]) for n in nodes if SITE in json.dumps(n) and n["type"] != "tab"}


def test_instructions_name_every_node_holding_the_site() -> None:
    nodes = flow_nodes()
    assert holding_site(nodes), "the flow no longer holds the site: update this test"
    ops = (REPO / "docs" / "operations.md").read_text()
    bullet = ops[ops.index("- Node-RED: import") : ops.index("- Home Assistant:")]
    for where, text in (("the flow tab's description", info()), ("docs/operations.md", bullet)):
        missing = holding_site(nodes) - named_for_site(text)
        assert not missing, f"{where} does not say the site is in {sorted(missing)}"


async def test_node_red_at_another_site_set_up_as_told(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    nodes = flow_nodes()
    told = named_for_site(info())
    for n in nodes:  # the user's edit: the site changed in the nodes named, no other
        if n.get("name") in told:
            n.update(json.loads(json.dumps(n).replace(SITE, OTHER)))
    user = account()
    broker = start_broker(session_tmpdir("mosquitto-fwd-nr-site"), tls_material, passwords(user))
    # the ACL's own instruction: its site id changed to the site's
    broker.acl_file.write_text(broker.acl_file.read_text().replace(SITE, OTHER))
    broker.reload()
    (tmp_path / "node-red").mkdir()
    red = NodeRed(tmp_path / "node-red", broker, nodes)
    base = f"monitord/{OTHER}/{CHAIR}"
    try:
        await red.start()
        async with login(broker, WALLBOARD, [f"{base}/cmd/ack"]) as wall:
            async with login(broker, CHAIR, []) as chair:
                await chair.client.publish(
                    f"{base}/alerts/events", json.dumps(LAST).encode(), qos=1
                )
            await eventually(
                lambda: [n["alert_id"] for n in red.notified()] == [LAST["alert_id"]],
                20,
                f"the alert of a chair at {OTHER} notified",
            )
            n = red.notified()[0]
            await red.inject("ack-in", [
                {"p": "chair", "v": n["chair"], "vt": "str"},
                {"p": "alert_id", "v": n["alert_id"], "vt": "str"},
            ])  # fmt: skip
            await eventually(lambda: bool(wall.got), 20, f"the ACK on {base}/cmd/ack")
            assert json.loads(wall.got[0][1])["alert_id"] == LAST["alert_id"]
    except AssertionError as e:
        raise AssertionError(f"{e}\nNode-RED's log:\n{red.output()[-2000:]}") from None
    finally:
        red.stop()
        broker.stop()


def test_the_account_steps_are_the_ones_the_broker_block_installs() -> None:
    """docs/operations.md "Forwarding alerts": the forwarder's account goes in the ACL
    file docs/install.md's broker block installs (the checkout's), and that block, run
    again, is what makes the broker read it. Before: "in `monitord.acl`" and a
    mosquitto_passwd line, no file named nor any restart: the broker kept refusing the
    new login, and an edit of /etc/mosquitto/monitord.acl was undone by the block's next
    run (to add a chair), the forwarder's subscription refused from then on."""
    install = (REPO / "docs" / "install.md").read_text()
    block = install[install.index("## The broker and its ACL") :].split("```sh\n", 1)[1]
    block = block.split("```", 1)[0]
    (acl_line,) = [ln for ln in block.splitlines() if "monitord.acl" in ln]
    source = next(w for w in acl_line.split() if w.endswith("monitord.acl"))
    assert "systemctl restart mosquitto" in block
    ops = (REPO / "docs" / "operations.md").read_text()
    section = ops[ops.index("## Forwarding alerts") : ops.index("- Node-RED: import")]
    flat = " ".join(section.split())
    assert f"`{source}`" in flat, f"the forwarder's ACL lines: in which file? ({source})"
    assert '"The broker and its ACL"' in flat and "run that block again" in flat
    assert "mosquitto_passwd /etc/mosquitto/monitord.passwd station-ha" in flat
