"""A command's lines that may be written while the log's own thread writes to the same
file (monitord/logwriter.py; `doctor > doctor.txt 2>&1`, a terminal) are each one write:
`print()` writes a line's text and its newline apart, two writes on the stream Python
builds under PYTHONUNBUFFERED=1 (write-through text over an unbuffered file), and a log
line written between them landed in the middle of the line (`... ok      WARNING x: y`,
then an empty line). The stream here is that same stream, over a file that keeps each
write apart."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from monitord.cli import build_parser
from monitord.log import print_error


class _Writes(io.RawIOBase):
    """An unbuffered file that keeps what each write was given."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        data = bytes(b)  # type: ignore[call-overload]
        self.writes.append(data)
        return len(data)


def _unbuffered(raw: _Writes) -> io.TextIOWrapper:
    """The stream Python makes of stdout and stderr under PYTHONUNBUFFERED=1."""
    return io.TextIOWrapper(raw, encoding="utf-8", write_through=True)  # type: ignore[arg-type]


def test_doctors_lines_are_one_write_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitord.commands import doctor

    raw = _Writes()
    monkeypatch.setattr(sys, "stdout", _unbuffered(raw))
    args = build_parser(only="doctor").parse_args(["doctor", "-c", str(tmp_path / "none.toml")])
    assert doctor.main(args) == 1  # its config missing: a FAIL, the other checks skipped
    assert len(raw.writes) == 2, raw.writes
    assert all(w.endswith(b"\n") and w.count(b"\n") == 1 for w in raw.writes), raw.writes


def test_a_commands_last_error_line_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _Writes()
    monkeypatch.setattr(sys, "stderr", _unbuffered(raw))
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    print_error("monitord: refusing to start: the store is held by pid 1")
    assert raw.writes == [b"monitord: refusing to start: the store is held by pid 1\n"]


def test_decode_files_lines_are_one_write_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its replay logs what the daemon would (here a Masimo's SN= changing: WARNINGs)
    while its readings are printed (tests/capture/test_decode_file_log_lines.py)."""
    from monitord.commands import decode
    from tests.capture.capture_kit import masimo_swaps

    cap = masimo_swaps(tmp_path / "swaps.capture.jsonl", 9)
    cap.write_text(cap.read_text() + '{"t": 99.0, "dir": "rx", "hex": "5a5a0d0a"}\n')  # "ZZ"
    out, err = _Writes(), _Writes()
    monkeypatch.setattr(sys, "stdout", _unbuffered(out))
    monkeypatch.setattr(sys, "stderr", _unbuffered(err))
    args = build_parser(only="decode").parse_args(["decode", "--file", str(cap)])
    assert decode.main(args) == 65  # the last line rejected: a line on each stream
    assert len(out.writes) == 10 and len(err.writes) == 1, (out.writes, err.writes)
    for w in out.writes + err.writes:
        assert w.endswith(b"\n") and w.count(b"\n") == 1, w
