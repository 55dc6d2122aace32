"""Capture files and `decode --file` details: the recorded advertised name selects the model
quirks, serial chunks go through the driver's line splitting, rejects exit 65, a bad
file is one line naming its line number; `capture` refuses bad arguments in one line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitord.capturefile import CaptureError, read_capture
from monitord.commands.capture import capture
from monitord.drivers.ble_bpm import BPM_UUID, bp_sample
from monitord.drivers.measurement import Measurement
from monitord.drivers.registry import DRIVERS
from tests.kit import device_config

from .capture_kit import CHAIR, config, decode_file

STARTED = "2026-11-29T10:00:00Z"
# public example (shared/protocols.md): 124/86, MAP 97, 2024-06-15 17:17:27, pulse 51
BPM = bytes.fromhex("167C0056006100E807060F11111B33000000")


def _no_quirks() -> Any:
    """The config's spelling of "no quirks": an empty list where `quirks` is a list of
    names, "none" where it is a comma string (the option changed form; either works)."""
    try:
        device_config(id="x", driver="ble-bpm", name="n", quirks=[])
    except ValueError:
        return "none"
    return []


NO_QUIRKS = _no_quirks()


def write_capture(path: Path, header: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    head = {
        "format": "monitord-capture", "version": 1, "chair": CHAIR, "started_at": STARTED,
        "advertised_name": None, "address": None, **header,
    }  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in [head, *records]) + "\n")
    return path


def ble_capture(path: Path, name: str, config: dict[str, Any] | None = None) -> Path:
    return write_capture(
        path,
        {"transport": "ble", "driver": "ble-bpm", "device": "bp",
         "config": {"name": name, **(config or {})}},
        [
            {"t": 0.5, "event": "connected", "name": name, "address": "C0:00:00:00:00:01"},
            {"t": 0.9, "dir": "rx", "char": BPM_UUID, "hex": BPM.hex()},
            {"t": 9.0, "event": "end"},
        ],
    )  # fmt: skip


def expected(quirks: frozenset[str]) -> dict[str, Any]:
    s = bp_sample(BPM, quirks)
    assert not isinstance(s, Exception) and not hasattr(s, "reason")
    assert isinstance(s, Measurement)
    return {
        **{k: v for k, v in s.values.items()},
        "valid": s.valid,
        "status": list(s.flags),
    }


def picked(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: rec[k] for k in ("sys_mmHg", "dia_mmHg", "map_mmHg", "pulse_bpm", "valid", "status")}


def test_recorded_advertised_name_selects_the_model_quirks(tmp_path: Path) -> None:
    profile = DRIVERS["ble-bpm"].ble_profile
    assert profile is not None
    model = next(iter(profile.model_quirks))
    quirks = profile.quirks_for(model, None)
    assert expected(quirks) != expected(frozenset()), "these bytes must tell the quirks apart"

    rc, out, err = decode_file(ble_capture(tmp_path / "model.jsonl", model))
    assert rc == 0, err
    assert [picked(r) for r in out] == [expected(quirks)]
    assert out[0]["t"] == 0.9
    assert out[0]["device_time"] == "2024-06-15T17:17:27Z"
    # the device time is far from the receive time (capture start + 0.9 s): not trusted
    assert out[0]["measured_at"] == "2026-11-29T10:00:00.900000Z"

    rc, out, err = decode_file(ble_capture(tmp_path / "plain.jsonl", "Other Cuff"))
    assert rc == 0, err
    assert [picked(r) for r in out] == [expected(frozenset())]

    # a `quirks` setting in the recorded config wins over the name, as live
    path = ble_capture(tmp_path / "cfg.jsonl", model, {"quirks": NO_QUIRKS})
    rc, out, err = decode_file(path)
    assert [picked(r) for r in out] == [expected(frozenset())]


def test_serial_chunks_go_through_the_line_splitting(tmp_path: Path) -> None:
    line = (
        b"11/29/26 10:00:01 SN=0000000001 SPO2=097% BPM=072 PI=03.60% SPCO=--.-% "
        b"SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000000\r\n"
    )
    records: list[dict[str, Any]] = [{"t": 0.1, "event": "connected", "name": None,
                                      "address": "/dev/ttyUSB0"}]  # fmt: skip
    # a real port hands out arbitrary pieces: the line completes in the third chunk
    for t, piece in ((1.0, line[:7]), (1.01, line[7:60]), (1.02, line[60:]), (2.0, line)):
        records.append({"t": t, "dir": "rx", "hex": piece.hex()})
    records.append({"t": 2.5, "dir": "rx", "hex": b"garbage without a key\r\n".hex()})
    records.append({"t": 3.0, "event": "disconnected", "reason": "unplugged"})
    path = write_capture(
        tmp_path / "ox.jsonl",
        {"transport": "serial", "driver": "masimo-ascii", "device": "ox",
         "config": {"port": "/dev/ttyUSB0"}},
        records,
    )  # fmt: skip
    rc, out, err = decode_file(path)
    readings = [r for r in out if "rejected" not in r]
    assert [(r["t"], r["spo2_pct"], r["pulse_bpm"]) for r in readings] == [
        (1.02, 97, 72),
        (2.0, 97, 72),
    ]
    assert [r["t"] for r in out if "rejected" in r] == [2.5]
    assert rc == 65  # a rejected piece: as `decode --profile`
    assert "t=2.5: rejected" in err and len(err.splitlines()) == 1


def test_bad_capture_file_is_one_line_naming_the_line(tmp_path: Path) -> None:
    good = ble_capture(tmp_path / "good.jsonl", "X").read_text().splitlines()
    cases = {
        "not-json": ([*good[:2], "{oops"], "line 3: not JSON"),
        "back-in-time": ([*good[:3], '{"t": 0.1, "event": "end"}'], "line 4: t=0.1 goes back"),
        "bad-hex": ([*good[:2], good[2].replace(BPM.hex(), "zz")], "line 3: 'hex' is not hex"),
        "no-header": (good[1:], "line 1: not a monitord capture"),
    }
    for name, (lines, msg) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        rc, out, err = decode_file(path)
        assert (rc, out) == (65, []), name
        assert len(err.splitlines()) == 1, err
        assert err.startswith(f"monitord decode: {path}: {msg}"), err


# Lines that raised out of the reader (a traceback from `decode --file` and `replay`) or
# were read as a time no replay reaches; found probing the reader beside its atheris run
# (which did not reach them: a number's size or a nesting depth adds no coverage), 2026-12-05.
BAD_RECORDS = [
    pytest.param('{"t": 1' + "0" * 400 + ', "event": "end"}', "'t' must be a number >= 0, "
                 "got a number too large", id="t-int-OverflowError"),
    pytest.param('{"t": 1e400, "event": "end"}', "'t' must be a number >= 0, got a number "
                 "too large", id="t-inf"),
    pytest.param('{"t": NaN, "event": "end"}', "not JSON: NaN is not a JSON number", id="t-nan"),
    pytest.param('{"t": Infinity, "event": "end"}', "not JSON: Infinity", id="t-infinity"),
    pytest.param("[" * 3000, "not JSON: nested too deeply", id="nested-RecursionError"),
    pytest.param('{"t": ' + "1" * 5000 + "}", "not JSON: a number of more than 4300 "
                 "digits", id="digits-ValueError"),
]  # fmt: skip


@pytest.mark.parametrize(("record", "msg"), BAD_RECORDS)
def test_a_bad_record_is_a_capture_error_naming_its_line(
    tmp_path: Path, record: str, msg: str
) -> None:
    good = ble_capture(tmp_path / "good.jsonl", "X").read_text().splitlines()
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([*good[:2], record]) + "\n")
    with pytest.raises(CaptureError) as e:
        read_capture(path)
    assert str(e.value).startswith(f"line 3: {msg}"), e.value
    assert len(str(e.value)) < 200, e.value


def test_capture_cut_short_decodes_up_to_the_torn_line(tmp_path: Path) -> None:
    """Power cut while recording: the file ends inside a line. What came before decodes;
    stderr says one line about it."""
    whole = ble_capture(tmp_path / "whole.jsonl", "Other Cuff").read_text().splitlines()
    path = tmp_path / "cut.jsonl"
    path.write_text("\n".join(whole[:3]) + "\n" + whole[3][:12])  # no newline at the end
    rc, out, err = decode_file(path)
    assert rc == 0
    assert [picked(r) for r in out] == [expected(frozenset())]
    assert err.splitlines() == [
        f"monitord decode: {path}: the last line is incomplete (capture cut short): "
        "decoded up to it"
    ]


def test_decode_needs_profile_or_file() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "decode"], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 64
    assert (
        p.stderr.strip() == "monitord decode: give either --profile NAME DATA... or --file CAPTURE"
    )


async def test_capture_refuses_bad_arguments_in_one_line(tmp_path: Path, capsys: Any) -> None:
    cfg = config(
        tmp_path, "c", f'  id = "ox"\n  driver = "masimo-ascii"\n  port = "{tmp_path}/x"\n'
    )
    exists = tmp_path / "exists.jsonl"
    exists.write_text("keep me\n")

    def args(device: str, out: Path) -> argparse.Namespace:
        return argparse.Namespace(config=str(cfg), device=device, out=str(out), seconds=1.0)

    assert await capture(args(f"{CHAIR}/nope", tmp_path / "a.jsonl"), out=io.StringIO()) == 64
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"monitord capture: no device '{CHAIR}/nope' in {cfg} (have: {CHAIR}/ox)"]

    assert await capture(args(f"{CHAIR}/ox", exists), out=io.StringIO()) == 73
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create" in err[0] and str(exists) in err[0]
    assert exists.read_text() == "keep me\n"  # an earlier capture is never overwritten


async def test_capture_stops_after_seconds(tmp_path: Path) -> None:
    from monitord.simulators.serial_sims import make_sim_device

    port = tmp_path / "ox.tty"
    cfg = config(tmp_path, "c", f'  id = "ox"\n  driver = "masimo-ascii"\n  port = "{port}"\n')
    out = tmp_path / "short.jsonl"
    args = argparse.Namespace(config=str(cfg), device=f"{CHAIR}/ox", out=str(out), seconds=1.0)
    async with make_sim_device("masimo-ascii", symlink=port, repeat=False):
        rc = await asyncio.wait_for(capture(args, out=io.StringIO()), 30)  # no stop event
    assert rc == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["format"] == "monitord-capture" and lines[0]["driver"] == "masimo-ascii"
    assert lines[-1]["event"] == "end"


async def test_capture_that_cannot_write_stops_in_one_line(tmp_path: Path) -> None:
    """The disk fills up (here: a file size limit): the capture ends with exit 74 and one
    line; the lines written before are whole."""
    import resource

    from monitord.models import Kind
    from monitord.simulators.base import SimEvent
    from monitord.simulators.serial_sims import make_sim_device
    from tests.kit import eventually

    port = tmp_path / "ox.tty"
    cfg = config(tmp_path, "c", f'  id = "ox"\n  driver = "masimo-ascii"\n  port = "{port}"\n')
    out = tmp_path / "full.jsonl"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    async with make_sim_device("masimo-ascii", symlink=port, repeat=False) as sim:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitord", "capture", "--config", str(cfg),
            "--device", f"{CHAIR}/ox", "--out", str(out),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=limit,
        )  # fmt: skip
        await eventually(lambda: out.exists() and out.stat().st_size > 0, 30, "capturing")
        ev = SimEvent(Kind.SPO2, {"spo2_pct": 97.0, "pulse_bpm": 70.0})
        from datetime import UTC, datetime

        while proc.returncode is None:  # until the limit is hit and the capture ends
            await sim.send(ev, datetime.now(UTC))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.1)
        _, err = await proc.communicate()
    assert proc.returncode == 74
    lines = err.decode().splitlines()
    assert lines[-1].startswith(f"monitord capture: {out}: write failed, capture ends here: ")
    assert sum("write failed" in line for line in lines) == 1
    text = out.read_text()
    assert [json.loads(line) for line in text.splitlines()]  # whole lines only, no torn one
    assert text.endswith("\n")
