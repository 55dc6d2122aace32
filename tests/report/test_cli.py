"""`monitord report` on a real store: by session, by chair and day, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _report(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "report", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_by_session_and_by_chair_day(complete_db: Path, tmp_path: Path) -> None:
    r = _report("--db", complete_db, "--session", "s-complete", "--out", tmp_path / "a")
    assert r.returncode == 0, r.stderr
    paths = [Path(p) for p in r.stdout.split()]
    assert [p.name for p in paths] == [
        "s-complete.pdf",
        "s-complete.html",
        "s-complete.csv",
        "s-complete-events.csv",
    ]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert paths[0].read_bytes().startswith(b"%PDF")

    r = _report(
        "--db", complete_db, "--chair", "chair-1", "--date", "2024-05-06", "--out", tmp_path / "b"
    )
    assert r.returncode == 0, r.stderr
    assert [Path(p).name for p in r.stdout.split()] == [
        "s-complete.pdf",
        "s-complete.html",
        "s-complete.csv",
        "s-complete-events.csv",
    ]


def test_report_config_storage_path(complete_db: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        f'[site]\nid = "report-test"\n[storage]\npath = "{complete_db}"\n'
        '[[chairs]]\nid = "chair-1"\n'
    )
    r = _report("--config", cfg, "--session", "s-complete", "--out", tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split()) == 4


def test_report_errors_are_one_line(complete_db: Path, tmp_path: Path) -> None:
    r = _report("--db", complete_db, "--session", "nope", "--out", tmp_path)
    assert r.returncode == 66
    assert r.stderr.strip() == "monitord report: no session 'nope' in the store"
    r = _report(
        "--db", complete_db, "--chair", "chair-1", "--date", "2024-05-07", "--out", tmp_path
    )
    assert r.returncode == 66
    assert "no session on chair 'chair-1' started on 2024-05-07 (UTC)" in r.stderr
    r = _report("--db", complete_db, "--chair", "chair-1", "--date", "06/05/2024")
    assert r.returncode == 65 and "not YYYY-MM-DD" in r.stderr
    # In the form asked for but no day of the calendar: what is wrong with it.
    r = _report("--db", complete_db, "--chair", "chair-1", "--date", "2024-13-01")
    assert r.returncode == 65, r.stderr
    want = "monitord report: --date '2024-13-01': no such date (month must be in 1..12)"
    assert r.stderr.strip() == want, r.stderr
    r = _report("--db", complete_db)
    assert r.returncode == 65 and r.stderr.count("\n") == 1 and "--session ID" in r.stderr
    r = _report("--db", tmp_path / "missing.sqlite", "--session", "x")
    assert r.returncode == 66 and "no outbox here" in r.stderr
    assert not list(tmp_path.glob("*.pdf"))


def test_a_bad_or_missing_config_beside_db_is_refused(complete_db: Path, tmp_path: Path) -> None:
    # A config beside --db was dropped without a word when it did not load: the record
    # came out in UTC (and default rules) instead of the site's zone the lead asked for.
    cfg = tmp_path / "site.toml"
    cfg.write_text('[site]\nid = "report-test"\ntimezone = "America/NewYork"\n')
    r = _report("-c", cfg, "--db", complete_db, "--list")
    assert r.returncode == 78, r.stdout
    assert r.stderr.splitlines() == [
        f"{cfg}: site.timezone: unknown time zone 'America/NewYork': use an IANA name "
        "such as 'America/New_York'"
    ]
    r = _report("-c", tmp_path / "none.toml", "--db", complete_db, "--list")
    assert (r.returncode, r.stderr.strip()) == (
        78,
        f"{tmp_path / 'none.toml'}: cannot read: No such file or directory",
    )
    # A good one gives its zone (no [[chairs]] needed to make a report).
    cfg.write_text('[site]\nid = "report-test"\ntimezone = "America/New_York"\n')
    r = _report("-c", cfg, "--db", complete_db, "--list")
    assert r.returncode == 0, r.stderr
    assert " EDT\t" in r.stdout


def test_a_store_that_is_not_one_is_one_line(tmp_path: Path) -> None:
    # An empty file, a text file or a folder given as --db was an SQLite traceback.
    (tmp_path / "empty.sqlite").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a store\n")
    for db, why in (
        (tmp_path / "empty.sqlite", "no such table: records"),
        (tmp_path / "notes.txt", "file is not a database"),
        (tmp_path, None),
    ):
        r = _report("--db", db, "--list")
        assert r.returncode == 66, r.stderr
        (line,) = r.stderr.splitlines()
        assert line.startswith(f"monitord report: {db}: cannot read it as a monitord store ("), line
        assert why is None or why in line, line


def test_out_that_cannot_be_written_is_one_line(complete_db: Path, tmp_path: Path) -> None:
    # `--out` naming a file was a FileExistsError traceback.
    (tmp_path / "taken").write_text("")
    r = _report("--db", complete_db, "--session", "s-complete", "--out", tmp_path / "taken")
    assert (r.returncode, r.stderr) == (
        73,
        f"monitord report: --out {tmp_path / 'taken'}: a file, not a folder\n",
    )


def test_a_zone_that_is_not_the_machines_is_said(complete_db: Path, tmp_path: Path) -> None:
    # A fresh install's monitord.toml (made from the example) says America/New_York: a
    # clinic in Berlin got New York times with nothing said but the zone on the page. The
    # machine's zone is TZ here (else /etc/timezone, else /etc/localtime).
    import os

    cfg = tmp_path / "monitord.toml"
    cfg.write_text('[site]\nid = "report-test"\ntimezone = "America/New_York"\n')
    args = ("-c", cfg, "--db", complete_db, "--session", "s-complete", "--out", tmp_path / "o")

    def run(zone: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitord", "report", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TZ": zone},
        )

    r = run("Europe/Berlin")
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if "not this machine's zone" in ln]
    assert notes == [
        f"monitord report: times are in America/New_York ([site] timezone of {cfg}), not "
        "this machine's zone (Europe/Berlin): if the clinic is not in America/New_York, "
        "set [site] timezone there"
    ], r.stderr
    # The page names the zone it uses (the HTML's opening note; the PDF's every footer).
    html = (tmp_path / "o" / "s-complete.html").read_text(encoding="utf-8")
    assert "Times are local (EDT, America/New_York)." in html
    # The machine in the config's zone (also by another name of it): nothing said.
    for zone in ("America/New_York", "US/Eastern"):
        r = run(zone)
        assert r.returncode == 0, r.stderr
        assert "machine's zone" not in r.stderr, r.stderr


def test_a_machine_zone_set_as_a_posix_tz_rule_is_compared_by_its_clock(
    complete_db: Path, tmp_path: Path
) -> None:
    # TZ as a POSIX rule (no zone name) was passed over for /etc/timezone or the
    # /etc/localtime link: a machine keeping New York's clock (TZ=EST5EDT,M3.2.0,M11.1.0)
    # was told its America/New_York report was not in its zone, naming a zone (the
    # image's Etc/UTC) the machine's clock does not keep.
    import os

    cfg = tmp_path / "monitord.toml"
    cfg.write_text('[site]\nid = "report-test"\ntimezone = "America/New_York"\n')
    args = ("-c", cfg, "--db", complete_db, "--session", "s-complete", "--out", tmp_path / "o")

    def notes(zone: str) -> list[str]:
        r = subprocess.run(
            [sys.executable, "-m", "monitord", "report", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TZ": zone},
        )
        assert r.returncode == 0, r.stderr
        return [ln for ln in r.stderr.splitlines() if "machine's zone" in ln]

    assert notes("EST5EDT,M3.2.0,M11.1.0") == []
    berlin = "CET-1CEST,M3.5.0,M10.5.0/3"
    assert notes(berlin) == [
        f"monitord report: times are in America/New_York ([site] timezone of {cfg}), not "
        f"this machine's zone (TZ={berlin}): if the clinic is not in America/New_York, "
        "set [site] timezone there"
    ]


def test_a_report_in_utc_without_a_config_on_a_machine_elsewhere_is_said(
    complete_db: Path, tmp_path: Path
) -> None:
    # `--db` alone (a store copied to the clinical lead's machine, no config there) reports
    # in UTC: in Auckland (+13) a morning session's treatment date was the day before and
    # `--date` a UTC day, with nothing said but "UTC" on the page.
    import os

    args = ("--db", complete_db, "--session", "s-complete", "--out", tmp_path / "o")

    def notes(zone: str) -> list[str]:
        r = subprocess.run(
            [sys.executable, "-m", "monitord", "report", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TZ": zone},
        )
        assert r.returncode == 0, r.stderr
        return [ln for ln in r.stderr.splitlines() if "machine's zone" in ln]

    assert notes("Pacific/Auckland") == [
        "monitord report: times are in UTC (no config read, so no [site] timezone), not "
        "this machine's zone (Pacific/Auckland), and --date is a UTC day: give the "
        "clinic's config with -c"
    ]
    html = (tmp_path / "o" / "s-complete.html").read_text(encoding="utf-8")
    assert "Times are local (UTC)." in html
    # A machine on UTC (a Pi's systemd default; Etc/UTC, another name of it): nothing said.
    for zone in ("UTC", "Etc/UTC"):
        assert notes(zone) == []
