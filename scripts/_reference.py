"""What the generated reference pages share: their text between two markers is the
generator's output, rewritten in place (scripts/checks_reference.py, scripts/schema_reference.py)."""

from __future__ import annotations

from pathlib import Path


def update_between(page: Path, begin: str, end: str, block: str) -> bool:
    """Replace the page's text from ``begin`` through ``end`` with ``block`` (which starts
    with ``begin`` and ends with ``end``); True when the page changed."""
    text = page.read_text()
    start, stop = text.index(begin), text.index(end) + len(end)
    new = text[:start] + block + text[stop:]
    if new != text:
        page.write_text(new)
        return True
    return False


def rewrite(page: Path, update) -> int:
    """The scripts' command: ``update(page)``, then say whether the page changed; exit status 0."""
    changed = update(page)
    print(f"{page.relative_to(Path(__file__).resolve().parent.parent)}", "updated" if changed else "up to date")
    return 0
