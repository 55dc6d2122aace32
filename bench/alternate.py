"""Two commits' runs of one bench, in an order that cancels the machine's drift (ABBA).

    python -m bench.alternate A_REV B_REV [--rounds 2] [--settle 0] [--key K ...] \
        -- alert_latency --runs 1

Why: on a shared VM a run's figure follows its slot as much as its code. In the pairs of
`2026-12-01 (late night)` (bench/results.md) the second run of each pair was slower, the
bare broker floor included, whichever commit ran second; alternating A B A B ... then
credits that to B. Here the order is A B B A, then B A A B, and so on: each commit runs
first and second in a pair equally often, and a drift that is linear over a round cancels.

Each commit is checked out in a worktree of its own (removed at the end), and each run is
`python -m bench.<module> <args>` with that worktree as working directory and first on
`PYTHONPATH`, the interpreter being this one. Runs hold a lock file (`--lock`), so two
alternations, or a bench started by hand, never overlap. A run's stdout and stderr are
kept in `--out`; its figures are the last JSON object it prints (every bench here prints
one). A run that fails stops the set, naming the run and its log.

The report (JSON on stdout, a markdown table on stderr) gives, for each figure (`--key`,
a dotted path into the run's JSON; every numeric leaf when none is given): each commit's
values in run order, their medians and B - A; and the same values split by slot, first
and second of a pair, whatever commit ran there. A slot difference as large as the
commits' difference says the machine moved as much as the code did.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def order(rounds: int) -> str:
    """ABBA, then BAAB, ...: each commit first in a pair as often as second."""
    return "".join("ABBA" if r % 2 == 0 else "BAAB" for r in range(rounds))


def last_json(text: str) -> dict[str, Any]:
    """The last JSON object printed from the start of a line (benches print one)."""
    dec = json.JSONDecoder()
    found: dict[str, Any] | None = None
    pos = 0
    for line in text.splitlines(keepends=True):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                doc, _ = dec.raw_decode(text, pos)
                if isinstance(doc, dict):
                    found = doc
        pos += len(line)
    if found is None:
        raise ValueError("no JSON object in the run's output")
    return found


def leaves(doc: Any, prefix: str = "") -> dict[str, float]:
    """Every numeric leaf under dotted paths (lists are not walked; booleans are not figures)."""
    out: dict[str, float] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.update(leaves(v, f"{prefix}{k}."))
    elif isinstance(doc, int | float) and not isinstance(doc, bool):
        out[prefix[:-1]] = float(doc)
    return out


def figure(doc: dict[str, Any], key: str) -> float | None:
    """The number at a dotted path; for a multi-run output (`{"runs": [...]}`) without it
    at the top, the median of the runs' values."""
    node: Any = doc
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, int | float) and not isinstance(node, bool):
        return float(node)
    runs = doc.get("runs")
    if isinstance(runs, list):
        vals = [v for r in runs if isinstance(r, dict) and (v := figure(r, key)) is not None]
        return statistics.median(vals) if vals else None
    return None


@dataclass
class Run:
    index: int  # 1-based, in the order run
    arm: str  # "A" or "B"
    slot: int  # 1 = first of its pair, 2 = second
    figures: dict[str, float]


def compare(runs: list[Run], keys: list[str]) -> dict[str, dict[str, Any]]:
    """Per figure: each commit's values and medians, and the same split by slot."""
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        have = [r for r in runs if key in r.figures]
        if not have:
            continue

        a = [r.figures[key] for r in have if r.arm == "A"]
        b = [r.figures[key] for r in have if r.arm == "B"]
        s1 = [r.figures[key] for r in have if r.slot == 1]
        s2 = [r.figures[key] for r in have if r.slot == 2]
        row: dict[str, Any] = {"A": a, "B": b, "first": s1, "second": s2}
        if a and b:
            row["A_median"] = statistics.median(a)
            row["B_median"] = statistics.median(b)
            row["B_minus_A"] = row["B_median"] - row["A_median"]
        if s1 and s2:
            row["second_minus_first"] = statistics.median(s2) - statistics.median(s1)
        out[key] = row
    return out


