"""Codec names in scenarios, checked against what the pjsua in use supports.

pjsua matches ``--add-codec`` by prefix (``PCMA`` -> ``PCMA/8000/1``) and
quietly ignores a name that matches nothing, which would leave the agent with
no codec at all; so callgen checks every name before anything starts.

Listing a pjsua's codecs means starting it and quitting it, about 1.5 s (its
quit alone waits 1 s, see ``callgen.pjsua.driver``), before every run.  The
list only changes with the binary, so it is kept in a small cache file keyed by
the binary's identity (real path, size, mtime, inode): a rebuilt or replaced
pjsua is probed again.  The cache lives in ``$XDG_CACHE_HOME/callgen`` (else
``~/.cache/callgen``); a cache that cannot be read or written only costs the
probe, never the run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

from callgen.fileio import OutputError, write_atomic

CACHE_FILE = "pjsua-codecs.json"
CACHE_VERSION = 1


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/callgen``, else ``~/.cache/callgen``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME", "").strip()
    if not base or not os.path.isabs(base):  # the XDG spec: a relative value is to be ignored
        base = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base) / "callgen"


def binary_identity(pjsua: str) -> str | None:
    """What makes two runs use the same pjsua: real path, size, mtime, inode (None: cannot stat)."""
    try:
        real = os.path.realpath(pjsua)
        st = os.stat(real)
    except OSError:
        return None
    return f"{real}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def _read_cache(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("codecs"), dict):
        return {}
    return {k: v for k, v in data["codecs"].items()
            if isinstance(v, list) and v and all(isinstance(c, str) for c in v)}


def _write_cache(path: Path, entries: dict[str, list[str]]) -> None:
    """Best effort: an unwritable or full cache folder is no error (the next run probes again)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"version": CACHE_VERSION, "codecs": entries}, indent=1, sort_keys=True))
    except (OSError, OutputError):
        pass


def cached_codecs(pjsua: str, *, directory: Path | None = None,
                  probe: Callable[[str], list[str]] | None = None) -> tuple[str, ...]:
    """The codecs of ``pjsua``, from the cache when its identity is known there, else probed (and stored)."""
    if probe is None:
        from callgen.pjsua.probe import pjsua_codecs as probe
    key = binary_identity(pjsua)
    path = (directory or cache_dir()) / CACHE_FILE
    entries = _read_cache(path) if key else {}
    if key and key in entries:
        return tuple(entries[key])
    codecs = tuple(probe(pjsua))
    if key and codecs:  # a failed probe is not remembered: the next run tries again
        current = {k: v for k, v in entries.items() if os.path.exists(k.split("|", 1)[0])}
        current[key] = list(codecs)
        _write_cache(path, current)
    return codecs


def supported_codecs(pjsua: str) -> tuple[str, ...]:
    """The codecs of ``pjsua``; within one process the answer is kept per binary identity."""
    return _supported(pjsua, binary_identity(pjsua), str(cache_dir()))


@lru_cache(maxsize=8)
def _supported(pjsua: str, identity: str | None, directory: str) -> tuple[str, ...]:
    return cached_codecs(pjsua, directory=Path(directory))


def codec_known(name: str, supported: tuple[str, ...]) -> bool:
    n = name.lower()
    return any(c.lower() == n or c.lower().startswith(n + "/") for c in supported)
