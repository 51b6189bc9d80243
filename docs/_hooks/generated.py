"""MkDocs hook: the pages' parts that are generated from the package, so they cannot drift.

A page asks for a part with a marker line of its own:

    <!-- generated: config-knobs -->     every `Config` field: flag, group, each preset's value, limits, help
    <!-- generated: architecture -->     the package's docstring, the one map of its layout

Both are read from the source at build time (`make docs`); nothing generated is stored.
It also hands the notebooks back to mkdocs-jupyter after the i18n plugin has sorted the
files by language (which turns them into plain files that would be copied as they are).
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files

REPO = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)

HEADINGS = {
    "en": ("flag", "what it does", "blog", "fixed", "best", "allowed"),
    "ko": ("플래그", "하는 일 (`--help`의 설명)", "blog", "fixed", "best", "허용 값"),
}
GROUP_TITLES = {
    "en": "`{group}` flags",
    "ko": "`{group}` 플래그",
}


def _value(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _allowed(field) -> str:
    meta = field.metadata
    if meta["choices"]:
        return ", ".join(meta["choices"])
    parts = {"positive": "> 0", "non_negative": "≥ 0", "fraction": "[0, 1)", "gamma": "(0, 1]"}
    text = parts.get(meta["limit"], "")
    if meta["maximum"] is not None:
        text += f" ≤ {meta['maximum']:,}"
    return text.strip()


def config_knobs(lang: str) -> str:
    """One table per group of `simplenn train --help`, one row per `Config` field."""
    from simplenn.config import GROUPS, PRESETS, config_fields, flags_of

    head = HEADINGS[lang]
    lines = []
    for group in GROUPS:
        lines += ["", "### " + GROUP_TITLES[lang].format(group=group), "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for field in (f for f in config_fields() if f.metadata["group"] == group):
            flags = "<br>".join(f"`{flag}`" for flag in flags_of(field))
            values = [f"`{_value(getattr(PRESETS[name], field.name))}`" for name in ("blog", "fixed", "best")]
            help_text = field.metadata["help"].replace("|", "\\|")
            lines.append(f"| {flags} | {help_text} | " + " | ".join(values) + f" | {_allowed(field)} |")
    return "\n".join(lines)


def architecture(lang: str) -> str:
    """The package docstring, read from the source without importing the package."""
    source = (REPO / "simplenn" / "__init__.py").read_text(encoding="utf-8")
    return inspect.cleandoc(ast.get_docstring(ast.parse(source), clean=False) or "")


PARTS = {"config-knobs": config_knobs, "architecture": architecture}


def on_page_markdown(markdown: str, page, config, files) -> str:
    lang = "ko" if page.file.src_uri.endswith(".ko.md") else "en"

    def generate(match: re.Match) -> str:
        name = match.group(1)
        if name not in PARTS:
            raise ValueError(f"{page.file.src_uri}: no generated part named {name!r}")
        return PARTS[name](lang)

    return MARKER.sub(generate, markdown)


@event_priority(-200)  # after mkdocs-static-i18n's on_files (-100)
def on_files(files: Files, config) -> Files:
    """The i18n plugin rebuilds every file as a plain `File`, which for a notebook is copied as it
    is; its destination is already a page's, so marking it a page again lets mkdocs-jupyter render it."""
    for file in files:
        if file.src_uri.endswith(".ipynb") and file.dest_uri.endswith(".html"):
            file.is_documentation_page = lambda: True
            # The i18n plugin pairs only Markdown pages across languages, so the Korean notebook's
            # language switcher would lead to the English home page; pair the notebooks by their
            # destination (the switcher reads only `url`; `page` is for the sitemap's template).
            name = file.dest_uri.removeprefix("ko/")
            for lang, url in (("en", name), ("ko", "ko/" + name)):
                getattr(file, "alternates", {}).setdefault(lang, SimpleNamespace(url=url, page=None))
    return files
