"""The command line, its commands and the pytest plugin."""
