"""Throwaway TLS material: certificate properties, openssl's verdict, and a real pjsua TLS+SRTP call."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from callgen.errors import InfrastructureError, UsageError
from callgen.pjsua.driver import EventKind, PjsuaAgent, loopback_argv, stop_all
from callgen.pjsua.toolpaths import find_pjsua
from callgen.run.tlsgen import KeyType, make_tls_material
from callgen.sut.ports import free_port_block


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_material_files_and_key_modes(tmp_path):
    m = make_tls_material(tmp_path / "tls")
    for p in (m.ca_file, m.cert_file, m.key_file, m.ca_key_file):
        assert p.is_file() and p.stat().st_size > 100
    assert stat.S_IMODE(m.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(m.ca_key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in m.key_file.read_bytes()


def test_key_types(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    ec_cert = _load(make_tls_material(tmp_path / "ec").cert_file)
    rsa_cert = _load(make_tls_material(tmp_path / "rsa", key_type=KeyType.RSA_2048).cert_file)
    assert isinstance(ec_cert.public_key(), ec.EllipticCurvePublicKey) and ec_cert.public_key().curve.name == "secp256r1"
    assert isinstance(rsa_cert.public_key(), rsa.RSAPublicKey) and rsa_cert.public_key().key_size == 2048
    with pytest.raises(UsageError, match="dsa"):
        make_tls_material(tmp_path / "x", key_type="dsa")


def test_existing_world_readable_key_file_becomes_0600(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("old")
    key.chmod(0o644)
    m = make_tls_material(tmp_path)
    assert stat.S_IMODE(m.key_file.stat().st_mode) == 0o600
    assert m.key_file.read_text() != "old"


def test_certificate_is_signed_by_ca_and_names_the_hosts(tmp_path):
    m = make_tls_material(tmp_path, hosts=("127.0.0.1", "localhost", "127.0.0.2"))
    ca, cert = _load(m.ca_file), _load(m.cert_file)
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("127.0.0.2")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku and ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_validity_is_short(tmp_path):
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    m = make_tls_material(tmp_path, now=now)
    cert = _load(m.cert_file)
    assert cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(days=1, minutes=10)
    assert m.not_after == now + dt.timedelta(days=1)


@pytest.mark.parametrize("hosts", [(), ("",), ("bad host",)])
def test_bad_hosts_are_usage_errors(tmp_path, hosts):
    with pytest.raises(UsageError):
        make_tls_material(tmp_path, hosts=hosts)


def test_cli_writes_material(tmp_path):
    import argparse
    import io

    from callgen.cli.tls import KEY_TYPES, register

    assert KEY_TYPES == tuple(k.value for k in KeyType)

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["tls-material", str(tmp_path / "m"), "--host", "127.0.0.1", "--key-type", "rsa-2048"])
    out = io.StringIO()
    assert args.func(args, type("IO", (), {"out": out, "err": io.StringIO()})) == 0
    assert f"cert: {tmp_path / 'm' / 'cert.pem'}" in out.getvalue()
    assert _openssl_verify(tmp_path / "m" / "ca.pem", tmp_path / "m" / "cert.pem", "-verify_ip", "127.0.0.1").returncode == 0


def test_unwritable_directory_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InfrastructureError, match=r"file/tls: cannot write TLS material"):
        make_tls_material(blocker / "tls")


def _openssl_verify(ca: Path, cert: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), *extra, str(cert)], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize("key_type", list(KeyType))
def test_openssl_verifies_the_chain_for_server_and_client(tmp_path, key_type):
    m = make_tls_material(tmp_path, key_type=key_type)
    server = _openssl_verify(m.ca_file, m.cert_file, "-purpose", "sslserver", "-verify_ip", "127.0.0.1")
    assert server.returncode == 0, server.stderr
    client = _openssl_verify(m.ca_file, m.cert_file, "-purpose", "sslclient", "-verify_hostname", "localhost")
    assert client.returncode == 0, client.stderr


def test_openssl_rejects_foreign_ca_and_wrong_ip(tmp_path):
    m = make_tls_material(tmp_path / "a")
    other = make_tls_material(tmp_path / "b")
    assert _openssl_verify(other.ca_file, m.cert_file).returncode != 0
    assert _openssl_verify(m.ca_file, m.cert_file, "-verify_ip", "127.0.0.9").returncode != 0


def test_pjsua_args(tmp_path):
    m = make_tls_material(tmp_path)
    assert m.pjsua_args() == (
        "--use-tls",
        f"--tls-ca-file={m.ca_file}",
        f"--tls-cert-file={m.cert_file}",
        f"--tls-privkey-file={m.key_file}",
    )


# ---------------------------------------------------------------------------
# real pjsua


def _tls_peer(name: str, workdir: Path, tls_args: tuple[str, ...], *extra: str) -> tuple[PjsuaAgent, int]:
    """A pjsua with UDP (TCP off) and TLS; TLS listens on --local-port + 1."""
    sip = free_port_block(2)
    rtp = free_port_block(4)
    args = ["--no-tcp", f"--local-port={sip}", f"--rtp-port={rtp}", "--use-srtp=2", "--srtp-secure=1", *tls_args, *extra]
    return PjsuaAgent(name, loopback_argv(find_pjsua(), *args), workdir / f"{name}.out", cwd=workdir), sip


def _output(agent: PjsuaAgent) -> str:
    return "\n".join(agent.output_lines())


def _assert_gone(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.integration
@pytest.mark.parametrize("key_type", list(KeyType))
def test_pjsua_tls_srtp_call_confirms_with_verified_certificates(tmp_path, key_type):
    m = make_tls_material(tmp_path / "tls", key_type=key_type)
    verify = ("--tls-verify-server", "--tls-verify-client")
    bob, bob_port = _tls_peer("bob", tmp_path, m.pjsua_args(), *verify, "--auto-answer=200")
    alice, _ = _tls_peer("alice", tmp_path, m.pjsua_args(), *verify, "--id=sip:alice@127.0.0.1")
    pids: list[int] = []
    try:
        bob.start()
        alice.start()
        pids = [bob.pid, alice.pid]
        since = alice.mark()
        call = alice.make_call(f"sip:bob@127.0.0.1:{bob_port + 1};transport=tls")
        end = alice.wait_call_outcome("alice's TLS call", 15, call=call, since=since)
        assert end.kind is EventKind.CALL_STATE, end  # CONFIRMED
        assert bob.wait_call_outcome("bob's TLS call", 15, since=0).kind is EventKind.CALL_STATE
        alice.hangup_all()
        bob.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "bob's call to end", 10, since=0)
    finally:
        stop_all([alice, bob])
    a_out, b_out = _output(alice), _output(bob)
    assert f"SIP TLS listener is ready for incoming connections at 127.0.0.1:{bob_port + 1}" in b_out
    assert f"TLS cert verification result of 127.0.0.1:{bob_port + 1} : OK" in a_out
    assert re.search(r"TLS cert verification result of 127\.0\.0\.1:\d+ : OK", b_out)
    for out in (a_out, b_out):  # mandatory SRTP was negotiated, keyed over the TLS signalling
        assert re.search(r"SRTP started, keying=SDES, crypto=AES_(256|CM_128)_", out)
    cipher = re.search(r"TLS cipher used: \S+/(\S+)", a_out)
    assert cipher and ("-ECDSA-" if key_type is KeyType.EC_P256 else "-RSA-") in cipher.group(1)
    _assert_gone(pids)


@pytest.mark.integration
def test_pjsua_refuses_server_certificate_from_foreign_ca(tmp_path):
    """The negative: the same call fails when the caller trusts another CA."""
    m = make_tls_material(tmp_path / "tls")
    other = make_tls_material(tmp_path / "other")
    caller_tls = ("--use-tls", f"--tls-ca-file={other.ca_file}", f"--tls-cert-file={other.cert_file}",
                  f"--tls-privkey-file={other.key_file}", "--tls-verify-server")  # fmt: skip
    bob, bob_port = _tls_peer("bob", tmp_path, m.pjsua_args(), "--auto-answer=200")
    alice, _ = _tls_peer("alice", tmp_path, caller_tls, "--id=sip:alice@127.0.0.1")
    pids: list[int] = []
    try:
        bob.start()
        alice.start()
        pids = [bob.pid, alice.pid]
        since = alice.mark()
        call = alice.make_call(f"sip:bob@127.0.0.1:{bob_port + 1};transport=tls")
        end = alice.wait_call_outcome("alice's TLS call", 15, call=call, since=since)
        assert end.kind is EventKind.DISCONNECTED and end.code >= 400, end
        assert "PJSIP_TLS_ECERTVERIF" in end.reason
    finally:
        stop_all([alice, bob])
    assert "CONFIRMED" not in _output(bob)
    _assert_gone(pids)
