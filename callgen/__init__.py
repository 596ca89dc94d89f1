"""callgen: declarative SIP call scenarios run through real pjsua processes and
proven from the packet capture."""

__version__ = "0.1.0"
