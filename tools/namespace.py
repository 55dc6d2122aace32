"""Namespace `drivers` and `simulators` under `monitord` (issue 19), mechanically.

    python tools/namespace.py [--check]

The repository keeps its `drivers/` and `simulators/` folders (where everyone adds files);
`monitord/drivers` and `monitord/simulators` are relative symlinks to them, so the
installed distribution has one top-level package, `monitord` (setuptools copies the files
through the links into the wheel), and an editable checkout, pytest and mypy see the same
`monitord.drivers...` modules. (setuptools' `package-dir` mapping was the first choice;
mypy cannot follow it in an editable checkout, so it could not stay `--strict` clean.)

What it does, idempotently (a second run changes nothing):
1. makes the two symlinks;
2. rewrites module references in every tracked or new `.py`, `.md` and `.toml` file
   (outside .venv, build, dist): `import drivers.x`, `from drivers import x`,
   `from drivers.x import y`, and dotted names in strings and text (`"simulators.chair"`,
   `simulators.contec_cms50:Cms50Sim`) become `monitord.drivers...`/`monitord.simulators...`.
   Only names of real submodules are rewritten, so a variable called `drivers`
   (`drivers.items()`) is left alone; paths (`drivers/registry.py`) are not module names;
3. pyproject.toml: the package list, package data and mypy's packages;
4. `ruff check --fix --select I` and `ruff format` on the files it changed (import order).

`--check` changes nothing and exits 1 when something is left to rewrite (for CI or the
lead after a merge).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("drivers", "simulators")
SKIP_DIRS = {".git", ".venv", "build", "dist", "node_modules", ".mypy_cache", ".ruff_cache"}
SUFFIXES = {".py", ".md", ".toml"}
# Files that document this very rewrite (they name the old module paths on purpose).
# Files that name the old top-level packages on purpose: the writer of the 0.1.0 store
# runs inside a 0.1.0 checkout, where `simulators` is still a top-level package.
KEEP = {
    "tools/namespace.py",
    "CHANGELOG.md",
    "tests/delivery/data/make_v010_daemon_store.py",
}


def submodules(pkg: str) -> list[str]:
    """Every importable name one level below `pkg` (modules and subpackages)."""
    base = ROOT / pkg
    names = {p.stem for p in base.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in base.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return sorted(names, key=len, reverse=True)


def patterns() -> list[tuple[re.Pattern[str], str]]:
    out: list[tuple[re.Pattern[str], str]] = []
    for pkg in PACKAGES:
        subs = "|".join(re.escape(s) for s in submodules(pkg))
        # `drivers.<submodule>` anywhere (imports, strings, text), not already prefixed
        # and not part of a longer name or a path
        out.append((re.compile(rf"(?<![\w./-]){pkg}\.(?=(?:{subs})\b)"), f"monitord.{pkg}."))
        # `from drivers import x` / `import drivers` (as a statement)
        out.append((re.compile(rf"^(\s*from\s+){pkg}(\s+import\b)", re.M), rf"\1monitord.{pkg}\2"))
        out.append((re.compile(rf"^(\s*import\s+){pkg}(\s*)$", re.M), rf"\1monitord.{pkg}\2"))
    return out


def _walk() -> list[Path]:
    out = []
    for d, dirs, names in os.walk(ROOT):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS]
        out += [Path(d) / n for n in names]
    return out


def files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        paths = [ROOT / p for p in listed]
    except (OSError, subprocess.CalledProcessError):
        paths = _walk()
    out = []
    for p in paths:
        rel = p.relative_to(ROOT)
        if p.suffix not in SUFFIXES or rel.as_posix() in KEEP or set(rel.parts) & SKIP_DIRS:
            continue
        # the symlinked folders are reached as drivers/ and simulators/ themselves
        if rel.parts[0] == "monitord" and len(rel.parts) > 2 and rel.parts[1] in PACKAGES:
            continue
        if p.is_file():
            out.append(p)
    return out


def rewrite(text: str) -> str:
    for pat, repl in patterns():
        text = pat.sub(repl, text)
    return text


PYPROJECT_EDITS = [
    (
        'include = ["monitord*", "drivers*", "simulators*"]',
        "# drivers/ and simulators/ are installed as monitord.drivers and monitord.simulators\n"
        "# (symlinks monitord/drivers, monitord/simulators: tools/namespace.py)\n"
        'include = ["monitord*"]',
    ),
    ('simulators = ["scenarios/*.jsonl"]', '"monitord.simulators" = ["scenarios/*.jsonl"]'),
    ('packages = ["monitord", "drivers", "simulators"]', 'packages = ["monitord"]'),
]


def symlinks(check: bool) -> list[str]:
    todo = []
    for pkg in PACKAGES:
        link = ROOT / "monitord" / pkg
        if link.is_symlink() and os.readlink(link) == f"../{pkg}":
            continue
        todo.append(f"monitord/{pkg} -> ../{pkg}")
        if not check:
            if link.exists() or link.is_symlink():
                raise SystemExit(f"namespace: monitord/{pkg} exists and is not the symlink")
            link.symlink_to(f"../{pkg}", target_is_directory=True)
    return todo


def main(argv: list[str]) -> int:
    check = "--check" in argv
    todo = symlinks(check)
    changed: list[Path] = []
    for p in files():
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not text we write (a test case of a config that is not UTF-8)
        new = rewrite(text)
        if p.name == "pyproject.toml" and p.parent == ROOT:
            for old, repl in PYPROJECT_EDITS:
                new = new.replace(old, repl)
        if new != text:
            changed.append(p)
            if not check:
                p.write_text(new, encoding="utf-8")
    todo += [str(p.relative_to(ROOT)) for p in changed]
    if check:
        for t in todo:
            print(f"namespace: to rewrite: {t}")
        return 1 if todo else 0
    py = [str(p) for p in changed if p.suffix == ".py"]
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if py and Path(ruff).exists():
        subprocess.run([ruff, "check", "--fix", "--select", "I", "-q", *py], cwd=ROOT, check=False)
        subprocess.run([ruff, "format", "-q", *py], cwd=ROOT, check=False)
    print(f"namespace: {len(todo)} change(s)" + "".join(f"\n  {t}" for t in todo))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
