"""The scenario JSON Schema (a data file, ``schemas/scenario.schema.json``) and
validation that turns schema errors into ``file:line: key.path: message``."""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import jsonschema
from jsonschema import Draft202012Validator

from callgen.errors import ScenarioError
from callgen.yamlsrc import KeyPath, SourceMap


def schema_path() -> Path:
    """The schema file: the source tree's ``schemas/`` or the packaged copy."""
    tree = Path(__file__).resolve().parent.parent / "schemas" / "scenario.schema.json"
    if tree.is_file():
        return tree
    return Path(str(resources.files("callgen") / "data" / "scenario.schema.json"))


@lru_cache(maxsize=1)
def scenario_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = scenario_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _leaf(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Descend into oneOf/anyOf contexts to the most specific error."""
    while error.context:
        best = jsonschema.exceptions.best_match(error.context)
        if best is None or (best.validator in ("oneOf", "anyOf") and not best.context):
            break
        # A 'not'/'required' error from a branch selector says little; keep the parent
        if best.validator == "not":
            break
        error = best
    return error


def _unknown_key_message(error: jsonschema.ValidationError) -> tuple[KeyPath, str] | None:
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return None
    allowed = list(error.schema.get("properties", {}))
    extras = [k for k in error.instance if k not in allowed]
    if not extras:
        return None
    key = extras[0]
    hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    msg = f"unknown key '{key}'"
    msg += f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(sorted(allowed))})"
    return tuple(error.absolute_path) + (key,), msg


def _step_message(error: jsonschema.ValidationError) -> str | None:
    """The step 'oneOf' says 'valid under each of'/'not valid under any': say what is meant."""
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "wait" in error.schema.get(
        "properties", {}
    ):
        actions = [k for k in ("wait", "pause", "hangup") if k in error.instance]
        if len(actions) > 1:
            return f"a step has exactly one action, found {', '.join(actions)}"
        if not actions:
            return "a step needs one action: wait, pause or hangup"
        if "timeout" in error.instance and actions[0] != "wait":
            return "'timeout' goes only with 'wait'"
    return None


def describe(error: jsonschema.ValidationError) -> tuple[KeyPath, str]:
    """Key path and one-line message for a schema error."""
    unknown = _unknown_key_message(error)
    if unknown:
        return unknown
    step = _step_message(error)
    if step:
        return tuple(error.absolute_path), step
    leaf = _leaf(error)
    unknown = _unknown_key_message(leaf)
    if unknown:
        return unknown
    if leaf.validator == "required":
        return tuple(leaf.absolute_path), leaf.message
    if leaf.validator == "pattern":
        desc = leaf.schema.get("description", "")
        return tuple(leaf.absolute_path), f"{leaf.instance!r} is not valid here" + (f": {desc}" if desc else "")
    if leaf.validator == "format":
        desc = leaf.schema.get("description", "")
        return tuple(leaf.absolute_path), f"{leaf.instance!r} is not a valid {leaf.validator_value}" + (f": {desc}" if desc else "")
    if leaf.validator == "enum":
        choices = ", ".join(repr(c) for c in leaf.validator_value)
        return tuple(leaf.absolute_path), f"{leaf.instance!r} is not one of {choices}"
    if leaf.validator == "propertyNames":
        return tuple(leaf.absolute_path), leaf.message
    return tuple(leaf.absolute_path), leaf.message


def schema_errors(data: Any, smap: SourceMap) -> list[ScenarioError]:
    """Every schema violation in ``data`` as a ScenarioError, in file order."""
    errors = []
    for err in _validator().iter_errors(data):
        path, msg = describe(err)
        errors.append(smap.error(path, msg))
    errors.sort(key=lambda e: (int(e.location.rsplit(":", 1)[-1]) if ":" in e.location else 0, e.path))
    return _dedupe(errors)


def _dedupe(errors: Iterable[ScenarioError]) -> list[ScenarioError]:
    seen, out = set(), []
    for e in errors:
        if str(e) not in seen:
            seen.add(str(e))
            out.append(e)
    return out
