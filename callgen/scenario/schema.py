"""The scenario JSON Schema (a data file, ``schemas/scenario.schema.json``) and
validation that turns schema errors into ``file:line: key.path: message``."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from callgen.errors import ScenarioError
from callgen.scenario.yamlsrc import KeyPath, SourceMap, format_path


def schema_path() -> Path:
    """The schema file: the source tree's ``schemas/`` or the packaged copy."""
    tree = Path(__file__).resolve().parents[2] / "schemas" / "scenario.schema.json"
    if tree.is_file():
        return tree
    return Path(str(resources.files("callgen.scenario") / "data" / "scenario.schema.json"))


@lru_cache(maxsize=1)
def scenario_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    # The schema ships with the code and is checked against the 2020-12 metaschema by the
    # tests (test_schema_is_valid_2020_12_with_descriptions_everywhere); checking it again
    # in every process cost about 0.08 s of each run's start-up.
    return Draft202012Validator(scenario_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


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


#: Keys people ask for that pjsua cannot do: (key, parent key or a key beside it) -> why not.
UNSUPPORTED_KEYS = {
    ("suites", "srtp"): "pjsua has no option to choose SRTP crypto suites: it always offers "
                        "AES_256_CM_HMAC_SHA1_80, AES_256_CM_HMAC_SHA1_32, AES_CM_128_HMAC_SHA1_80 and _32, in that order",
    ("crypto", "srtp"): "pjsua has no option to choose SRTP crypto suites (see srtp.use and srtp.keying)",
    ("duration_ms", "dtmf"): "pjsua has no option for the RFC 2833 event duration: each digit lasts about 200 ms",
    ("payload_type", "dtmf"): "pjsua has no option for the telephone-event payload type: it always uses 120",
    ("volume", "dtmf"): "pjsua has no option for the RFC 2833 event volume: it always sends 10",
    ("dtmf_payload_type", "role"): "pjsua has no option for the telephone-event payload type: it always uses 120",
}


def _unsupported_reason(key: str, error: jsonschema.ValidationError) -> str | None:
    parent = error.absolute_path[-1] if error.absolute_path else ""
    for (k, context), why in UNSUPPORTED_KEYS.items():
        if k == key and (parent == context or context in error.instance):
            return why
    return None


def _unknown_key_message(error: jsonschema.ValidationError) -> tuple[KeyPath, str] | None:
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return None
    allowed = list(error.schema.get("properties", {}))
    extras = [k for k in error.instance if k not in allowed]
    if not extras:
        return None
    key = extras[0]
    why = _unsupported_reason(key, error)
    if why:
        return tuple(error.absolute_path) + (key,), f"'{key}' is not supported: {why}"
    hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    msg = f"unknown key '{key}'"
    msg += f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(sorted(allowed))})"
    return tuple(error.absolute_path) + (key,), msg


def _step_actions(step_schema: dict[str, Any]) -> list[str]:
    """The step's actions, in schema order: each 'oneOf' branch requires exactly one."""
    return [b["required"][0] for b in step_schema.get("oneOf", ())
            if isinstance(b, dict) and len(b.get("required", ())) == 1]


def _step_message(error: jsonschema.ValidationError) -> str | None:
    """The step 'oneOf' says 'valid under each of'/'not valid under any': say what is meant."""
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "wait" in error.schema.get(
        "properties", {}
    ):
        every = _step_actions(error.schema)
        actions = [k for k in every if k in error.instance]
        if len(actions) > 1:
            return f"a step has exactly one action, found {', '.join(actions)}"
        if not actions:
            return f"a step needs one action: {', '.join(every[:-1])} or {every[-1]}"
        if "timeout" in error.instance and actions[0] != "wait":
            return "'timeout' goes only with 'wait'"
    return None


def short(value: Any, width: int = 40) -> str:
    """A value as a short phrase: long strings cut, collections counted, never a dump."""
    if isinstance(value, dict):
        return f"a mapping of {len(value)} entries"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, str) and len(value) > width:
        return f"{value[:width]!r}... ({len(value)} characters)"
    return repr(value)


def _branch(schema: dict[str, Any]) -> str:
    """What one oneOf/anyOf branch allows, in words."""
    if "const" in schema:
        what = repr(schema["const"])
    elif "enum" in schema:
        what = " or ".join(repr(v) for v in schema["enum"])
    elif "minimum" in schema or "maximum" in schema:
        kind = "an integer" if schema.get("type", "integer") == "integer" else "a number"
        lo, hi = schema.get("minimum"), schema.get("maximum")
        what = f"{kind} from {lo} to {hi}" if lo is not None and hi is not None else (
            f"{kind} >= {lo}" if lo is not None else f"{kind} <= {hi}")
    elif "type" in schema:
        what = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
                "array": "a list", "object": "a mapping"}.get(str(schema["type"]), str(schema["type"]))
    else:
        what = ""
    desc = schema.get("description", "").rstrip(".")
    return f"{what} ({desc})" if what and desc else (what or desc)


