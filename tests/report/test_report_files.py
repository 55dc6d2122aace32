"""The files a clinical lead files with the REMS form (task C8): a run never silently
replaces another session's files, never leaves a half-written set, and a `-c` typed is a
named config even when it is the default path. Real stores, a real full tmpfs, the real
command line (in process: `monitord.cli.main`)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitord import cli
from monitord.commands import report
from monitord.config import StorageConfig
from monitord.models import SessionEvent
from monitord.outbox import Outbox
from tests.faults.storekit import fill, tmpfs

from .storeplay import T0

REPO = Path(__file__).resolve().parents[2]


def _store(db: Path, *sessions: tuple[str, str, float]) -> Path:
    """A real store holding (chair, session id, start) sessions of ten minutes each."""
    with Outbox(db, StorageConfig(path=db)) as ob:
        for chair, sid, t in sessions:
            ob.add_session_events(
                [
                    SessionEvent(t, chair, "start", "esketamine", sid),
                    SessionEvent(t + 600, chair, "end", "esketamine", sid),
                ]
            )
    return db


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, list[str], str]:
    rc = cli.main(["report", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out.split(), err


def _chair_of(events_csv: Path) -> str:
    with events_csv.open(newline="", encoding="utf-8") as fh:
        return next(r["detail"] for r in csv.DictReader(fh) if r["name"] == "chair")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_narrowed_runs_of_a_reused_id_do_not_overwrite_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--session s1 --chair chair-1`, then `--chair chair-2` into the same --out: the
    # second replaced chair-1's s1.pdf with chair-2's session (names were made unique
    # only when one run wrote both).
    db = _store(tmp_path / "o.sqlite", ("chair-1", "s1", T0), ("chair-2", "s1", T0 + 5))
    out = tmp_path / "out"
    written: list[Path] = []
    for chair in ("chair-1", "chair-2"):
        rc, paths, err = _run(capsys, "--db", db, "--session", "s1", "--chair", chair, "--out", out)
        assert rc == 0, err
        written += [Path(p) for p in paths]
    assert len(set(written)) == len(written) in (6, 8)
    assert {p.name for p in written} == {p.name for p in out.iterdir()}
    one, two = sorted(out.glob("*-events.csv"))
    assert one.name == f"s1-chair-1-{int(T0)}-events.csv"
    assert (_chair_of(one), _chair_of(two)) == ("chair-1", "chair-2")


def test_a_rerun_replaces_its_own_files_never_another_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    here = _store(tmp_path / "a.sqlite", ("chair-1", "s2", T0))
    rc, first, err = _run(capsys, "--db", here, "--session", "s2", "--out", out)
    assert rc == 0, err
    rc, again, err = _run(capsys, "--db", here, "--session", "s2", "--out", out)
    assert (rc, again) == (0, first), err  # the same session: replaced
    before = _files(out)
    # Another station's store (its own id s2, chair-3) into the same folder.
    there = _store(tmp_path / "b.sqlite", ("chair-3", "s2", T0 + 3600))
    rc, paths, err = _run(capsys, "--db", there, "--session", "s2", "--out", out)
    assert (rc, paths) == (73, [])
    (line,) = err.splitlines()
    assert line.startswith(f"monitord report: --out {out}: {out}/s2."), line
    assert "holds session 's2' of chair-1 started 2024-05-06T09:00:00Z" in line, line
    assert "not this one ('s2' of chair-3, started 2024-05-06T10:00:00Z): not replaced" in line
    assert _files(out) == before


def test_the_refusal_names_the_holders_own_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two ids that make one file name (`/` is written `_`): the line said the holder was
    # session 's/2' (the new record's id), and it is 's_2'.
    out = tmp_path / "out"
    here = _store(tmp_path / "a.sqlite", ("chair-1", "s_2", T0))
    rc, _, err = _run(capsys, "--db", here, "--session", "s_2", "--out", out)
    assert rc == 0, err
    there = _store(tmp_path / "b.sqlite", ("chair-3", "s/2", T0 + 3600))
    rc, paths, err = _run(capsys, "--db", there, "--session", "s/2", "--out", out)
    assert (rc, paths) == (73, [])
    (line,) = err.splitlines()
    assert "holds session 's_2' of chair-1 started 2024-05-06T09:00:00Z, " in line, line
    assert "not this one ('s/2' of chair-3, started 2024-05-06T10:00:00Z)" in line, line


def test_a_full_disk_leaves_no_half_written_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A failed write left a truncated PDF (a zlib.error traceback), or a new PDF beside
    # the older HTML and CSVs.
    from monitord.report.render import pdf_renderer

    db = _store(tmp_path / "o.sqlite", ("chair-1", "s3", T0))
    names = ["s3.pdf"] if pdf_renderer() is not None else []
    names += ["s3.html", "s3.csv", "s3-events.csv"]
    args = ("--db", db, "--session", "s3")
    with tmpfs(tmp_path / "disk", "2m") as disk:
        out = disk / "reports"
        out.mkdir()
        filler = fill(disk)
        rc, paths, err = _run(capsys, *args, "--out", out)
        assert (rc, paths) == (73, [])
        (line,) = err.splitlines()
        assert line.startswith(f"monitord report: --out {out}: cannot write: "), line
        assert line.endswith("not written: " + ", ".join(names)), line
        assert list(out.iterdir()) == []  # no truncated file, no temporary one
        filler.unlink()
        rc, paths, err = _run(capsys, *args, "--out", out)
        assert (rc, [Path(p).name for p in paths]) == (0, names), err
        before = _files(out)
        filler = fill(disk)
        rc, paths, err = _run(capsys, *args, "--out", out)
        assert (rc, paths) == (73, [])
        assert _files(out) == before  # the earlier set whole, nothing beside it


def test_a_typed_default_config_that_is_missing_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `-c /etc/monitord/monitord.toml` typed beside --db, that file missing, read as "no
    # -c" and was skipped: the report came out in UTC. The default path is moved into
    # tmp_path so the test does not depend on this machine's /etc.
    default = tmp_path / "etc" / "monitord.toml"
    monkeypatch.setattr(cli, "DEFAULT_CONFIG", str(default))
    monkeypatch.setattr(report, "DEFAULT_CONFIG", str(default))
    db = _store(tmp_path / "o.sqlite", ("chair-1", "s4", T0))
    out = tmp_path / "out"
    rc, _, err = _run(capsys, "--db", db, "--session", "s4", "--out", out)
    assert rc == 0, err  # not typed, not there: UTC and the default rules, as documented
    rc, paths, err = _run(capsys, "-c", default, "--db", db, "--session", "s4", "--out", out)
    assert (rc, paths) == (78, [])
    (line,) = err.splitlines()
    assert str(default) in line, line


def _old_010_set(out: Path, sid: str, chair: str, day: str, start: str) -> None:
    """The files 0.1.0 wrote for a session: PDF, HTML and one CSV (columns section, time_utc,
    min_from_dose, name, value, detail; no events CSV)."""
    out.mkdir(exist_ok=True)
    (out / f"{sid}.pdf").write_bytes(b"%PDF-1.4 old\n")
    (out / f"{sid}.html").write_text("<html>old</html>\n", encoding="utf-8")
    rows = [("Chair", chair), ("Session", sid), ("Date (UTC)", day), ("Session start", start)]
    with (out / f"{sid}.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("section", "time_utc", "min_from_dose", "name", "value", "detail"))
        w.writerows(("session", "", "", k, v, "") for k, v in rows)


def test_a_folder_of_010_files_is_rerun_into_and_still_guarded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A clinic's folder from 0.1.0 (no events CSV): every re-run of its own sessions was
    # refused with 73 ("cannot be told"), so the daily run stopped writing at all.
    db = _store(tmp_path / "o.sqlite", ("chair-1", "s1", T0), ("chair-2", "s2", T0 + 3600))
    out = tmp_path / "out"
    _old_010_set(out, "s1", "chair-1", "2024-05-06", "09:00:00 UTC")
    rc, paths, err = _run(capsys, "--db", db, "--session", "s1", "--out", out)
    assert rc == 0, err
    assert _chair_of(out / "s1-events.csv") == "chair-1"
    # Another session's 0.1.0 files under that name are still not replaced.
    _old_010_set(out, "s2", "chair-9", "2024-05-06", "10:00:00 UTC")
    before = _files(out)
    rc, paths, err = _run(capsys, "--db", db, "--session", "s2", "--out", out)
    assert (rc, paths) == (73, []), err
    # The holder named from its 0.1.0 CSV ("cannot be told" was said of a set that tells).
    assert "holds session 's2' of chair-9 started 2024-05-06 10:00:00 UTC, " in err, err
    assert _files(out) == before


def _without_matplotlib(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`monitord report` of this checkout where matplotlib cannot be imported (a Pi
    install without the report extra): a package of its name that refuses to load, first
    on the path."""
    stub = tmp_path / "no-matplotlib" / "matplotlib"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text('raise ImportError("no matplotlib on this machine")\n')
    path = os.pathsep.join((str(stub.parent), str(REPO)))
    return subprocess.run(
        [sys.executable, "-m", "monitord", "report", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )


def test_a_rerun_without_the_pdf_renderer_leaves_no_older_pdf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first run (renderer installed) wrote s5.pdf; a re-run without matplotlib wrote
    # the HTML and CSVs and left that older PDF beside them: two versions of one record.
    db = _store(tmp_path / "o.sqlite", ("chair-1", "s5", T0))
    out = tmp_path / "out"
    rc, _, err = _run(capsys, "--db", db, "--session", "s5", "--out", out)
    assert rc == 0, err
    assert (out / "s5.pdf").exists()
    r = _without_matplotlib(tmp_path, "--db", db, "--session", "s5", "--out", out)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["s5-events.csv", "s5.csv", "s5.html"]
    assert [Path(p).name for p in r.stdout.split()] == ["s5.html", "s5.csv", "s5-events.csv"]
    assert f"monitord report: removed {out}/s5.pdf: an earlier run's PDF" in r.stderr, r.stderr
    assert report.NO_PDF_NOTICE in r.stderr
    # Another session's PDF under that name is still never touched (check_free first).
    (out / "s5-events.csv").unlink()
    (out / "s5.pdf").write_bytes(b"%PDF-1.4 another session's\n")
    other = _store(tmp_path / "b.sqlite", ("chair-3", "s5", T0 + 3600))
    r = _without_matplotlib(tmp_path, "--db", other, "--session", "s5", "--out", out)
    assert r.returncode == 73, r.stderr
    assert (out / "s5.pdf").read_bytes() == b"%PDF-1.4 another session's\n"


def test_a_killed_runs_temporary_files_are_removed_by_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run killed while writing left its hidden `.NAME.PID.part` files in --out for good.
    db = _store(tmp_path / "o.sqlite", ("chair-1", "s6", T0))
    out = tmp_path / "out"
    out.mkdir()
    left = out / ".s6.html.4242.part"
    left.write_text("<html>half", encoding="utf-8")
    mine = out / "notes.part"  # not a name of ours: left alone
    mine.write_text("the lead's\n", encoding="utf-8")
    rc, paths, err = _run(capsys, "--db", db, "--session", "s6", "--out", out)
    assert rc == 0, err
    assert not left.exists()
    assert mine.exists()
    assert f"monitord report: removed {left}: a temporary file of a run" in err, err
    assert {p.name for p in out.iterdir()} == {Path(p).name for p in paths} | {"notes.part"}


def test_a_run_never_removes_the_files_of_a_run_writing_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two runs into one folder: the other run holds the folder (its lock) while its
    # `.part` files are there; this one neither removes them nor writes beside them.
    import fcntl

    db = _store(tmp_path / "o.sqlite", ("chair-1", "s7", T0))
    out = tmp_path / "out"
    out.mkdir()
    busy = out / ".s7.html.4343.part"
    busy.write_text("<html>being written", encoding="utf-8")
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        rc, paths, err = _run(capsys, "--db", db, "--session", "s7", "--out", out)
        assert (rc, paths) == (73, [])
        assert err.splitlines() == [
            f"monitord report: --out {out}: another monitord report is writing into this "
            "folder now: run it again when that one has finished, or write into another --out"
        ]
        assert [p.name for p in out.iterdir()] == [busy.name]
    finally:
        os.close(fd)
    rc, paths, err = _run(capsys, "--db", db, "--session", "s7", "--out", out)
    assert rc == 0, err
    assert not busy.exists()  # that run is gone: its file is a leftover now


def test_the_leads_own_hidden_part_files_are_never_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Any `.X.NUMBER.part` in --out was taken for a killed run's leftover and removed with
    # a line: a file the lead keeps there (`.budget.2026.part`) was deleted. Only the
    # names a run writes (`.NAME.pdf|html|csv.PID.part`) are ours.
    db = _store(tmp_path / "o.sqlite", ("chair-1", "s8", T0))
    out = tmp_path / "out"
    out.mkdir()
    kept = {".x.123.part": b"the lead's\n", ".budget.2026.part": b"the lead's budget\n"}
    for name, data in kept.items():
        (out / name).write_bytes(data)
    left = out / ".s8-events.csv.4242.part"
    left.write_text("half", encoding="utf-8")
    rc, _, err = _run(capsys, "--db", db, "--session", "s8", "--out", out)
    assert rc == 0, err
    assert {n: (out / n).read_bytes() for n in kept} == kept
    assert not left.exists()
    assert err.splitlines() == [
        f"monitord report: removed {left}: a temporary file of a run that was stopped while writing"
    ], err


def test_a_folder_the_run_may_write_but_not_list_is_written(tmp_path: Path) -> None:
    # A drop folder (mode 0300: write and enter, not list) took every run's set until the
    # lock: opening it to hold it was refused, and the run wrote nothing, "cannot write:
    # Permission denied", exit 73. As root the run is `nobody` (setpriv) and the folder
    # is nobody's; as any other user the folder is the user's own, 0300 alike.
    from tests.ops.test_tls_file_access import AS_ROOT, NOBODY, public_tmp

    tmp = public_tmp(tmp_path)
    try:
        (tmp / "store").mkdir(mode=0o777)
        (tmp / "store").chmod(0o777)  # the store's -shm is made beside it
        db = _store(tmp / "store" / "o.sqlite", ("chair-1", "s9", T0))
        db.chmod(0o666)
        out = tmp / "drop"
        out.mkdir()
        if AS_ROOT:
            os.chown(out, NOBODY, NOBODY)
        out.chmod(0o300)
        user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        env = {**os.environ, "PYTHONPATH": str(REPO), "MPLCONFIGDIR": str(out)}
        p = subprocess.run(
            [*(user if AS_ROOT else []), sys.executable, "-m", "monitord", "report",
             "--db", str(db), "--session", "s9", "--out", str(out)],
            capture_output=True, text=True, env=env, cwd="/", timeout=120,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
        names = {"s9.html", "s9.csv", "s9-events.csv"}
        assert names <= {Path(x).name for x in p.stdout.split()}, p.stdout
        out.chmod(0o700)
        assert names <= {f.name for f in out.iterdir()}
    finally:
        (tmp / "drop").chmod(0o700)
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_rerun_without_the_pdf_renderer_keeps_a_pdf_changed_since_its_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The lead signed (or annotated) s10.pdf in a PDF viewer and saved it in place; a
    # re-run on a machine without matplotlib deleted it as "an earlier run's PDF": the
    # signed record gone. A PDF changed after the set it was written with is kept.
    db = _store(tmp_path / "o.sqlite", ("chair-1", "s10", T0))
    out = tmp_path / "out"
    rc, _, err = _run(capsys, "--db", db, "--session", "s10", "--out", out)
    assert rc == 0, err
    pdf, events = out / "s10.pdf", out / "s10-events.csv"
    signed = pdf.read_bytes() + b"%% signed by the clinical lead\n"
    pdf.write_bytes(signed)
    later = events.stat().st_mtime_ns + 60 * 10**9  # saved a minute after the run
    os.utime(pdf, ns=(later, later))
    r = _without_matplotlib(tmp_path, "--db", db, "--session", "s10", "--out", out)
    assert r.returncode == 0, r.stderr
    assert pdf.read_bytes() == signed
    assert f"monitord report: kept {pdf}: changed after the run that wrote it" in r.stderr, r.stderr
    assert "monitord report: removed" not in r.stderr, r.stderr
