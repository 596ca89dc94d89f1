"""The history across nights: every run (or merged shard report) recorded into a store
(SQLite file or PostgreSQL), and a page and text summary of the trends.

Layer: above ``callgen.reports`` (it reads the reports' JSON form), below the CLI.
"""