def _alternatives_message(error: jsonschema.ValidationError) -> str | None:
    """A oneOf/anyOf of plain values: say what is allowed instead of one branch's complaint."""
    if error.validator not in ("oneOf", "anyOf") or isinstance(error.instance, (dict, list)):
        return None
    if "is valid under each of" in error.message:  # matched twice: not a question of what is allowed
        return None
    branches = error.validator_value
    if not all(isinstance(b, dict) and not ({"properties", "required", "oneOf", "anyOf"} & b.keys()) for b in branches):
        return None
    parts = [_branch(b) for b in branches]
    if not all(parts):
        return None
    return f"{short(error.instance)} is not allowed; allowed: " + "; or ".join(parts)


def _plain_message(leaf: jsonschema.ValidationError) -> str:
    """jsonschema's message with the instance shortened (it would print it whole)."""
    v, inst = leaf.validator, leaf.instance
    if v in ("maxProperties", "minProperties"):
        bound = "at most" if v == "maxProperties" else "at least"
        return f"{len(inst)} entries; {bound} {leaf.validator_value} allowed"
    if v in ("maxItems", "minItems"):
        if v == "minItems" and leaf.validator_value == 1 and not inst:
            return "must not be empty"
        bound = "at most" if v == "maxItems" else "at least"
        return f"{len(inst)} items; {bound} {leaf.validator_value} allowed"
    if v in ("maxLength", "minLength"):
        bound = "at most" if v == "maxLength" else "at least"
        return f"{len(inst)} characters; {bound} {leaf.validator_value} allowed"
    if v == "type":
        want = leaf.validator_value
        want = " or ".join(map(repr, want)) if isinstance(want, list) else repr(want)
        return f"{short(inst)} is not of type {want}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return leaf.message
    if v == "const":
        return f"{short(inst)} is not allowed; allowed: {leaf.validator_value!r}"
    if v == "uniqueItems":
        return "has repeated items; each may appear once"
    message = leaf.message
    return message if len(message) <= 200 else message[:200] + "..."


def _outside_caller_message(error: jsonschema.ValidationError) -> tuple[KeyPath, str] | None:
    """'from: sip:...' (an outside party calling in) gets the reason, not a pattern complaint."""
    for e in [error, *(error.context or ())]:
        path = tuple(e.absolute_path)
        if path[-1:] == ("from",) and isinstance(e.instance, str) and e.instance.startswith(("sip:", "sips:")):
            return path, ("an outside party cannot be the caller: callgen places every call from one of its own "
                          "agents (it drives the caller's steps and reads its log); name an agent with role caller "
                          "here, and put the outside party in 'to'")
    return None


def describe(error: jsonschema.ValidationError) -> tuple[KeyPath, str]:
    """Key path and one-line message for a schema error."""
    unknown = _unknown_key_message(error)
    if unknown:
        return unknown
    step = _step_message(error)
    if step:
        return tuple(error.absolute_path), step
    outside = _outside_caller_message(error)
    if outside:
        return outside
    alternatives = _alternatives_message(error)
    if alternatives:
        return tuple(error.absolute_path), alternatives
    leaf = _leaf(error)
    alternatives = _alternatives_message(leaf)
    if alternatives:
        return tuple(leaf.absolute_path), alternatives
    unknown = _unknown_key_message(leaf)
    if unknown:
        return unknown
    if leaf.validator == "required":
        return tuple(leaf.absolute_path), leaf.message
    if leaf.validator == "pattern":
        desc = leaf.schema.get("description", "")
        return tuple(leaf.absolute_path), f"{short(leaf.instance)} is not valid here" + (f": {desc}" if desc else "")
    if leaf.validator == "format":
        desc = leaf.schema.get("description", "")
        return tuple(leaf.absolute_path), f"{short(leaf.instance)} is not a valid {leaf.validator_value}" + (f": {desc}" if desc else "")
    if leaf.validator == "enum":
        choices = ", ".join(repr(c) for c in leaf.validator_value)
        return tuple(leaf.absolute_path), f"{short(leaf.instance)} is not one of {choices}"
    if leaf.validator == "propertyNames":
        return tuple(leaf.absolute_path), _plain_message(leaf)
    return tuple(leaf.absolute_path), _plain_message(leaf)


#: keys whose value is never shown in a message or a source snippet
SECRET_KEYS = frozenset({"password"})


def _hidden(path: KeyPath, msg: str, instance: Any) -> str:
    """``msg`` without the secret ``instance`` (as ``short`` or ``repr`` printed it)."""
    for shown in sorted({short(instance), repr(instance)}, key=len, reverse=True):
        if shown and shown in msg:
            msg = msg.replace(shown, "the value (not shown)")
    return msg


def schema_errors(data: Any, smap: SourceMap) -> list[ScenarioError]:
    """Every schema violation in ``data`` as a ScenarioError, in file order."""
    errors = []
    for err in _validator().iter_errors(data):
        path, msg = describe(err)
        if path and path[-1] in SECRET_KEYS:  # a password, often from the environment: never on the terminal
            errors.append(ScenarioError(_hidden(path, msg, _at(data, path)), location=smap.location(path),
                                        path=format_path(path)))
            continue
        errors.append(smap.error(path, msg))
    errors.sort(key=lambda e: (int(e.location.rsplit(":", 1)[-1]) if ":" in e.location else 0, e.path))
    return _dedupe(errors)


def _at(data: Any, path: KeyPath) -> Any:
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _dedupe(errors: Iterable[ScenarioError]) -> list[ScenarioError]:
    seen, out = set(), []
    for e in errors:
        if str(e) not in seen:
            seen.add(str(e))
            out.append(e)
    return out
