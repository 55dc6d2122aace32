"""The test servers' ports across xdist workers: a port one process picked is never picked
by another while the first lives, also while its server is down for a test's restart.

Before: `free_port` checked a port free only when it picked it. A test that stopped its
broker and started it again on the same port lost the port to another worker's pick in
between (CI: tests/heard/test_rechair_backlog.py, "Error: Address already in use").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.servers import Mosquitto, free_port

REPO = Path(__file__).resolve().parents[1]

# Another process (an xdist worker) whose random pick is rigged: `taken` first, then the
# next free port of its own. Prints the port free_port gave it.
OTHER = """
import sys
from tests import servers
wanted = [int(sys.argv[1])]
real = servers._pick.randrange
servers._pick.randrange = lambda a, b: wanted.pop() if wanted else real(a, b)
print(servers.free_port())
"""


def other_worker_picks(taken: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", OTHER, str(taken)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(out.stdout.strip())


def test_a_port_picked_here_is_not_picked_by_another_process() -> None:
    mine = free_port()  # nothing listens on it: only the reservation keeps it
    assert other_worker_picks(mine) != mine


def test_a_port_nobody_picked_is_given() -> None:
    """The rig works: a free port no process picked is what the other process gets."""
    probe = free_port()
    # A port near ours that this process never picked and nothing listens on.
    for candidate in range(probe + 1, probe + 200):
        if candidate < 32768 and other_worker_picks(candidate) == candidate:
            return
    raise AssertionError("the other process never got a free port it picked")


def test_a_stopped_broker_starts_again_on_its_port(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        port = broker.port
        broker.stop()
        taken = other_worker_picks(port)  # another worker picks while it is down
        assert taken != port
        broker.start()
        assert broker.port == port and broker.running
    finally:
        broker.stop()
