"""The DTMF digit that differs, marked: ``digits 12<mark>4</mark>4`` beside ``digits 1234``,
with a note naming the position ("digit 3: 3 expected, 4 seen")."""

from __future__ import annotations

import difflib
import html
import re

from callgen.verdict.result import CheckResult

_DIGITS = re.compile(r"^digits (\S+)")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _opcodes(expected: str, seen: str) -> list[tuple[str, int, int, int, int]]:
    """Digit by digit when the lengths agree (a wrong digit, not one lost and one added),
    else difflib's alignment (a digit missing or extra)."""
    if len(expected) == len(seen):
        return [("equal" if a == b else "replace", i, i + 1, i, i + 1) for i, (a, b) in enumerate(zip(expected, seen, strict=True))]
    return difflib.SequenceMatcher(None, expected, seen, autojunk=False).get_opcodes()


def marked_seen(check: CheckResult) -> tuple[str, str] | None:
    """(seen as HTML with the differing digits in <mark>, a note per difference) for a failed
    DTMF check whose expected and seen name digits; None for any other check."""
    if check.passed or not check.name.endswith(".dtmf"):
        return None
    want, got = _DIGITS.match(check.expected), _DIGITS.match(check.seen)
    if not want or not got:
        return None
    expected, seen = want.group(1), got.group(1)
    seen = "" if seen == "(none)" else seen
    parts, notes = [], []
    for op, i1, i2, j1, j2 in _opcodes(expected, seen):
        if op == "equal":
            parts.append(_esc(seen[j1:j2]))
        elif op == "replace":
            parts.append(f"<mark>{_esc(seen[j1:j2])}</mark>")
            notes.append(f"digit {i1 + 1}: {expected[i1:i2]} expected, {seen[j1:j2]} seen")
        elif op == "delete":
            parts.append("<mark>‸</mark>")
            notes.append(f"digit {i1 + 1}: {expected[i1:i2]} missing")
        else:
            parts.append(f"<mark>{_esc(seen[j1:j2])}</mark>")
            notes.append(f"after digit {i1}: {seen[j1:j2]} extra")
    if not notes:
        return None
    rest = check.seen[got.end():]
    return f"digits {''.join(parts) or '(none)'}{_esc(rest)}", "; ".join(notes)
