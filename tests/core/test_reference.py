"""The scenario reference (docs/scenario-reference.md) is generated from the schema and current."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _gen():
    spec = importlib.util.spec_from_file_location("schema_reference", ROOT / "scripts" / "schema_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_reference_page_is_current():
    gen = _gen()
    assert gen.REFERENCE == ROOT / "docs" / "scenario-reference.md"
    assert gen.reference() in gen.REFERENCE.read_text(), "run 'make reference'"


def test_reference_lists_every_schema_key():
    gen = _gen()
    ref = gen.reference()
    schema = json.loads((ROOT / "schemas" / "scenario.schema.json").read_text())
    for name in schema["properties"]:
        assert f"| `{name}` |" in ref
    for d in ("agent", "step", "callExpect", "target"):
        for key in schema["$defs"][d]["properties"]:
            assert f".{key}` |" in ref, f"{d}.{key} missing from the reference"


def _schema_paths(schema: dict, node: dict, path: str, seen: tuple = ()) -> set[str]:
    """Every key path the schema accepts, through $ref, oneOf/anyOf/allOf, lists and mappings
    (written independently of the generator, so it checks the generator)."""
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        if name in seen:
            return set()
        return _schema_paths(schema, {**schema["$defs"][name], **{k: v for k, v in node.items() if k != "$ref"}},
                             path, seen + (name,))
    out: set[str] = set()
    for alt in node.get("oneOf", []) + node.get("anyOf", []) + node.get("allOf", []):
        out |= _schema_paths(schema, alt, path, seen)
    if isinstance(node.get("items"), dict):
        out |= _schema_paths(schema, node["items"], path, seen)
    if isinstance(node.get("additionalProperties"), dict):
        out |= _schema_paths(schema, node["additionalProperties"], f"{path}.NAME", seen)
    for key, sub in node.get("properties", {}).items():
        p = f"{path}.{key}" if path else key
        out.add(p)
        out |= _schema_paths(schema, sub, p, seen)
    return out


def test_reference_documents_every_nested_key():
    """Every key at every depth, e.g. calls[].expect.audio.pesq_min, has its own row
    (list levels written as [] in the reference are compared without them)."""
    ref = _gen().reference()
    documented = {row.split("`")[1].replace("[]", "") for row in ref.splitlines() if row.startswith("| `")}
    schema = json.loads((ROOT / "schemas" / "scenario.schema.json").read_text())
    missing = sorted(_schema_paths(schema, schema, "") - documented)
    assert not missing, f"not in the reference: {missing}"
    for key in ("receiver", "min_active_s", "tone_hz", "from", "pesq_min"):
        assert f"calls.expect.audio.{key}" in documented


def test_reference_points_to_nothing_it_does_not_contain():
    ref = _gen().reference()
    assert "see callExpect" not in ref and "$defs" not in ref
