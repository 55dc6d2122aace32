"""docs/install.md's blocks for the broker host and the database host, as far as they can be
checked without root on those hosts.

The install steps in config/mosquitto/monitord.conf's header are docs/install.md's broker
block ("The broker and its ACL"), command for command. They were not: the header never
copied the CA or the broker's key (mosquitto then does not start: "Unable to load CA
certificates", or its key 0600 root, "Permission denied"), while the docs did. The block
itself needs root on a broker host (`# needs: root`); a real mosquitto runs the shipped
files in tests/ops/test_mosquitto_acl.py."""

from __future__ import annotations

import base64
import grp
import os
import re
import shutil
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.acl_kit import AclMosquitto
from tests.servers import Influxd, TlsMaterial, find_binary, session_tmpdir, wait_for

REPO = Path(__file__).resolve().parents[2]


def _commands(lines: list[str]) -> list[str]:
    """The commands of shell `lines`: comments, blank lines and the package install out."""
    out = []
    for line in lines:
        cmd = " ".join(re.sub(r"\s#.*$", "", line).split())
        if cmd and not cmd.startswith("#") and cmd != "apt-get install mosquitto":
            out.append(cmd)
    return out


def _docs_block(heading: str = "## The broker and its ACL") -> list[str]:
    text = (REPO / "docs" / "install.md").read_text()
    section = text[text.index(heading) :]
    return section.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()


def _conf_header() -> list[str]:
    lines = (REPO / "config" / "mosquitto" / "monitord.conf").read_text().splitlines()
    return [ln[len("#   ") :] for ln in lines if ln.startswith("#   ")]


def test_the_shipped_broker_config_installs_as_the_docs_say() -> None:
    docs = _commands(_docs_block())
    assert any("certs/broker.key" in c for c in docs), docs
    assert _commands(_conf_header()) == docs


def test_the_influxdb_block_installs_the_cli_it_runs() -> None:
    # Debian's `influxdb` package is the server alone (/usr/bin/influxd); the `influx` CLI
    # the block runs is in `influxdb-client`, which it neither depends on nor recommends:
    # the block's first line failed with "influx: command not found".
    cmds = _commands(_docs_block("## InfluxDB 1.6"))
    first = next(i for i, c in enumerate(cmds) if "influx" in c.split())
    installs = [c for c in cmds[:first] if c.startswith("apt-get install")]
    assert any("influxdb-client" in c.split() for c in installs), cmds[: first + 1]


def _need_broker_block_runnable() -> None:
    """The README's test command runs as root with Debian's mosquitto installed (its
    group, mosquitto_passwd); anything else fails here by name, never skipped."""
    try:
        grp.getgrnam("mosquitto")
    except KeyError:
        pytest.fail("the broker block needs the group mosquitto (apt-get install mosquitto)")
    assert os.geteuid() == 0, "the broker block runs install -o root -g mosquitto: run as root"
    assert shutil.which("mosquitto_passwd"), "mosquitto_passwd not found (mosquitto)"


def test_the_broker_block_never_leaves_password_hashes_readable_by_all(tmp_path: Path) -> None:
    """The block run for real, /etc/mosquitto moved to a temporary folder; after each
    command no file holding a hash is readable by others. mosquitto_passwd copies the
    file's hashes to FILE.tmp (created 0666 & ~umask, then removed): a symlink in its place
    keeps that copy, made with the block's umask, where the test can see it. It was:
    `mosquitto_passwd -c` made the file 0644 until the `chmod` three lines later, and each
    later mosquitto_passwd wrote the earlier hashes to a 0644 FILE.tmp."""
    _need_broker_block_runnable()
    etc, spy = tmp_path / "etc", tmp_path / "spy"
    for d in (
        etc / "certs",
        etc / "conf.d",
        spy,
        tmp_path / "certs",
        tmp_path / "config" / "mosquitto",
    ):
        d.mkdir(parents=True)
    for name in ("monitord.conf", "monitord.acl"):
        shutil.copy(REPO / "config" / "mosquitto" / name, tmp_path / "config" / "mosquitto")
    for name in ("clinic-ca.pem", "broker.pem", "broker.key"):
        (tmp_path / "certs" / name).write_text("test\n")
    passwd = etc / "monitord.passwd"
    lines = [c for c in _commands(_docs_block()) if not c.startswith("systemctl ")]
    for n, line in enumerate(lines):
        if "mosquitto_passwd" in line and passwd.exists():
            (etc / "monitord.passwd.tmp").symlink_to(spy / f"copy-{n}")
        cmd = line.replace("/etc/mosquitto/", f"{etc}/")
        subprocess.run(
            ["bash", "-e", "-c", cmd],
            cwd=tmp_path,
            input=b"pw-1\npw-1\n",
            check=True,
            capture_output=True,
            umask=0o022,
        )
        (etc / "monitord.passwd.tmp").unlink(missing_ok=True)
        for f in [*etc.rglob("*"), *spy.iterdir()]:
            if f.is_file() and "$7$" in f.read_text(errors="replace"):
                assert not f.stat().st_mode & stat.S_IROTH, (line, f, oct(f.stat().st_mode))
    assert any(spy.iterdir()), "no mosquitto_passwd line copied the file: nothing was checked"
    assert passwd.read_text().count("$7$") == 2
    st = passwd.stat()
    assert (stat.S_IMODE(st.st_mode), grp.getgrgid(st.st_gid).gr_name) == (0o640, "mosquitto")


