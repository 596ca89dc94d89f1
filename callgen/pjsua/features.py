"""What the pjsua in use can do beyond a stock pjsua: callgen's own patches
(scripts/pjsua-patches, docs/pjsua-patches.md) and compile-time options.

Found from the binary's ``--help`` text, which each patch extends with its
option or menu command, so a stock pjsua (``PJSUA=/path``) keeps working and a
scenario that needs a patched feature is refused at validate with the reason.
The answer is cached like the codec list (``callgen.pjsua.codecs``): keyed by
the binary's identity, so a rebuilt pjsua is probed again.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from callgen.fileio import OutputError, write_atomic
from callgen.pjsua.codecs import binary_identity, cache_dir

CACHE_FILE = "pjsua-features.json"
CACHE_VERSION = 1


class Feature(str, enum.Enum):
    """A capability, named by what a scenario or a run uses it for."""

    HEADERS = "headers"  #: patch 0001: --add-header, --answer-header, --reg-header, menu 'k'
    SELECT_CALL = "select-call"  #: patch 0002: menu 'g' makes call N current
    RTP_PORT_RANGE = "rtp-port-range"  #: patch 0003: --rtp-port-range
    QUICK_EXIT = "quick-exit"  #: patch 0004: --quick-exit
    IPV6 = "ipv6"  #: built with PJ_HAS_IPV6 (pjsua then offers --ipv6)
    IPV6_ONLY = "ipv6-only"  #: patch 0007: --ipv6-only (IPv6 transports on --local-port, IPv6 media)

    @property
    def marker(self) -> re.Pattern:
        return _MARKERS[self]

    @property
    def meaning(self) -> str:
        return _MEANING[self]


_MARKERS = {
    Feature.HEADERS: re.compile(r"^\s+--add-header=", re.M),  # with the others: see features_from_help
    Feature.SELECT_CALL: re.compile(r"^\s+g\s+Make call N", re.M),
    Feature.RTP_PORT_RANGE: re.compile(r"^\s+--rtp-port-range=", re.M),
    Feature.QUICK_EXIT: re.compile(r"^\s+--quick-exit\b", re.M),
    Feature.IPV6: re.compile(r"^\s+--ipv6\b", re.M),
    Feature.IPV6_ONLY: re.compile(r"^\s+--ipv6-only\b", re.M),
}
_MEANING = {
    Feature.HEADERS: "extra SIP headers on calls, answers and REGISTER (patch 0001)",
    Feature.SELECT_CALL: "menu 'g': any active call can be made current (patch 0002)",
    Feature.RTP_PORT_RANGE: "RTP ports wrap within --rtp-port-range (patch 0003)",
    Feature.QUICK_EXIT: "quits without the 1 s wait for answers (patch 0004)",
    Feature.IPV6: "built with IPv6 (--ipv6)",
    Feature.IPV6_ONLY: "IPv6-only transports and media on ::1 (--ipv6-only, patch 0007)",
}
#: Menu 'k' alone is not enough: headers need all four spellings of patch 0001.
_HEADERS_ALL = ("--add-header=", "--answer-header=", "--reg-header=")


def features_from_help(text: str) -> frozenset[Feature]:
    """The features a ``pjsua --help`` text announces."""
    found = {f for f in Feature if f is not Feature.HEADERS and f.marker.search(text)}
    if all(s in text for s in _HEADERS_ALL) and re.search(r"^\s+k\s+", text, re.M):
        found.add(Feature.HEADERS)
    return frozenset(found)


def probe_features(pjsua: str) -> frozenset[Feature] | None:
    """Run ``pjsua --help``; None when it cannot run (then nothing is remembered)."""
    try:
        p = subprocess.run([pjsua, "--help"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (p.stdout or "") + (p.stderr or "")
    return features_from_help(text) if "--null-audio" in text else None


def cached_features(pjsua: str, *, directory: Path | None = None,
                    probe: Callable[[str], frozenset[Feature] | None] = probe_features) -> frozenset[Feature]:
    """The features of ``pjsua``, from the cache when its identity is known there, else probed (and stored)."""
    identity = binary_identity(pjsua)
    # keyed by what this callgen knows too: callgens of other versions share the cache
    # folder, and one that knew fewer features must not answer for this one
    key = f"{identity}|{_known_digest()}" if identity else None
    path = (directory or cache_dir()) / CACHE_FILE
    entries = _read_cache(path) if key else {}
    if key and key in entries:
        return frozenset(Feature(v) for v in entries[key])
    found = probe(pjsua)
    if found is None:
        return frozenset()
    if key:
        current = {k: v for k, v in entries.items() if os.path.exists(k.split("|", 1)[0])}
        current[key] = sorted(f.value for f in found)
        _write_cache(path, current)
    return found


def _known_digest() -> str:
    """A short digest of the feature names this callgen can probe for."""
    return hashlib.sha256(",".join(sorted(f.value for f in Feature)).encode()).hexdigest()[:12]


def supported_features(pjsua: str) -> frozenset[Feature]:
    """The features of ``pjsua``; within one process the answer is kept per binary identity."""
    return _supported(pjsua, binary_identity(pjsua), str(cache_dir()))


@lru_cache(maxsize=8)
def _supported(pjsua: str, identity: str | None, directory: str) -> frozenset[Feature]:
    return cached_features(pjsua, directory=Path(directory))


def _read_cache(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("features"), dict):
        return {}
    known = {f.value for f in Feature}
    return {k: v for k, v in data["features"].items()
            if isinstance(v, list) and all(isinstance(x, str) and x in known for x in v)}


def _write_cache(path: Path, entries: dict[str, list[str]]) -> None:
    """Best effort: an unwritable cache folder is no error (the next run probes again)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"version": CACHE_VERSION, "features": entries}, indent=1, sort_keys=True))
    except (OSError, OutputError):
        pass
