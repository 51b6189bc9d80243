"""The docs in English and Korean: every page has its Korean twin, with the same commands and figures.

A Korean page is a translation, so its prose differs; what must not differ is what a reader
types (the commands in its code) and what it measured (its figures). Both are extracted from
the Markdown the same way for both languages and compared as sets.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
ENGLISH_PAGES = sorted(p for p in DOCS.glob("*.md") if not p.name.endswith(".ko.md"))
PAIRS = [(REPO / "README.md", REPO / "README.ko.md")] + [(p, p.with_suffix(".ko.md")) for p in ENGLISH_PAGES]

# What a reader types: a line of a code block, or an inline code span, that starts with one of these.
COMMAND = re.compile(r"^(?:\$ )?((?:\.venv/bin/|\. \.venv/)?(?:simplenn|make|python3?|pytest|curl|pip|\.venv/bin/\w+)(?=\s|$).*)$")
# A figure: a number with a decimal point or thousands separators, or one followed by a unit.
FIGURE = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+(?= ?(?:%|s|ms|GiB|GB|MB|MiB|×|x)(?![A-Za-z])))")


def commands(markdown: str) -> set[str]:
    lines, prose = [], []
    in_block = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
        elif in_block or line.startswith("    "):
            lines.append(line)
        else:
            prose.append(line)
    # inline code may wrap over a line break
    lines += re.findall(r"`([^`]+)`", re.sub(r"\s*\n\s*", " ", "\n".join(prose)))
    found = set()
    for text in lines:
        match = COMMAND.match(text.strip())
        if match:
            found.add(re.sub(r"\s+#.*$", "", match.group(1)).strip())  # comments are translated
    return found


def figures(markdown: str) -> set[str]:
    markdown = re.sub(r"\]\([^)]*\)", "]", markdown)  # not the numbers inside link targets
    return set(FIGURE.findall(markdown))


def test_every_english_page_has_a_korean_twin_and_nothing_else():
    assert ENGLISH_PAGES, "no pages in docs/"
    missing = [english.name for english, korean in PAIRS if not korean.exists()]
    assert not missing, f"no Korean page for: {', '.join(missing)}"
    orphans = [p.name for p in DOCS.glob("*.ko.md") if not p.with_name(p.name[:-6] + ".md").exists()]
    assert not orphans, f"Korean pages without an English one: {', '.join(orphans)}"


@pytest.mark.parametrize("english, korean", PAIRS, ids=[p.name for p, _ in PAIRS])
def test_korean_page_has_the_same_commands_and_figures(english, korean):
    en, ko = english.read_text(encoding="utf-8"), korean.read_text(encoding="utf-8")
    assert commands(en) == commands(ko), (
        f"commands only in {english.name}: {sorted(commands(en) - commands(ko))}; "
        f"only in {korean.name}: {sorted(commands(ko) - commands(en))}")
    assert figures(en) == figures(ko), (
        f"figures only in {english.name}: {sorted(figures(en) - figures(ko))}; "
        f"only in {korean.name}: {sorted(figures(ko) - figures(en))}")
    markers = re.compile(r"^<!-- generated: [a-z-]+ -->$", re.MULTILINE)
    assert markers.findall(en) == markers.findall(ko)


def test_the_extraction_sees_a_changed_figure_and_a_changed_command():
    page = "| `fixed` | 89.67 % | 9.3 s |\n\n```sh\nsimplenn train --preset fixed  # comment\n```\n"
    assert figures(page) == {"89.67", "9.3"} and commands(page) == {"simplenn train --preset fixed"}
    assert figures(page.replace("89.67", "89.76")) != figures(page)
    assert commands(page.replace("fixed  #", "best  #")) != commands(page)
    assert commands(page.replace("# comment", "# 주석")) == commands(page)


def test_the_korean_notebook_sits_beside_the_english_one():
    assert (REPO / "notebooks" / "simplenn.ko.ipynb").exists()
    assert (DOCS / "notebook.ko.ipynb").resolve() == REPO / "notebooks" / "simplenn.ko.ipynb"


def block_commands(markdown: str) -> set[str]:
    """The `simplenn ...` lines of a page's shell blocks (```sh), without their comments."""
    found, in_block = set(), False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block and line.strip() in ("```sh", "```bash")
        elif in_block and line.startswith("simplenn "):
            found.add(re.sub(r"\s+#.*$", "", line).strip())
    return found


@pytest.mark.parametrize("page", [english for english, _ in PAIRS], ids=[p.name for p, _ in PAIRS])
def test_every_command_in_a_code_block_is_one_the_cli_accepts(page, capsys):
    import shlex

    from simplenn.cli.program import build_parser
    from simplenn.errors import SimplennError

    parser = build_parser()
    for command in sorted(block_commands(page.read_text(encoding="utf-8"))):
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit as exit:
            if exit.code == 0:  # --version and --help answer and exit 0
                continue
            pytest.fail(f"{page.name}: `{command}` is refused: {capsys.readouterr().err.strip()} (exit {exit.code})")
        except SimplennError as error:
            pytest.fail(f"{page.name}: `{command}` is refused: {error}")