def test_the_broker_block_run_again_keeps_the_accounts(tmp_path: Path) -> None:
    """An operator adding a chair re-runs the block (or pastes it whole): its `install
    ... /dev/null` line emptied the password file, every account made before was gone
    and each chair's and station's login refused at the broker's restart. The line now
    makes the file only where there is none."""
    _need_broker_block_runnable()
    etc = tmp_path / "etc"
    for d in (etc / "certs", etc / "conf.d", tmp_path / "certs", tmp_path / "config" / "mosquitto"):
        d.mkdir(parents=True)
    for name in ("monitord.conf", "monitord.acl"):
        shutil.copy(REPO / "config" / "mosquitto" / name, tmp_path / "config" / "mosquitto")
    for name in ("clinic-ca.pem", "broker.pem", "broker.key"):
        (tmp_path / "certs" / name).write_text("test\n")
    passwd = etc / "monitord.passwd"
    lines = [c for c in _commands(_docs_block()) if not c.startswith("systemctl ")]
    # The first install, an account added by hand (chair-9), then the block once more.
    added = f"(umask 077; mosquitto_passwd {passwd} chair-9)"
    for line in [*lines, added, *lines]:
        subprocess.run(
            ["bash", "-e", "-c", line.replace("/etc/mosquitto/", f"{etc}/")],
            cwd=tmp_path,
            input=b"pw-1\npw-1\n",
            check=True,
            capture_output=True,
        )
    users = sorted(ln.split(":", 1)[0] for ln in passwd.read_text().splitlines() if ln)
    assert users == ["chair-3", "chair-9", "station-1"], users
    st = passwd.stat()
    assert (stat.S_IMODE(st.st_mode), grp.getgrgid(st.st_gid).gr_name) == (0o640, "mosquitto")


def _influx_as(srv: Influxd, user: str, password: str, path: str, body: str) -> int:
    """The HTTP status of POST `path` (`/query?db=monitord` or `/write?db=monitord`) as
    `user`: 200/204 done, 401/403 refused (a query refused for want of a right: 403)."""
    req = urllib.request.Request(f"{srv.url}{path}", body.encode(), method="POST")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    if path.startswith("/query"):
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return 403 if '"error"' in r.read().decode() else int(r.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_the_influxdb_block_puts_no_password_on_a_command_line(tmp_path: Path) -> None:
    """The block run for real against a scratch influxd with auth on; every `influx` it
    starts goes through a shim that records its arguments, then runs the real CLI. It was:
    `influx -username admin -password change-me -execute "CREATE USER monitord WITH
    PASSWORD 'pi-secret'"`, each password in `ps` and in the shell's history."""
    real = find_binary(["/usr/bin/influx", "influx"], "influxdb-client")
    srv = Influxd(session_tmpdir("influxd-block"))
    srv.conf.write_text(srv.conf.read_text().replace("auth-enabled = false", "auth-enabled = true"))
    shim = tmp_path / "bin" / "influx"
    shim.parent.mkdir()
    argv_log = tmp_path / "argv"
    shim.write_text(
        f'#!/bin/bash\nprintf "%s\\n" "$*" >> {argv_log}\nexec {real} -port {srv.port} "$@"\n'
    )
    shim.chmod(0o755)
    passwords = {"admin": "adm-pw-1", "monitord": "pi-pw-2", "grafana": "ro-pw-3"}
    block = "\n".join(
        ln
        for ln in _docs_block("## InfluxDB 1.6")
        if not ln.startswith(("apt-get ", "systemctl ", "#"))
    )
    try:
        srv.start()
        subprocess.run(
            ["bash", "-e", "-c", block],
            input="".join(f"{p}\n" for p in passwords.values()).encode(),
            env={**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}"},
            check=True,
            capture_output=True,
        )
        argvs = argv_log.read_text().splitlines()
        assert argvs, "the block ran no influx"
        for argv in argvs:
            assert "password" not in argv.lower(), argv
            assert not any(p in argv for p in passwords.values()), argv
        pw = passwords
        q = "/query?db=monitord"
        assert _influx_as(srv, "admin", pw["admin"], q, "q=SHOW USERS") == 200
        assert _influx_as(srv, "monitord", pw["monitord"], "/write?db=monitord", "x v=1") == 204
        assert _influx_as(srv, "monitord", "wrong", "/write?db=monitord", "x v=2") == 401
        assert _influx_as(srv, "grafana", pw["grafana"], q, "q=SELECT * FROM x") == 200
        assert _influx_as(srv, "grafana", pw["grafana"], "/write?db=monitord", "x v=3") == 403
    finally:
        srv.stop()
        shutil.rmtree(srv.workdir, ignore_errors=True)


def _mosquitto_client_blocks() -> list[str]:
    text = (REPO / "docs" / "operations.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```sh\n")[1:]]
    return [b for b in blocks if "mosquitto_sub" in b or "mosquitto_pub" in b or "-P %s" in b]


