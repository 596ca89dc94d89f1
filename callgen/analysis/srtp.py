"""SRTP decryption for analysis (RFC 3711, RFC 6188 for 256-bit keys).

Only what a receiver needs: key derivation (kdr 0), AES counter mode through the
``cryptography`` package, HMAC-SHA1 tag verification with the rollover counter.
A wrong key shows up as failing tags, which the stream reports.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from callgen.errors import UsageError

#: Shannon entropy (bits/byte) above which pooled RTP payloads read as ciphertext; PCMA/PCMU
#: speech and tones stay far below (silence ~1, tones ~4-6), AES-CM output is ~7.9+
#: on samples of a few hundred bytes.
CIPHER_ENTROPY = 7.0


@dataclass(frozen=True)
class Suite:
    name: str
    key_len: int
    salt_len: int
    tag_len: int


SUITES = {
    s.name: s
    for s in (
        Suite("AES_CM_128_HMAC_SHA1_80", 16, 14, 10),
        Suite("AES_CM_128_HMAC_SHA1_32", 16, 14, 4),
        Suite("AES_256_CM_HMAC_SHA1_80", 32, 14, 10),
        Suite("AES_256_CM_HMAC_SHA1_32", 32, 14, 4),
    )
}
# Spellings seen in the wild for the RFC 6188 suites.
SUITES["AES_CM_256_HMAC_SHA1_80"] = SUITES["AES_256_CM_HMAC_SHA1_80"]
SUITES["AES_CM_256_HMAC_SHA1_32"] = SUITES["AES_256_CM_HMAC_SHA1_32"]


@dataclass(frozen=True)
class SrtpKey:
    """A master key and salt for one suite, as carried by SDES or given by the user."""

    suite: str
    key_b64: str
    origin: str  #: "sdp", "log" or "cli" — said in reports

    def material(self) -> tuple[Suite, bytes, bytes]:
        suite = SUITES.get(self.suite.upper())
        if suite is None:
            raise ValueError(f"unsupported SRTP suite {self.suite}")
        raw = base64.b64decode(self.key_b64 + "=" * (-len(self.key_b64) % 4))
        if len(raw) < suite.key_len + suite.salt_len:
            raise ValueError(f"{self.suite} key is {len(raw)} bytes, needs {suite.key_len + suite.salt_len}")
        return suite, raw[: suite.key_len], raw[suite.key_len : suite.key_len + suite.salt_len]


def parse_cli_key(text: str) -> SrtpKey:
    """``SUITE:BASE64`` from ``--srtp-key``; raises UsageError with the reason."""
    suite, sep, b64 = text.partition(":")
    if not sep or not b64:
        raise UsageError(f"--srtp-key {text!r}: expected SUITE:BASE64, e.g. AES_CM_128_HMAC_SHA1_80:<30 bytes base64>")
    key = SrtpKey(suite.strip().upper(), b64.strip(), "cli")
    try:
        key.material()
    except (ValueError, binascii.Error) as exc:
        raise UsageError(f"--srtp-key {suite}: {exc}") from exc
    return key


def _aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    # imported here: only SRTP runs decrypt, and the import costs every run about 35 ms of start-up
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def _derive(master_key: bytes, master_salt: bytes, label: int, n: int) -> bytes:
    """RFC 3711 4.3.1 with key derivation rate 0: x = (label << 48) XOR salt."""
    x = bytearray(master_salt)
    x[7] ^= label
    return _aes_ctr(master_key, bytes(x) + b"\x00\x00", b"\x00" * n)


class SrtpContext:
    """Receiver-side state for one SRTP stream (one SSRC, one master key)."""

    def __init__(self, key: SrtpKey):
        suite, mk, ms = key.material()
        self.key = key
        self.suite = suite
        self.tag_len = suite.tag_len
        self._cipher_key = _derive(mk, ms, 0, suite.key_len)
        self._auth_key = _derive(mk, ms, 1, 20)
        salt = _derive(mk, ms, 2, 14)
        self._salt_int = int.from_bytes(salt + b"\x00\x00", "big")

    def verify(self, packet: bytes, roc: int) -> bool:
        tl = self.tag_len
        if len(packet) < 12 + tl:
            return False
        mac = hmac.digest(self._auth_key, packet[:-tl] + (roc & 0xFFFFFFFF).to_bytes(4, "big"), "sha1")
        return hmac.compare_digest(mac[:tl], packet[-tl:])

    def decrypt_payload(self, packet: bytes, header_len: int, ssrc: int, index: int) -> bytes:
        """Clear payload (without the auth tag) of an already verified packet."""
        iv = self._salt_int ^ (ssrc << 64) ^ ((index & 0xFFFFFFFFFFFF) << 16)
        return _aes_ctr(self._cipher_key, iv.to_bytes(16, "big"), packet[header_len : len(packet) - self.tag_len])


class SrtcpContext:
    """Receiver-side SRTCP (RFC 3711 3.4): the same master key as the sender's SRTP,
    its own derived keys (labels 3-5), the E bit and 31-bit index in every packet,
    and an 80-bit tag whatever the SRTP tag length (RFC 4568 6.2)."""

    TAG_LEN = 10

    def __init__(self, key: SrtpKey):
        suite, mk, ms = key.material()
        self.key = key
        self._cipher_key = _derive(mk, ms, 3, suite.key_len)
        self._auth_key = _derive(mk, ms, 4, 20)
        self._salt_int = int.from_bytes(_derive(mk, ms, 5, 14) + b"\x00\x00", "big")

    def unprotect(self, packet: bytes) -> bytes | None:
        """The clear compound RTCP packet, or None when the tag does not verify."""
        tl = self.TAG_LEN
        if len(packet) < 8 + 4 + tl:
            return None
        body = packet[:-tl]
        mac = hmac.digest(self._auth_key, body, "sha1")
        if not hmac.compare_digest(mac[:tl], packet[-tl:]):
            return None
        e_index = int.from_bytes(body[-4:], "big")
        data = body[:-4]
        if not e_index >> 31:  # sent unencrypted (authenticated only)
            return data
        ssrc = int.from_bytes(data[4:8], "big")
        iv = self._salt_int ^ (ssrc << 64) ^ ((e_index & 0x7FFFFFFF) << 16)
        return data[:8] + _aes_ctr(self._cipher_key, iv.to_bytes(16, "big"), data[8:])
