"""argparse with two kindnesses: "did you mean" for a mistyped subcommand or option, and an
option typo reported with the usage of the subcommand it was typed for."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from typing import NoReturn

_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)$")


def _close(word: str, candidates: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


class CallgenParser(argparse.ArgumentParser):
    """Subparsers made from it are of this class too (``add_subparsers`` keeps the class)."""

    def error(self, message: str) -> NoReturn:
        choice = _INVALID_CHOICE.search(message)
        if choice:
            options = re.findall(r"'([^']*)'", choice.group(2))
            near = _close(choice.group(1), options)
            if near:
                message += f" (did you mean '{near}'?)"
        elif message.startswith("unrecognized arguments: "):
            message += self._option_hint(message.split(": ", 1)[1].split())
        super().error(message)

    def _option_hint(self, words: Sequence[str]) -> str:
        known = [s for s in self._option_string_actions if s.startswith("--")]
        for word in words:
            if word.startswith("--"):
                near = _close(word.split("=", 1)[0], known)
                if near:
                    return f" (did you mean {near}?)"
        return ""


def deepest_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser that handled the last subcommand chosen in ``args``."""
    current = parser
    while True:
        sub = next((a for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, sub.dest, None) if sub is not None and sub.dest != argparse.SUPPRESS else None
        if sub is None or chosen not in sub.choices:
            return current
        current = sub.choices[chosen]


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parse_args``, but unknown arguments are reported by the subcommand that got them."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        deepest_parser(parser, args).error(f"unrecognized arguments: {' '.join(extras)}")
    return args
