"""Characters the PDF's own fonts lack (docs/report.md, "ID.pdf").

matplotlib draws the PDF in DejaVu Sans and DejaVu Sans Mono: Latin, Greek, Cyrillic, but
no Chinese, Japanese or Korean. A nurse's name is free text (station `name`, a command's
`by`): "given by 佐藤 花子" on the form was printed as four empty boxes, with nothing said,
and the filed record no longer told who gave the dose. A character a page's font lacks is
now drawn in an installed font that has it; where no installed font has it, it is written
as <U+XXXX> (its code point: nothing lost, the HTML and CSVs carry it as written) and the
caller says so on stderr, with the fix (a font package). Lines are wrapped with such a
character counted as two columns (`wrap`).
"""

from __future__ import annotations

import logging
import textwrap
import unicodedata
from functools import cache
from typing import Any
from unicodedata import category, east_asian_width

from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.text import Text

from monitord.log import one_line


@cache
def _charmap(path: str) -> frozenset[int]:
    try:
        return frozenset(FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):  # a font file FreeType cannot read
        return frozenset()


@cache
def _installed() -> tuple[str, ...]:
    # From the font folders, not matplotlib's font cache: that cache is written once, and a
    # font package installed after it (the fix told on stderr) was never seen.
    return tuple(sorted(font_manager.findSystemFonts()))


# The families `_family_with` gave a text. matplotlib asks each for the text's weight
# (normal) and, the font having one weight only (WenQuanYi Zen Hei: 500), logged "findfont:
# Failed to find font weight normal for WenQuanYi Zen Hei, now using 500." on the report's
# stderr under every PDF with such a name: a failure said where the name was drawn.
_fallbacks: set[str] = set()


def _not_our_fallbacks_weight(record: logging.LogRecord) -> bool:
    args = record.args if isinstance(record.args, tuple) else ()
    return not (
        str(record.msg).startswith("findfont: Failed to find font weight")
        and len(args) == 3
        and args[1] in _fallbacks
    )


logging.getLogger(font_manager.__name__).addFilter(_not_our_fallbacks_weight)


@cache
def _family_with(code: int) -> str | None:
    """The family name of the first installed font (by path: the same on each run) that
    has the character; made known to matplotlib. None when no installed font has it."""
    for path in _installed():
        if code in _charmap(path):
            font_manager.fontManager.addfont(path)
            name = font_manager.FontProperties(fname=path).get_name()
            _fallbacks.add(name)
            return name
    return None


def _have(text: Text) -> frozenset[int]:
    return _charmap(font_manager.findfont(text.get_fontproperties()))


def _missing(text: Text) -> list[str]:
    have = _have(text)
    # Spaces too (`drawable` leaves only drawn characters and line breaks): an OGHAM SPACE
    # MARK, not "printable" to Python, was an empty box with nothing said.
    return sorted({c for c in text.get_text() if c != "\n" and ord(c) not in have})


def _drawn_apart(c: str, have: frozenset[int]) -> bool:
    """Whether the text's own font, lacking `c`, has the letter and marks `c` decomposes
    to. The shaper then draws those parts in it instead of taking `c` from a fallback font,
    and DejaVu Sans Mono places no mark on a mark: its lacks most of Vietnamese's letters
    with two marks (U+1EC5 of "Nguyễn", of "Trần"), and "Nguyễn" was drawn as "Nguyêñ" and
    read back from the PDF as "Nguyễễ", "Trần" lost: another name on the filed form."""
    parts = unicodedata.normalize("NFD", c)
    return parts != c and all(ord(p) in have for p in parts)


def _sans_with(code: int) -> str | None:
    """The page's sans-serif (DejaVu Sans, matplotlib's own: on every machine) if it has
    the character: a whole line in the first installed font with it was drawn in DejaVu
    Math TeX Gyre's serif, the form's other lines sans."""
    path = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]))
    return font_manager.FontProperties(fname=path).get_name() if code in _charmap(path) else None


def fit_fonts(fig: Figure) -> list[str]:
    """Gives each text of `fig` with characters its font lacks the installed fonts that
    have them (matplotlib's per-character fallback), and writes the characters no
    installed font has as <U+XXXX>; returns those characters."""
    lacking: list[str] = []
    for text in fig.findobj(Text):
        assert isinstance(text, Text)
        # Every text, not only the lines `wrap` made: whatever reaches a figure from outside
        # (a heading, the chart's) never stops the PDF nor loses a character (`drawable`).
        shown = drawable(text.get_text())
        if shown != text.get_text():
            text.set_text(shown)
        missing = _missing(text)
        if not missing:
            continue
        families = list(text.get_fontfamily())
        have = _have(text)
        none = []
        for c in missing:
            fam = _family_with(ord(c))
            if fam is None:
                none.append(c)
            elif _drawn_apart(c, have):
                # A font that has the letter whole draws the text (`_drawn_apart`): in a
                # monospace line its columns after it shift, as after a Chinese name.
                fam = _sans_with(ord(c)) or fam
                families = [fam, *(f for f in families if f != fam)]
            elif fam not in families:
                families.append(fam)
        text.set_fontfamily(families)
        if none:
            s = text.get_text()
            text.set_text("".join(f"<U+{ord(c):04X}>" if c in none else c for c in s))
            lacking += none
    return lacking


