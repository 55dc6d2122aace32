"""Characters with nothing to draw in a name that reaches the PDF (docs/report.md, "ID.pdf").

A `by` (a command's, an acknowledgement's) is free text from a station: a name pasted from
a Windows file carries a byte-order mark (U+FEFF), and with it matplotlib's PDF writer
raised IndexError in track_glyph: no PDF, the session's record not filed. The same class
(format characters, noncharacters, private use, unassigned, lone surrogates, tag
characters, marks with no letter or piled on one) was drawn as boxes or read back from the
PDF as other letters. Each is now written as its Python escape, as the control characters
are: the PDF is written and still says who, the HTML and CSVs keep the name as written
(a lone surrogate, which has no UTF-8, as its escape)."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import pytest
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from monitord.report.pdffonts import drawable, fit_fonts, visible

from .test_pdf_fonts import _pdf, _run

# (written, drawn): one row per kind of character matplotlib or its fonts cannot take.
CASES: list[tuple[str, str]] = [
    ("Anna\ufeffSmith", "Anna\\ufeffSmith"),  # byte-order mark: the IndexError
    ("a\u200bb", "a\\u200bb"),  # zero width space
    ("a\u200fb", "a\\u200fb"),  # right-to-left mark
    ("a\u2060b", "a\\u2060b"),  # word joiner
    ("a\u2064b", "a\\u2064b"),  # invisible plus
    ("a\ufff9b", "a\\ufff9b"),  # interlinear annotation anchor
    ("a\ufffeb", "a\\ufffeb"),  # noncharacter
    ("a\uffffb", "a\\uffffb"),  # noncharacter
    ("a\ud800b", "a\\ud800b"),  # lone surrogate (JSON "\ud800")
    ("a\ue000b", "a\\ue000b"),  # private use
    ("a\U000f0000b", "a\\U000f0000b"),  # supplementary private use
    ("a\u0378b", "a\\u0378b"),  # unassigned
    ("a\U000e0041b", "a\\U000e0041b"),  # tag character
    ("a\ufe0fb", "a\\ufe0fb"),  # variation selector: a mark that is never drawn
    ("\u0301x", "\\u0301x"),  # a combining mark with no letter
    ("a \u0301", "a \\u0301"),  # ... after a space
    ("a" + "\u0301" * 5, "a\u0301" + "\\u0301" * 4),  # a pile on one letter
    ("Nguye\u0302\u0303n", "Nguye\u0302\\u0303n"),  # a second mark: drawn on the "n"
    ("a\u2028b", "a\\u2028b"),  # line separator
]


@pytest.mark.parametrize(("written", "drawn"), CASES, ids=[ascii(w) for w, _ in CASES])
def test_each_character_with_nothing_to_draw_is_written_as_its_escape(
    written: str, drawn: str
) -> None:
    assert visible(written) == drawn
    assert drawable(drawn) == drawn  # once: an escape is never escaped again


@pytest.mark.parametrize(
    "kept", ["José", "Jose\u0301", "Nguyễn", "佐藤\u3000花子", "a\u00a0b", "Zoë"]
)
def test_names_that_draw_are_drawn_as_written(kept: str) -> None:
    # A decomposed accent (one on a letter) and the spaces a name has are not escaped.
    assert visible(kept) == kept


# Names whose spelling puts two or three marks on one letter. Before: the second was
# escaped ("ग़\u0941लाम"), a real name written on the filed form as another.
SPELT_WITH_MARKS = [
    "ग़ुलाम",  # Ghulam: nukta + vowel sign u (Devanagari)
    "फ़ैज़",  # Faiz: nukta + vowel sign ai
    "สมศักดิ์",  # Somsak: vowel + thanthakhat (Thai)
    "นิ่ม",  # Nim: vowel + tone mark
    "مُحَمَّد",  # Muhammad with its vowels: shadda + fatha (Arabic)
    "שָׁלוֹם",  # Shalom with niqqud: shin dot + qamats (Hebrew)
]


@pytest.mark.parametrize("kept", SPELT_WITH_MARKS, ids=[ascii(k) for k in SPELT_WITH_MARKS])
def test_a_script_that_spells_with_several_marks_on_a_letter_is_drawn(kept: str) -> None:
    assert visible(kept) == kept


def test_a_pile_of_marks_on_a_letter_of_another_script_is_still_escaped() -> None:
    # Four are drawn (a spelling's most), the rest escaped as on a Latin letter.
    assert visible("क" + "\u0941" * 6) == "क" + "\u0941" * 4 + "\\u0941" * 2
    assert visible("1\u0301\u0301") == "1\u0301\\u0301"  # not a letter: one mark


def test_the_pdf_is_written_and_each_escape_is_on_it(tmp_path: Path) -> None:
    # All the cases in one name (one PDF: seconds), a space apart so none is wrapped apart.
    name = " ".join(w for w, _ in CASES)
    pdf = _pdf(tmp_path, name, "nurse-b")  # before: IndexError (the BOM), no PDF
    text = " ".join(_run("pdftotext", "-f", "1", "-l", "1", str(pdf), "-").split())
    for written, drawn in CASES:
        if written.startswith("a" + "\u0301"):
            drawn = "\\u0301" * 4  # the mark kept is on the letter, not in order
        assert drawn in text, (ascii(written), text)
    # The HTML and the events CSV keep the name as written; a lone surrogate, which has no
    # UTF-8 (before: UnicodeEncodeError, no HTML), as its escape.
    as_kept = name.replace("\ud800", "\\ud800")
    html = pdf.with_suffix(".html").read_text(encoding="utf-8")
    assert as_kept in html
    events = pdf.with_name(pdf.stem + "-events.csv")
    with events.open(encoding="utf-8", newline="") as fh:
        assert as_kept in [row["by"] for row in csv.DictReader(fh)]


def test_any_text_on_a_page_is_made_drawable(tmp_path: Path) -> None:
    # A heading or the chart's text does not pass through `wrap`: `fit_fonts` escapes
    # every text of the figure it is given. Before: IndexError in track_glyph.
    fig = Figure(figsize=(2, 1))
    t = fig.text(0.1, 0.5, "chair\ufeff1\nline two")
    fit_fonts(fig)
    assert t.get_text() == "chair\\ufeff1\nline two"  # a figure's own line break stays
    with PdfPages(io.BytesIO()) as out:
        out.savefig(fig)


def test_a_space_no_font_of_the_page_has_is_looked_for_in_the_others() -> None:
    # OGHAM SPACE MARK is not "printable" to Python and was never looked for: drawn as the
    # font's empty box (matplotlib's "missing from font" warning), nothing said.
    fig = Figure(figsize=(2, 1))
    fig.text(0.1, 0.5, "a\u1680b", family="monospace")
    fit_fonts(fig)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with PdfPages(io.BytesIO()) as out:
            out.savefig(fig)
    assert not [w for w in said if "missing from font" in str(w.message)]


def test_a_vietnamese_letter_the_monospace_font_lacks_is_drawn_whole(tmp_path: Path) -> None:
    # DejaVu Sans Mono has "ê" and the combining tilde but not "ễ" (U+1EC5): the shaper drew
    # the parts, the tilde where the "n" goes, read back as "Nguyễễ" with "Trần" lost.
    pdf = _pdf(tmp_path, "Nguyễn Trần", "nurse-b")
    text = " ".join(_run("pdftotext", "-f", "1", "-l", "1", str(pdf), "-").split())
    assert "given by Nguyễn Trần" in text, text
