"""Extra SIP headers in scenarios: ``calls[].headers``, ``agents.X.answer_headers``,
``agents.X.register.headers`` (what to send) and ``calls[].expect.headers`` (what the
INVITE that reached the callee must carry).

A header reaches pjsua as one menu line (``k`` then ``Name: value``) or one config-file
option (``--answer-header=Name: value``): a name is an RFC 3261 token and a value holds
no control character (no CR, LF or NUL), so neither can end the line early and become
another pjsua command or option.  Headers pjsua writes itself are refused: a second Via
or Call-ID would make a broken message, not a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from callgen.scenario.yamlsrc import KeyPath, SourceMap

#: RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]{1,64}")
#: pjsua reads the 'k' line with fgets(512): name, ": ", value and the newline must fit
MAX_VALUE = 160
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Headers pjsua builds itself (and their compact forms): adding one breaks the message.
RESERVED = {n.lower(): n for n in (
    "Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Max-Forwards",
    "Route", "Record-Route", "Content-Type", "c", "Content-Length", "l")}
ABSENT = "absent"


@dataclass(frozen=True)
class HeaderExpect:
    """One ``expect.headers`` entry: the header's exact value, a regular expression
    its whole value must match, or that it is absent."""

    name: str
    value: str | None = None
    regex: str | None = None
    absent: bool = False

    @property
    def wanted(self) -> str:
        if self.absent:
            return f"no {self.name} header"
        if self.regex is not None:
            return f"{self.name} matching /{self.regex}/"
        return f"{self.name}: {self.value}"

    def matches(self, values: list[str]) -> bool:
        """Against every value the header has in the message (empty: not there)."""
        if self.absent:
            return not values
        if self.regex is not None:
            pattern = re.compile(self.regex)
            return any(pattern.fullmatch(v) for v in values)
        return self.value in values


def header_problem(name: str, value: str | None) -> str | None:
    """Why this header cannot be sent (None: it can)."""
    if not TOKEN.fullmatch(name):
        return f"header name {name[:40]!r} is not an RFC 3261 token (letters, digits, - . ! % * _ + ` ' ~)"
    if name.lower() in RESERVED:
        return f"pjsua writes the {RESERVED[name.lower()]} header itself; it cannot be added"
    if value is not None:
        if _CONTROL.search(value):
            return f"the value of {name} holds a control character (CR, LF, NUL, tab...): a header value is one line"
        if len(value) > MAX_VALUE:
            return f"the value of {name} is {len(value)} characters long; at most {MAX_VALUE}"
    return None


def parse_headers(spec: Any, key: KeyPath, smap: SourceMap) -> tuple[tuple[str, str], ...]:
    """A schema-valid headers mapping -> ((name, value), ...); raise at the first bad one."""
    out = []
    for name, value in (spec or {}).items():
        text = str(value)
        problem = header_problem(str(name), text)
        if problem:
            raise smap.error(key + (name,), problem)
        out.append((str(name), text))
    return tuple(out)


def parse_header_expects(spec: Any, key: KeyPath, smap: SourceMap) -> tuple[HeaderExpect, ...]:
    out = []
    for name, want in (spec or {}).items():
        problem = header_problem(str(name), None)
        if problem:
            raise smap.error(key + (name,), problem)
        if isinstance(want, dict):
            try:
                re.compile(want["regex"])
            except re.error as exc:
                raise smap.error(key + (name, "regex"), f"not a regular expression: {exc}") from None
            out.append(HeaderExpect(str(name), regex=want["regex"]))
        elif str(want) == ABSENT:
            out.append(HeaderExpect(str(name), absent=True))
        else:
            out.append(HeaderExpect(str(name), value=str(want)))
    return tuple(out)
