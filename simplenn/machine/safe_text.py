"""Text from a run or a dataset (class names, file names, run names), made harmless where it lands.

A class name is whatever a CSV header, a folder name or a `data.json` said: it can hold a
terminal escape sequence, a spreadsheet formula or matplotlib's `$...$` mathtext. Each
sink gets one function, applied where the text is written, so the stored name stays
the user's own:

    terminal_text      printed lines: control and format characters shown escaped (\\x1b)
    spreadsheet_cell   CSV cells: OWASP's rule against formula injection, a leading '
    plain_figure_text  matplotlib: every text object of a figure drawn without mathtext

HTML is escaped where the report and the page build it (`html.escape`, `textContent`).
"""

from __future__ import annotations

import unicodedata

# Unicode categories a terminal may act on: controls (ESC, BEL, CR, C1), formatting (bidi
# overrides, zero-width characters), line and paragraph separators, surrogates.
HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list: cells a spreadsheet reads as a formula


def terminal_text(text: str, keep: str = "") -> str:
    """`text` with each control or format character written as its Python escape, e.g. ESC as `\\x1b`.

    keep: characters left as they are, e.g. "\\n" for a message printed over several lines.
    """
    return "".join(
        char if char in keep or unicodedata.category(char) not in HIDDEN_CATEGORIES
        else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def spreadsheet_cell(value) -> str:
    """`value` as a CSV cell that Excel, LibreOffice and Google Sheets show as text, never run.

    OWASP's rule: a cell starting with = + - @ tab or CR gets a leading `'`. Numbers such
    as -1 are left alone: a spreadsheet reads them as numbers, not formulas.
    """
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def plain_figure_text(figure) -> None:
    """Draw every text object of `figure` literally: `$x$` stays two dollars and an x, not mathtext.

    simplenn's own figures use no mathtext, so only labels taken from data are affected.
    Tick labels are made when the figure is drawn; `drawing_without_mathtext` covers those.
    """
    from matplotlib.text import Text

    for text in figure.findobj(Text):
        text.set_parse_math(False)


def drawing_without_mathtext():
    """A context in which new text objects (tick labels made while drawing) skip mathtext."""
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False})


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text
