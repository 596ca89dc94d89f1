"""Scenario files: YAML with line numbers, the JSON Schema, the frozen model, targets."""
