"""``callgen tls-material DIR [--host H ...]``: the parser only; the certificate code
(``callgen.run.tlsgen``, which needs ``cryptography.x509``) is imported when the
command runs, so no other command pays for that import at start-up."""

from __future__ import annotations

import argparse
from pathlib import Path

#: ``callgen.run.tlsgen.KeyType`` values (a test holds them equal)
KEY_TYPES = ("ec-p256", "rsa-2048")


def _cmd_tls(args: argparse.Namespace, io) -> int:
    from callgen.run.tlsgen import DEFAULT_HOSTS, KeyType, make_tls_material

    m = make_tls_material(args.directory, hosts=tuple(args.host or DEFAULT_HOSTS), key_type=KeyType(args.key_type))
    print(f"ca: {m.ca_file}\ncert: {m.cert_file}\nkey: {m.key_file}\nvalid until: {m.not_after.isoformat()}", file=io.out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``callgen tls-material DIR [--host H ...]``."""
    p = subparsers.add_parser("tls-material", help="write a throwaway CA, certificate and key (PEM) for TLS/SRTP runs")
    p.add_argument("directory", type=Path)
    p.add_argument("--host", action="append",
                   help="IP address or DNS name for the certificate (repeatable; default 127.0.0.1 and localhost)")
    p.add_argument("--key-type", choices=KEY_TYPES, default=KEY_TYPES[0])
    p.set_defaults(func=_cmd_tls)
