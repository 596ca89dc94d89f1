"""Codec names in scenarios, checked against what the pjsua in use supports.

pjsua matches ``--add-codec`` by prefix (``PCMA`` -> ``PCMA/8000/1``) and
quietly ignores a name that matches nothing, which would leave the agent with
no codec at all; so callgen checks every name before anything starts.
"""

from __future__ import annotations

from functools import lru_cache



@lru_cache(maxsize=8)
def supported_codecs(pjsua: str) -> tuple[str, ...]:
    from callgen.pjsua.probe import pjsua_codecs

    return tuple(pjsua_codecs(pjsua))


def codec_known(name: str, supported: tuple[str, ...]) -> bool:
    n = name.lower()
    return any(c.lower() == n or c.lower().startswith(n + "/") for c in supported)
