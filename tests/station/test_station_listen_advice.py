"""`monitord station` that cannot listen where `station.listen` says stops with exit 78
and one line. That line was the socket's error as it came, "cannot listen on
127.0.0.1:PORT: [Errno 98] error while attempting to bind on address (...): address
already in use", with nothing of what to do. Now it says the cause in words and the fix:
which command names the process holding the port, or that the address is not this
machine's, and that `station.listen` is where to change it. The real command, a real
socket holding the port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port


def config(tmp_path: Path, listen: str) -> Path:
    nurses = tmp_path / "nurses"
    nurses.write_text("alice:pbkdf2_sha256$1$aa$bb\n")
    nurses.chmod(0o600)
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        '[site]\nid = "clinic-north"\ntimezone = "UTC"\n'
        '[mqtt]\nhost = "127.0.0.1"\nport = 1\n'
        f'[station]\nid = "desk"\nlisten = "{listen}"\nnurses_file = "{nurses}"\n'
    )
    return cfg


@pytest.mark.parametrize("case", ["in use", "not this machine's", "not this machine's IPv6"])
def test_cannot_listen_says_why_and_what_to_do(tmp_path: Path, case: str) -> None:
    port = free_port()
    holder = socket.socket()
    try:
        if case == "in use":
            holder.bind(("127.0.0.1", port))
            holder.listen()
            listen = f"127.0.0.1:{port}"
            said: tuple[str, ...] = ("is in use by another process", f"ss -ltnp 'sport = :{port}'")
        elif case == "not this machine's":
            listen = f"192.0.2.7:{port}"  # TEST-NET-1 (RFC 5737): no interface has it
            said = ("no interface of this machine has", "ip -brief address", "'[::]:")
        else:
            # The IPv6 documentation prefix (RFC 3849): no interface has it. The advice
            # names every-address forms for IPv4 and IPv6 both (before: 0.0.0.0 only,
            # which would leave an IPv6 clinic's browsers out).
            listen = f"[2001:db8::7]:{port}"
            said = ("no interface of this machine has", "0.0.0.0", f"'[::]:{port}'")
        p = subprocess.run(
            [sys.executable, "-m", "monitord", "station", "-c", str(config(tmp_path, listen))],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        holder.close()
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 78 and len(lines) == 1, (p.returncode, p.stderr)
    line = lines[0]
    assert line.startswith(f"monitord station: cannot listen on {listen}: "), line
    assert all(s in line for s in said) and "station.listen" in line, line
