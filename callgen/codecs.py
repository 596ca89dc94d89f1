"""Codec names in scenarios, checked against what the pjsua in use supports.

pjsua matches ``--add-codec`` by prefix (``PCMA`` -> ``PCMA/8000/1``) and
quietly ignores a name that matches nothing, which would leave the agent with
no codec at all; so callgen checks every name before anything starts.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from callgen.errors import ScenarioError, ScenarioErrors
from callgen.model import Scenario


@lru_cache(maxsize=8)
def supported_codecs(pjsua: str) -> tuple[str, ...]:
    from callgen.doctor import pjsua_codecs

    return tuple(pjsua_codecs(pjsua))


def codec_known(name: str, supported: tuple[str, ...]) -> bool:
    n = name.lower()
    return any(c.lower() == n or c.lower().startswith(n + "/") for c in supported)


def check_codecs(scenario: Scenario, supported: tuple[str, ...]) -> Scenario:
    """Return ``scenario`` or raise with file:line for each unknown codec name."""
    if not supported:  # pjsua could not list them: let pjsua itself decide
        return scenario
    problems: list[ScenarioError] = []
    listed = ", ".join(sorted({c.split("/")[0] for c in supported}))
    for agent in scenario.agents:
        for i, name in enumerate(agent.codecs):
            if not codec_known(name, supported):
                problems.append(scenario.source_map.error(
                    ("agents", agent.name, "codecs", i), f"codec '{name}' is not in this pjsua (it has {listed})"))
    for call in scenario.calls:  # the loader already checked it against listed codecs
        want = call.expect.codec
        if want and not codec_known(want.split("/")[0], supported):
            problems.append(scenario.source_map.error(
                ("calls", call.index, "expect", "codec"), f"'{want}' can never be selected: this pjsua has no such codec (it has {listed})"))
    if problems:
        raise problems[0] if len(problems) == 1 else ScenarioErrors(problems)
    return scenario


def load_checked(path: Path, pjsua: str | None, **load_options: Any) -> Scenario:
    """``load_scenario`` plus the codec check against ``pjsua`` (skipped without one)."""
    from callgen.loader import load_scenario

    scenario = load_scenario(path, **load_options)
    return check_codecs(scenario, supported_codecs(pjsua)) if pjsua else scenario
