"""Throwaway TLS material for one run: a private CA and one certificate signed by it.

Why: SRTP with ``--srtp-secure=1`` needs SIP over TLS, and pjsua needs a CA file,
a certificate and a key.  Nothing long-lived or shared should be used for that,
so every run mints its own CA (valid for a day) in its run folder.  The same
certificate serves as server and client certificate for every agent (it carries
both extended key usages), which is all a loopback test needs.

Keys are EC P-256 by default (fast to generate); RSA 2048 is available for peers
that want it.  pjsua linked with OpenSSL 3 accepts both (verified: a verified
TLS + mandatory SRTP call, cipher ECDHE-ECDSA-AES256-GCM-SHA384 resp.
ECDHE-RSA-AES256-GCM-SHA384).  Key files are written with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from callgen.errors import InfrastructureError, UsageError

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_VALIDITY = dt.timedelta(days=1)
#: backdating absorbs small clock differences between the writer and the verifier
_BACKDATE = dt.timedelta(minutes=5)


class KeyType(str, enum.Enum):
    EC_P256 = "ec-p256"
    RSA_2048 = "rsa-2048"

    def generate(self) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        if self is KeyType.RSA_2048:
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the PEM files made for one run."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    ca_key_file: Path
    hosts: tuple[str, ...]
    not_after: dt.datetime

    def pjsua_args(self) -> tuple[str, ...]:
        """The pjsua options that enable TLS with this material."""
        return (
            "--use-tls",
            f"--tls-ca-file={self.ca_file}",
            f"--tls-cert-file={self.cert_file}",
            f"--tls-privkey-file={self.key_file}",
        )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            if not h or any(c.isspace() for c in h):
                raise UsageError(f"TLS host name {h!r} is neither an IP address nor a DNS name") from None
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    """Create the file 0600 from the start, so the key is never world-readable."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)  # O_CREAT's mode is ignored when the file already existed


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _key_usage(*, cert_sign: bool, key_agreement: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, key_cert_sign=cert_sign, crl_sign=cert_sign, content_commitment=False,
        key_encipherment=key_encipherment, data_encipherment=False, key_agreement=key_agreement,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _make_ca(key_type: KeyType, start: dt.datetime, end: dt.datetime) -> tuple[_PrivateKey, x509.Certificate]:
    """A self-signed CA that may sign end-entity certificates only (path length 0)."""
    key = key_type.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "callgen throwaway CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_leaf(
    key_type: KeyType, hosts: Sequence[str], ca_key: _PrivateKey, ca_cert: x509.Certificate,
    start: dt.datetime, end: dt.datetime,
) -> tuple[_PrivateKey, x509.Certificate]:  # fmt: skip
    """A certificate for ``hosts`` usable as TLS server and client, signed by the CA."""
    key = key_type.generate()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    usage = _key_usage(
        cert_sign=False, key_agreement=key_type is KeyType.EC_P256, key_encipherment=key_type is KeyType.RSA_2048
    )
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(eku, critical=False)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def make_tls_material(
    dirpath: Path,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    validity: dt.timedelta = DEFAULT_VALIDITY,
    now: dt.datetime | None = None,
    key_type: KeyType | str = KeyType.EC_P256,
) -> TlsMaterial:
    """Write ``ca.pem``, ``ca.key``, ``cert.pem`` and ``key.pem`` into ``dirpath``.

    The certificate is valid for every entry of ``hosts`` (IP addresses become
    IP SANs, anything else a DNS SAN) as TLS server and client.
    """
    if not hosts:
        raise UsageError("TLS material needs at least one host")
    _san(hosts)  # validate before touching the disk
    try:
        key_type = KeyType(key_type)
    except ValueError:
        raise UsageError(f"TLS key type {key_type!r}: use one of {', '.join(k.value for k in KeyType)}") from None
    now = now or dt.datetime.now(dt.UTC)
    start, end = now - _BACKDATE, now + validity
    ca_key, ca_cert = _make_ca(key_type, start, end)
    key, cert = _make_leaf(key_type, hosts, ca_key, ca_cert, start, end)

    dirpath = Path(dirpath)
    material = TlsMaterial(
        ca_file=dirpath / "ca.pem",
        cert_file=dirpath / "cert.pem",
        key_file=dirpath / "key.pem",
        ca_key_file=dirpath / "ca.key",
        hosts=tuple(hosts),
        not_after=end,
    )
    try:
        dirpath.mkdir(parents=True, exist_ok=True)
        _write_cert(material.ca_file, ca_cert)
        _write_cert(material.cert_file, cert)
        _write_key(material.key_file, key)
        _write_key(material.ca_key_file, ca_key)
    except OSError as exc:
        raise InfrastructureError(f"{dirpath}: cannot write TLS material ({exc.strerror})") from None
    return material
