"""MkDocs hook: the pages' parts that are generated from the package, so they cannot drift.

A page asks for a part with a marker line of its own:

    <!-- generated: config-knobs -->     every `Config` field: flag, group, each preset's value, limits, help
    <!-- generated: architecture -->     the package's docstring, the one map of its layout

Both are read from the source at build time (`make docs`); nothing generated is stored.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)

HEADINGS = {
    "en": ("flag", "group", "blog", "fixed", "best", "allowed", "what it does"),
    "ko": ("플래그", "묶음", "blog", "fixed", "best", "허용 값", "하는 일 (CLI의 --help 설명)"),
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
    """One row per `Config` field, grouped as `simplenn train --help` groups them."""
    from simplenn.config import GROUPS, PRESETS, config_fields, flags_of

    head = HEADINGS[lang]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fields = sorted(config_fields(), key=lambda f: GROUPS.index(f.metadata["group"]))
    for field in fields:
        flags = " / ".join(f"`{flag}`" for flag in flags_of(field))
        values = [f"`{_value(getattr(PRESETS[name], field.name))}`" for name in ("blog", "fixed", "best")]
        help_text = field.metadata["help"].replace("|", "\\|")
        lines.append(f"| {flags} | {field.metadata['group']} | " + " | ".join(values)
                     + f" | {_allowed(field)} | {help_text} |")
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
