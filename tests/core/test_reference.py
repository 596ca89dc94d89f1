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
