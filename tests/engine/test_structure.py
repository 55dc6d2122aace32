"""The engine's shape (issue 15): the alert book alone writes alert events, and no engine
module grows past ~550 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import monitord.engine

ENGINE = Path(monitord.engine.__file__).parent
MAX_LINES = 550


def _constructs_alert_event(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(n, ast.Call)
        and (
            (isinstance(n.func, ast.Name) and n.func.id == "AlertEvent")
            or (isinstance(n.func, ast.Attribute) and n.func.attr == "AlertEvent")
        )
        for n in ast.walk(tree)
    )


def test_only_the_alert_book_writes_alert_events() -> None:
    writers = sorted(p.name for p in ENGINE.glob("*.py") if _constructs_alert_event(p))
    assert writers == ["book.py"]


def test_engine_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in ENGINE.glob("*.py")}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}
