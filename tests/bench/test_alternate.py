"""`bench.alternate`: two commits' runs of one bench in ABBA order, against real git
worktrees and real `python -m bench.<module>` children.

The toy bench below reports its commit's value plus 10 whenever it runs second in a pair,
as this VM did on 2026-12-01 (late night): the second run of each pair slower, whichever
commit ran there. A B A B order would credit those 10 to B; ABBA must report B - A as the
code's own difference (1) and the 10 as the slot's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench import alternate

TOY = """\
import json, os, sys
BASE = {base}
log = os.environ["TOY_LOG"]
with open(log, "a") as f:
    f.write(f"{{BASE}}\\n")
n = len(open(log).read().split())
slot = 2 if n % 2 == 0 else 1
print("warming up {{not json}}")
print(json.dumps({{"x": BASE + (10.0 if slot == 2 else 0.0), "nested": {{"y": BASE}},
                  "ok": True, "runs_note": "text"}}, indent=2))
sys.exit({code})
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def toy_repo(tmp_path: Path, b_code: int = 0) -> Path:
    repo = tmp_path / "repo"
    (repo / "bench").mkdir(parents=True)
    (repo / "bench" / "__init__.py").write_text("")
    git(repo, "init", "-q")
    for tag, base, code in (("a", 1.0, 0), ("b", 2.0, b_code)):
        (repo / "bench" / "toy.py").write_text(TOY.format(base=base, code=code))
        git(repo, "add", "-A")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", tag)
        git(repo, "tag", tag)
    return repo


def test_abba_separates_the_commits_difference_from_the_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = toy_repo(tmp_path)
    log = tmp_path / "toy.log"
    monkeypatch.setenv("TOY_LOG", str(log))
    out = tmp_path / "out"
    rep = alternate.alternate(repo, ("a", "b"), ["toy"], rounds=2, out=out, lock=tmp_path / "lock")
    assert rep["order"] == "ABBABAAB"
    assert log.read_text().split() == ["1.0", "2.0", "2.0", "1.0", "2.0", "1.0", "1.0", "2.0"]
    x = rep["figures"]["x"]
    assert x["A"] == [1.0, 11.0, 11.0, 1.0] and x["B"] == [12.0, 2.0, 2.0, 12.0]
    assert x["B_minus_A"] == pytest.approx(1.0)
    assert x["second_minus_first"] == pytest.approx(10.0)
    assert rep["figures"]["nested.y"]["B_minus_A"] == pytest.approx(1.0)
    assert "ok" not in rep["figures"] and "runs_note" not in rep["figures"]
    assert rep["A"]["commit"] == git(repo, "rev-parse", "a")
    # Every run's output kept; the report written; the worktrees gone.
    assert len(list(out.glob("*-[AB].out"))) == 8
    assert json.loads((out / "report.json").read_text())["order"] == "ABBABAAB"
    assert (
        "| x | 1 / 11 / 11 / 1 | 12 / 2 / 2 / 12 | 6 | 7 | 1 | 10 |"
        in (out / "report.md").read_text()
    )
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_failed_run_stops_the_set_naming_it_and_leaves_no_worktree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = toy_repo(tmp_path, b_code=3)
    monkeypatch.setenv("TOY_LOG", str(tmp_path / "toy.log"))
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=r"run 02-B exited 3; see .*02-B\.err"):
        alternate.alternate(repo, ("a", "b"), ["toy"], out=out, lock=tmp_path / "lock")
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    with pytest.raises(SystemExit, match="no-such-rev"):
        alternate.alternate(repo, ("a", "no-such-rev"), ["toy"], out=out, lock=tmp_path / "l")


def test_the_command_line_names_what_is_missing() -> None:
    with pytest.raises(SystemExit, match="after `--`"):
        alternate.main(["a", "b"])
    with pytest.raises(SystemExit, match="no bench module"):
        alternate.main(["a", "b", "--"])


def test_a_multi_run_output_gives_the_median_of_its_runs() -> None:
    doc = {"verdict": {"median": 9.0}, "runs": [{"p": 3.0}, {"p": 1.0}, {"p": 2.0}]}
    assert alternate.figure(doc, "p") == 2.0
    assert alternate.figure(doc, "verdict.median") == 9.0
    assert alternate.figure(doc, "absent") is None
    text = 'log {x}\n{\n  "a": 1\n}\nmore\n{"b": 2}\n'
    assert alternate.last_json(text) == {"b": 2}
    with pytest.raises(ValueError, match="no JSON object"):
        alternate.last_json("nothing here {")
