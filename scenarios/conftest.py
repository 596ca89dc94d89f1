"""`pytest scenarios/` runs this library with the callgen plugin.

The registrar scenarios need a Kamailio (${KAMAILIO}, ${SIP_PASSWORD}); when
none is given, one is started here for the session, on a free loopback port,
before the scenario files are collected (their variables are read then).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path


def pytest_configure(config):
    if os.environ.get("KAMAILIO"):
        return
    from callgen.sut.kamailio import start_kamailio

    password = os.environ.get("SIP_PASSWORD") or secrets.token_hex(8)
    kam = start_kamailio(Path(tempfile.mkdtemp(prefix="callgen-kamailio-")), password=password)
    os.environ["KAMAILIO"] = f"{kam.address}:{kam.port}"
    os.environ["SIP_PASSWORD"] = password
    config._callgen_kamailio = kam


def pytest_unconfigure(config):
    kam = getattr(config, "_callgen_kamailio", None)
    if kam is not None:
        kam.stop()
        os.environ.pop("KAMAILIO", None)