def table(report: dict[str, Any]) -> str:
    """The comparison as markdown, for bench/results.md."""
    lines = [
        f"A = {report['A']['rev']} ({report['A']['commit'][:7]}), "
        f"B = {report['B']['rev']} ({report['B']['commit'][:7]}); "
        f"order {report['order']}; `{' '.join(report['bench'])}`",
        "",
        "| figure | A (run order) | B (run order) | A median | B median | B - A "
        "| slot 2 - slot 1 |",
        "|---|---|---|---|---|---|---|",
    ]

    def num(x: float | None) -> str:
        return "" if x is None else f"{x:.4g}"

    for key, row in report["figures"].items():
        lines.append(
            f"| {key} | {' / '.join(map(num, row['A']))} | {' / '.join(map(num, row['B']))} "
            f"| {num(row.get('A_median'))} | {num(row.get('B_median'))} "
            f"| {num(row.get('B_minus_A'))} | {num(row.get('second_minus_first'))} |"
        )
    return "\n".join(lines)


def git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"alternate: git {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout.strip()


@contextlib.contextmanager
def worktree(repo: Path, rev: str, where: Path) -> Iterator[Path]:
    git(repo, "worktree", "add", "--detach", str(where), rev)
    try:
        yield where
    finally:
        git(repo, "worktree", "remove", "--force", str(where))


@contextlib.contextmanager
def held(lock: Path) -> Iterator[None]:
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


def run_one(tree: Path, bench: list[str], log: Path, lock: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    with held(lock), log.with_suffix(".err").open("w") as err:
        res = subprocess.run(
            [sys.executable, "-m", f"bench.{bench[0]}", *bench[1:]],
            cwd=tree, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    log.with_suffix(".out").write_text(res.stdout)
    if res.returncode != 0:
        raise SystemExit(
            f"alternate: run {log.stem} exited {res.returncode}; see {log.with_suffix('.err')}"
        )
    try:
        return last_json(res.stdout)
    except ValueError as e:
        raise SystemExit(f"alternate: run {log.stem}: {e}; see {log.with_suffix('.out')}") from e


def alternate(
    repo: Path,
    revs: tuple[str, str],
    bench: list[str],
    *,
    rounds: int = 2,
    settle_s: float = 0.0,
    keys: list[str] | None = None,
    out: Path,
    lock: Path,
) -> dict[str, Any]:
    commits = {arm: git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")
               for arm, rev in zip("AB", revs, strict=True)}  # fmt: skip
    seq = order(rounds)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="alternate-") as tmp, contextlib.ExitStack() as st:
        trees = {arm: st.enter_context(worktree(repo, commits[arm], Path(tmp) / arm))
                 for arm in "AB"}  # fmt: skip
        for i, arm in enumerate(seq):
            if settle_s:
                time.sleep(settle_s)
            started = time.time()
            doc = run_one(trees[arm], bench, out / f"{i + 1:02d}-{arm}", lock)
            print(f"alternate: run {i + 1}/{len(seq)} {arm} done in "
                  f"{time.time() - started:.0f} s", file=sys.stderr)  # fmt: skip
            figs = (
                {k: v for k in keys if (v := figure(doc, k)) is not None} if keys else leaves(doc)
            )
            runs.append(Run(i + 1, arm, 1 + i % 2, figs))
    names = keys or sorted({k for r in runs for k in r.figures})
    report: dict[str, Any] = {
        "A": {"rev": revs[0], "commit": commits["A"]},
        "B": {"rev": revs[1], "commit": commits["B"]},
        "bench": bench,
        "order": seq,
        "settle_s": settle_s,
        "runs": [{"run": r.index, "arm": r.arm, "slot": r.slot} for r in runs],
        "figures": compare(runs, names),
        "out": str(out),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(table(report) + "\n")
    return report


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        raise SystemExit("alternate: give the bench after `--`, e.g. `-- alert_latency --runs 1`")
    cut = argv.index("--")
    own, bench = argv[:cut], argv[cut + 1 :]
    if not bench:
        raise SystemExit("alternate: no bench module after `--`")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="commit A (any git revision)")
    ap.add_argument("b", help="commit B")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of four runs (ABBA, BAAB, ...)")
    ap.add_argument("--settle", type=float, default=0.0, help="seconds idle before each run")
    ap.add_argument("--key", action="append", help="a figure's dotted path (repeatable)")
    ap.add_argument("--repo", type=Path, default=REPO, help="the git repository")
    ap.add_argument("--out", type=Path, help="where runs' output and the report go")
    ap.add_argument("--lock", type=Path, default=Path(tempfile.gettempdir()) / "bench.lock")
    args = ap.parse_args(own)
    if args.rounds < 1:
        raise SystemExit("alternate: --rounds must be 1 or more")
    out = args.out or Path(tempfile.mkdtemp(prefix="alternate-out-"))
    report = alternate(
        args.repo, (args.a, args.b), bench, rounds=args.rounds, settle_s=args.settle,
        keys=args.key, out=out, lock=args.lock,
    )  # fmt: skip
    print(table(report), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
