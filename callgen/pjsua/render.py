"""Rendering of pjsua configuration files (``--config-file``).

pjsua's reader (pjsua_app_config.c read_config_file) reads with
``fgets(line, 200)``: at most 199 characters, and the rest of a longer line is
read as the next line.  It splits on blanks, honours one level of '...' or
"..." quoting with no escapes, and drops the rest of a line at a token starting
with '#'.  Every option therefore becomes one token on its own line, quoted
when it contains blanks, and anything that reader could split, cut or
reinterpret is refused here; comment lines are cleaned and cut to one read, so
no scenario value or file name can inject another pjsua option.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from callgen.scenario.yamlsrc import KeyPath

MAX_LINE = 199  #: fgets(line, 200) in read_config_file, including the newline
MAX_ARGS = 120  #: pjsua stops at 128 argv entries; keep room for command-line extras
_FORBIDDEN = {"\n": "a newline", "\r": "a carriage return", "\0": "a NUL byte", "\t": "a tab"}


@dataclass(frozen=True)
class PjsuaOption:
    """One pjsua option; ``key`` is the scenario key path it came from (for errors)."""

    name: str  #: e.g. "--id"
    value: str | None = None
    key: KeyPath = ()

    @property
    def token(self) -> str:
        return self.name if self.value is None else f"{self.name}={self.value}"


class RenderError(ValueError):
    def __init__(self, option: PjsuaOption, problem: str):
        self.option = option
        self.problem = problem
        super().__init__(f"{option.name}: value {option.value!r} {problem}")


def quote_token(option: PjsuaOption) -> str:
    """The option as one config-file token, or RenderError."""
    tok = option.token
    for ch, what in _FORBIDDEN.items():
        if ch in tok:
            raise RenderError(option, f"contains {what}, which pjsua's config reader would split")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in tok):
        raise RenderError(option, "contains a control character")
    if not option.name.startswith("--") or "=" in option.name or " " in option.name:
        raise RenderError(option, "is not a long option name")
    # The token starts with "--", so only a blank needs quoting (a leading quote or '#'
    # cannot occur); quotes inside an unquoted token are kept as they are by pjsua.
    if " " in tok:
        if "'" not in tok:
            tok = f"'{tok}'"
        elif '"' not in tok:
            tok = f'"{tok}"'
        else:
            raise RenderError(option, "contains both quote characters and a blank; pjsua cannot read it as one token")
    if len(tok) + 1 > MAX_LINE:
        raise RenderError(option, f"is too long ({len(tok)} characters; pjsua reads lines of at most {MAX_LINE - 1})")
    return tok


def render_config(options: Sequence[PjsuaOption], header: Iterable[str] = ()) -> str:
    """The text of a pjsua config file with one option per line."""
    if len(options) > MAX_ARGS:
        raise RenderError(options[MAX_ARGS], f"is option number {len(options)}; pjsua reads at most {MAX_ARGS}")
    lines = [_comment(h) for h in header]
    lines += [quote_token(o) for o in options]
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    """One comment line pjsua skips whole: control characters (a newline in a file name)
    become blanks, and the line is cut to what one fgets() reads, since pjsua reads the
    rest of a longer line as a line of its own (its tokens would be options)."""
    clean = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    return f"# {clean}"[: MAX_LINE - 1]


def parse_config(text: str) -> list[str]:
    """pjsua's own tokenisation of a config file (for tests and 'render' checks)."""
    argv: list[str] = []
    for line in _fgets_lines(text):
        i, n = 0, len(line)
        while i < n:
            while i < n and line[i] in " \t\r\n":
                i += 1
            if i >= n:
                break
            if line[i] in "\"'":
                q = line[i]
                j = line.find(q, i + 1)
                j = n if j < 0 else j
                token = line[i + 1 : j]
                i = j + 1
            else:
                j = i
                while j < n and line[j] not in " \t\r\n":
                    j += 1
                token = line[i:j]
                i = j
            if token.startswith("#"):
                break
            if token:
                argv.append(token)
    return argv


def _fgets_lines(text: str) -> list[str]:
    """The lines pjsua's reader sees: ``fgets(line, 200)`` takes at most 199 characters,
    so a longer line goes on as the next one; then one trailing newline and one
    carriage return are stripped."""
    out = []
    i = 0
    while i < len(text):
        j = text.find("\n", i, i + MAX_LINE)
        end = j + 1 if j >= 0 else min(i + MAX_LINE, len(text))
        line = text[i:end]
        i = end
        line = line[:-1] if line.endswith("\n") else line
        line = line[:-1] if line.endswith("\r") else line
        out.append(line)
    return out
