"""Running one scenario: plan, ports, capture, agents and calls, evidence."""