# Stands after each wide character while wrapping, so that it counts two columns: not
# whitespace (textwrap breaks only there) and never in a report's text.
_PAD = "\x00"


# Characters with nothing to draw, written as their Python escape (`\ufeff`, `\ud800`,
# `\U000e0041`) like the control characters: format characters (Cf: a byte-order mark
# from a name pasted out of a Windows file, zero-width spaces, bidi marks, tag
# characters), lone surrogates (a JSON `\ud800`), private use, unassigned code points and
# the noncharacters U+FFFE/U+FFFF (Cn), line and paragraph separators. Drawn, a BOM stopped
# the PDF (IndexError in matplotlib's PDF writer, track_glyph), a surrogate too (TypeError
# in FT2Font.set_text), the others were empty boxes or were read back from the PDF as
# other letters (pdftotext gave "ba" for "a\u200bb"): the record no longer said who.
_NOT_DRAWN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Variation selectors and the combining grapheme joiner: marks (Mn) that select or join,
# never drawn themselves; matplotlib draws no shaping, so each was a glyph of its own.
_SELECTORS = frozenset(
    [0x034F, *range(0x180B, 0x1810), *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]
)
# Non-spacing marks drawn on one letter: matplotlib shapes nothing, and in the form's
# DejaVu Sans Mono a second mark is drawn on the next letter ("Nguye" + circumflex + tilde
# + "n" read "Nguyêñ": another name), a pile of them (a "zalgo" name of 200 acutes) only
# blotted two letters, and a mark with no letter (first, after a space) was read as
# another character. One is drawn on a Latin, Greek or Cyrillic letter ("Jose" + acute:
# "José"; each accent these names carry has a precomposed letter), the rest escaped.
MARKS_ON_A_LETTER = 1
# Other scripts write several marks on one letter as their spelling, not as a pile: a
# nukta and a vowel sign in Devanagari (Ghulam, "ग़ुलाम"), a vowel and a tone mark in Thai
# (Somsak, "สมศักดิ์"), shadda and a vowel in Arabic ("مُحَمَّد"), a shin dot and a vowel in
# Hebrew, subjoined letters in Tibetan. Escaping the second mark wrote a real name as
# "ग़\u0941लाम" on the filed form; up to four are drawn (a 200-mark pile still is not).
MARKS_ON_OTHER_LETTERS = 4
_ONE_MARK_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")


def _marks_allowed(letter: str) -> int:
    """How many non-spacing marks are drawn on `letter` (`drawable`)."""
    script = unicodedata.name(letter, "").split(" ", 1)[0]
    if script in _ONE_MARK_SCRIPTS or not category(letter).startswith(("L", "M")):
        return MARKS_ON_A_LETTER
    return MARKS_ON_OTHER_LETTERS


def _escape(c: str) -> str:
    return c.encode("unicode_escape").decode("ascii")


def drawable(text: str) -> str:
    """`text` with each character that has nothing to draw (`_NOT_DRAWN`, `_SELECTORS`, a
    non-spacing mark with no letter or past `_marks_allowed`) written as its escape:
    nothing dropped, each readable on the printed form. Line breaks are left as they are
    (`visible` writes them " | "); idempotent, the escapes being printable ASCII."""
    out: list[str] = []
    marks = -1  # marks on the letter before; -1: no letter to put a mark on
    allowed = MARKS_ON_A_LETTER  # marks drawn on the letter before (`_marks_allowed`)
    for c in text:
        cat = category(c)
        if (cat in _NOT_DRAWN and c not in "\n\r") or ord(c) in _SELECTORS:
            out.append(_escape(c))
            marks = -1
        elif cat in ("Mn", "Me"):
            if 0 <= marks < allowed:
                out.append(c)
                marks += 1
            else:
                out.append(_escape(c))
        else:
            out.append(c)
            marks = -1 if cat.startswith("Z") else 0
            allowed = _marks_allowed(c)
    return "".join(out)


def visible(text: str) -> str:
    """`text` with its control characters written as their escapes (`\\x1b`, `\\t`) and a
    line break as " | ", as the journal writes them (monitord/log.py `one_line`): a
    command's `by` or `lot` is free text from a station and may hold them. Drawn, each was
    a glyph no font has (matplotlib's warning on the report's stderr) and a line break
    broke the audit table's row; a NUL was taken for the wrap's pad and dropped. So are
    the other characters with nothing to draw (`drawable`)."""
    return drawable(one_line(text).replace("\t", "\\t"))


def wrap(text: str, width: int, **kw: Any) -> list[str]:
    """textwrap.wrap for the PDF's monospace columns, a wide character (Chinese, Japanese,
    Korean: about 1.7 DejaVu Sans Mono columns in the fallback font) counted as two: a
    64-character name in Japanese, counted as 64 columns, ran past the page's right edge
    and was cut off there. Control characters are written `visible` first."""
    text = visible(text)
    padded = "".join(c + _PAD if east_asian_width(c) in "WF" else c for c in text)
    return [line.replace(_PAD, "") for line in textwrap.wrap(padded, width, **kw)]
