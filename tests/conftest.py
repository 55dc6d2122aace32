"""Project-wide pytest fixtures: real servers on free loopback ports (tests/servers.py).

Session-scoped servers (`*_server`) are started once; the function-scoped fixtures of the
same name without `_server` hand the same object to a test after undoing whatever the
previous test did to it (paused/stopped), and per-test names (`influx_db`, `mqtt_prefix`,
`vm_site`) keep tests from seeing each other's data.

A missing server binary FAILS the test with the Debian package to install.
"""

from __future__ import annotations

import atexit
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import monitord.drivers.registry  # noqa: F401  registers the drivers with monitord.config, as the CLI does

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.servers import (
    Influxd,
    MissingServerBinary,
    Mosquitto,
    ServerProcess,
    TlsMaterial,
    VictoriaMetrics,
    make_tls_material,
    reap_all,
    session_tmpdir,
    unique_name,
)

atexit.register(reap_all)


_S = TypeVar("_S", bound=ServerProcess)


def _serve(srv_factory: type[_S], prefix: str, **kw: Any) -> Iterator[_S]:
    workdir = session_tmpdir(prefix)
    try:
        srv = srv_factory(workdir, **kw)
    except MissingServerBinary as e:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    try:
        srv.start()
        yield srv
    finally:
        srv.resume()
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def mosquitto_server() -> Iterator[Mosquitto]:
    yield from _serve(Mosquitto, "mosquitto")


@pytest.fixture
def mosquitto(mosquitto_server: Mosquitto) -> Mosquitto:
    mosquitto_server.ensure_running()
    return mosquitto_server


@pytest.fixture
def mqtt_prefix() -> str:
    """A fresh topic prefix (MqttConfig.prefix) so retained messages of other tests stay out."""
    return f"test/{unique_name('p')}"


