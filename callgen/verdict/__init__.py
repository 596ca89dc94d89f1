"""Evidence -> checks -> the scenario's result."""