def test_no_docs_block_puts_a_password_on_a_command_line() -> None:
    # operations.md's station clients ran `mosquitto_sub ... -P "$(cat FILE)"`: the
    # password in the arguments every user of the machine reads with `ps`.
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in doc.read_text().split("```sh\n")[1:]:
            cmd = block.split("```", 1)[0]
            assert not re.search(r"\s-P\s+[\"'$]", cmd), f"{doc.name}: {cmd}"
            assert '-P "$(' not in cmd and "--pw " not in cmd, f"{doc.name}: {cmd}"


def test_the_station_clients_log_in_from_their_option_files(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    """The block that writes ~/.config/mosquitto_sub and mosquitto_pub, run by bash with the
    passwords typed on its input; then mosquitto_sub and mosquitto_pub with no -u/-P log in
    with them (a real mosquitto under the shipped config), and are refused when the block
    got wrong ones. Before: both files held one account (station-2), so an acknowledgement
    sent while the follower ran took the follower's connection (client id = user name:
    "already connected, closing old connection") and, with mosquitto_pub's clean session,
    dropped the follower's persistent session."""
    setup = next(b for b in _mosquitto_client_blocks() if "read -rsp" in b)
    tools = {
        n: find_binary([f"/usr/bin/{n}", n], "mosquitto-clients")
        for n in ("mosquitto_pub", "mosquitto_sub")
    }
    workdir = session_tmpdir("mosquitto-clients-doc")
    users = {"station-2": "pw-2 with space", "station-3": "pw-3"}
    srv = AclMosquitto(workdir, tls=tls_material, users=users)
    srv.start()
    assert tls_material.ca_file is not None
    where = ["-h", srv.host, "-p", str(srv.port), "--cafile", str(tls_material.ca_file)]
    try:
        for typed, want in (("pw-2 with space\npw-3", 0), ("wrong\nwrong", None)):
            home = tmp_path / str(want)
            home.mkdir()
            env = {**os.environ, "HOME": str(home)}
            p = subprocess.run(
                ["bash", "-c", "set -euo pipefail\n" + setup],
                input=typed + "\n",
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert p.returncode == 0, p.stderr
            for name in ("mosquitto_sub", "mosquitto_pub"):
                f = home / ".config" / name
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
            sub = subprocess.Popen(
                [tools["mosquitto_sub"], *where, "-c", "-i", "x", "-q", "1", "-t", "t/#"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                if want == 0:  # the follower connected before the acknowledgement
                    assert wait_for(lambda: "as station-2" in srv_log(workdir), 15)
                r = subprocess.run(
                    [*[tools["mosquitto_pub"], *where], "-q", "1", "-t", "t/1", "-m", "{}"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                if want == 0:
                    assert r.returncode == 0, r.stderr
                    assert "closing old connection" not in srv_log(workdir), srv_log(workdir)
                    assert "as station-3" in srv_log(workdir)
                else:
                    assert r.returncode != 0 and "refused" in r.stderr.lower(), r.stderr
            finally:
                sub.kill()
                sub.wait(10)
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def srv_log(workdir: Path) -> str:
    return (workdir / "mosquitto-broker.log").read_text(errors="replace")