@pytest.fixture(scope="session")
def tls_material() -> Iterator[TlsMaterial]:
    d = session_tmpdir("tls")
    try:
        yield make_tls_material(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


#: Users of the TLS broker fixture: name -> password.
TLS_USERS = {"monitord": "s3cret-test-pw", "nurse": "other-pw"}


@pytest.fixture(scope="session")
def mosquitto_tls_server(tls_material: TlsMaterial) -> Iterator[Mosquitto]:
    """Mosquitto with TLS (test CA, server cert for 127.0.0.1) and password auth only."""
    yield from _serve(Mosquitto, "mosquitto-tls", tls=tls_material, users=TLS_USERS)


@pytest.fixture
def mosquitto_tls(mosquitto_tls_server: Mosquitto) -> Mosquitto:
    mosquitto_tls_server.ensure_running()
    return mosquitto_tls_server


@pytest.fixture(scope="session")
def influxd_server() -> Iterator[Influxd]:
    yield from _serve(Influxd, "influxd")


# The `[http] max-body-size` of `influxd_small_body`: a reading's line fits, a long
# alert message's does not (a proxy's or a server's request limit met by one point).
SMALL_BODY_BYTES = 400


@pytest.fixture(scope="session")
def influxd_small_body_server() -> Iterator[Influxd]:
    yield from _serve(Influxd, "influxd-small", max_body_size=SMALL_BODY_BYTES)


@pytest.fixture
def influxd_small_body(influxd_small_body_server: Influxd) -> Influxd:
    """An influxd that answers HTTP 413 to a write body over SMALL_BODY_BYTES."""
    influxd_small_body_server.ensure_running()
    return influxd_small_body_server


@pytest.fixture
def influxd(influxd_server: Influxd) -> Influxd:
    influxd_server.ensure_running()
    return influxd_server


@pytest.fixture
def influx_db(influxd: Influxd) -> Iterator[str]:
    """A fresh, empty InfluxDB 1.x database for this test (dropped afterwards)."""
    name = unique_name("db_")
    influxd.create_database(name)
    yield name
    try:
        influxd.ensure_running()
        influxd.drop_database(name)
    except Exception:
        pass


@pytest.fixture(scope="session")
def victoria_metrics_server() -> Iterator[VictoriaMetrics]:
    yield from _serve(VictoriaMetrics, "vm")


@pytest.fixture
def victoria_metrics(victoria_metrics_server: VictoriaMetrics) -> VictoriaMetrics:
    victoria_metrics_server.ensure_running()
    return victoria_metrics_server


@pytest.fixture
def vm_site() -> str:
    """A fresh `site` tag value: VictoriaMetrics has no databases, so tests filter on it."""
    return unique_name("site")


# The files whose tests take longest (seconds: each file run alone on 2026-12-04, on the
# two cores shared with other work, load 2.5-8; the two ops files: a full run of 2026-12-02,
# not re-measured), longest first. They are collected first, and the suite hands whole
# files to the worker that is free in
# collection order (`--dist loadfile --no-loadscope-reorder`, scripts/setup.sh), so both
# workers start on them and end on the many short files: in plain collection order a
# 2-min file could start near the end while the other worker had nothing left (the suite's
# wall time is the busier worker's). Only the order changes; a stale list costs balance,
# not coverage.
LONG_FIRST = (
    # ~190 (2026-12-06: a 125-s sleep, 260 when its freeze does not hold and it plays
    # again); until then it ran last, the suite's tail (14:42 in a quiet CI run)
    "station/test_station_machine_sleep.py",
    "station/test_station_hidden_stale.py",  # ~140 (75 s hidden, then a throttled run)
    "station/test_station_hidden_sound.py",  # ~120 (the same wait)
    "station/test_station_takeover.py",  # 110 (two stations flapping, then held 30 s)
    "e2e/test_e2e_influx.py",  # 66 (the four outages of 8 s: 96 before)
    "faults/test_chain_chaos.py",  # 64 (two seeds, 2026-12-04)
    "ops/test_deb.py",  # 62 (builds the .deb once: a module fixture)
    "ops/test_install.py",  # 50 (installs once: tests/ops/conftest.py)
    "bench/test_bench_parts.py",  # 43
    "faults/test_chain_chaos_store.py",  # 42 (one seed, 2026-12-04)
    "station/test_station_session_not_duplicate.py",  # ~45 (2026-12-05: 150 before)
    "faults/test_store_budget.py",  # 35
    "delivery/test_prune_differential.py",  # ~17 here, loaded (300 seeded sequences)
    "station/test_station_daemon_loop.py",  # 29
    "test_static_checks.py",  # 25
    "station/test_station_tile_clock.py",  # 23
    "faults/test_store_full.py",  # 22
    "faults/test_serial_stall.py",  # 21
    "faults/test_clock_steps.py",  # 20
    "faults/test_group_commit_kill.py",  # 20
    "faults/test_device_missing.py",  # 17
    "heard/test_receipts.py",  # 17
    "forward/test_forward_nodered.py",  # 22 (2026-12-04: Node-RED, a daemon, a broker)
    "forward/test_forward_homeassistant.py",  # 20
    "station/test_station_ack_unanswered.py",  # 18 (2026-12-06: the 15-s answer window)
    "station/test_station_quiet_board.py",  # 16 (heartbeats watched for 12 s)
    "station/test_station_medium_tone.py",  # 15 (bursts 2.5-30 s apart)
    "report/test_render.py",  # 12
    "test_sim_equivalence.py",  # 12 (26 at simulate_speed 300 and a 10-ms poll)
    "faults/test_config_faults.py",  # 8
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    rank = {here / f: i for i, f in enumerate(LONG_FIRST)}
    gone = [f for f, p in zip(LONG_FIRST, rank, strict=True) if not p.exists()]
    if gone:
        raise pytest.UsageError(f"tests/conftest.py LONG_FIRST names no file: {', '.join(gone)}")
    # A stable sort: a file's tests keep their order (and their module fixtures).
    items.sort(key=lambda it: rank.get(it.path, len(LONG_FIRST)))
