"""Every command block in the docs runs as written, or says why it cannot here (issue 19,
acceptance 4), and the docs stand alone: the README and docs/ name no file outside the
repository.

A command block is a fenced block tagged `sh`, `bash`, `shell` or `console` in README.md
or docs/*.md. Its first line may be a marker comment:
- `# needs: WHAT (why)` with WHAT one of `hardware`, `root`, `a broker`, `minutes`: it is
  not run here (a device, installing onto this machine, the clinic's broker, a measurement
  that takes minutes of real time: the benchmarks);
- `# tested by: tests/...py (...)`: another test runs it; that file must exist and contain
  the block's command.
Every other block is run by bash (`set -euo pipefail`) in a fresh folder that holds the
repository's top-level entries as links, with this checkout's `monitord` first on PATH, and
must exit 0 with nothing on stderr that says Traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELLS = {"sh", "bash", "shell", "console"}
NEEDS = ("hardware", "root", "a broker", "minutes")
FENCE = re.compile(r"^(`{3,})(\w*)\s*$")


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc.name}:{self.line}"

    @property
    def marker(self) -> str:
        first = self.text.splitlines()[0] if self.text.strip() else ""
        return first if first.startswith(("# needs:", "# tested by:")) else ""


def blocks(doc: Path) -> list[Block]:
    out: list[Block] = []
    lines = doc.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith(m.group(1)))
        out.append(Block(doc, i + 1, m.group(2), "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    return out


COMMAND_BLOCKS = [b for d in DOCS for b in blocks(d) if b.lang in SHELLS]
RUNNABLE = [b for b in COMMAND_BLOCKS if not b.marker]


def test_the_docs_have_command_blocks_and_most_run() -> None:
    assert len(COMMAND_BLOCKS) >= 15
    assert len(RUNNABLE) >= 4


@pytest.mark.parametrize("block", COMMAND_BLOCKS, ids=[b.id for b in COMMAND_BLOCKS])
def test_marked_blocks_say_why(block: Block) -> None:
    if block.marker.startswith("# needs:"):
        what = block.marker.removeprefix("# needs:").strip()
        assert what.startswith(NEEDS), f"{block.id}: needs one of {NEEDS}: {block.marker}"
    elif block.marker.startswith("# tested by:"):
        target = block.marker.removeprefix("# tested by:").split()[0]
        test = REPO / target
        assert test.is_file(), f"{block.id}: {target} does not exist"
        # the script or program the block runs must appear in that test
        words = block.text.splitlines()[1].split()
        script = next((Path(w).name for w in words if "/" in w), words[0])
        assert script in test.read_text(), f"{block.id}: {target} does not run {script}"


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_command_block_runs(block: Block, tmp_path: Path) -> None:
    for entry in REPO.iterdir():
        if not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    r = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block.text],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, f"{block.id} exit {r.returncode}\n{block.text}\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr


# Paths that look like files but are not the repository's: the installed layout and
# examples of a user's own files.
_NOT_OURS = re.compile(r"^(/|~|\$|dist/|certs/|fleet/|events\.jsonl|reports?/|chair-\d)")


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_docs_name_no_file_outside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    assert "shared/" not in text, f"{doc.name} points outside the repository (shared/)"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):  # markdown links
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (doc.parent / target).exists(), f"{doc.name}: link to missing {target}"
    for m in re.finditer(r"`((?:docs|config|scripts|packaging|systemd|tests)/[^`\s]+)`", text):
        path, before = m.group(1), text[max(0, m.start() - 60) : m.start()]
        if re.search(r"[\w-]+/[\w.-]+,? $", before):
            continue  # another project's file, named after its repository (owner/name)
        if not _NOT_OURS.match(path) and not set("*{<") & set(path):
            assert (REPO / path).exists(), f"{doc.name}: names missing {path}"


# What the package ships (installed on every Pi): its comments and docstrings name the
# project's own docs, never the contract documents outside the repository.
_SHIPPED = ("monitord", "drivers", "simulators", "scripts", "packaging", "systemd", "config")


def test_shipped_code_names_no_file_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(REPO)}:{n}"
        for top in _SHIPPED
        for path in sorted((REPO / top).rglob("*"))
        if path.is_file() and not path.is_symlink() and path.suffix not in (".png", ".sqlite")
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if "shared/" in line
    ]
    assert not found, f"names shared/ (use docs/...): {found}"
