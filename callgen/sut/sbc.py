"""A local SBC from Debian parts: Kamailio (signalling, registrar, optional Call-ID
masking by topoh) in front of rtpengine (media anchored in userspace).

Both legs of every call pass it: alice <-> SBC and SBC <-> bob, each with its
own SDP (rtpengine's addresses) and, with ``mask_callid``, its own Call-ID.
Switches that make it misbehave on purpose (``block_media``, ``block_dtmf``)
exist for tests: a verdict that looks only at one leg must fail on them.

Kamailio's shipped config (``kamailio.cfg``) holds the SBC routes behind
``WITH_SBC``; nothing is written per run except the defines on its command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from callgen.errors import InfrastructureError, UsageError
from callgen.sut.kamailio import KamailioConfig, KamailioProcess
from callgen.sut.rtpengine import MEDIA_PORTS, RtpengineConfig, RtpengineProcess

#: whose media the relay can drop (``block_media``/``block_dtmf``): rtpengine's "directional"
#: blocking goes by the dialog's From tag, which is the caller's on both legs
SIDES = ("caller",)


@dataclass(frozen=True)
class SbcOptions:
    """What the SBC does besides relaying."""

    mask_callid: bool = False  #: topoh: the callee's leg gets another Call-ID
    srtp_to_rtp: bool = False  #: SDES-SRTP toward the caller, plain RTP/AVP toward the callee
    transcode: tuple[str, str] | None = None  #: (codec the caller offers, codec offered to the callee)
    block_media: str | None = None  #: "caller": drop the audio the caller sends (tests)
    block_dtmf: str | None = None  #: "caller": drop the DTMF the caller sends (tests)

    def validate(self) -> None:
        for key in ("block_media", "block_dtmf"):
            v = getattr(self, key)
            if v is not None and v not in SIDES:
                raise UsageError(f"sbc {key}: {v!r}: only the caller's side can be blocked")
        if self.transcode is not None:
            for codec in self.transcode:
                if not codec.replace("-", "").isalnum():
                    raise UsageError(f"sbc transcode: {codec!r} is not a codec name")

    def offer_flags(self) -> str:
        flags = ["replace-origin", "replace-session-connection"]
        if self.srtp_to_rtp:
            flags += ["RTP/AVP", "SDES-off"]
        if self.transcode is not None:
            flags += [f"codec-mask-{self.transcode[0]}", f"codec-transcode-{self.transcode[1]}"]
        return " ".join(flags)

    def defines(self) -> tuple[str, ...]:
        out = ["WITH_SBC", f'OFFER_FLAGS="{self.offer_flags()}"']
        if self.mask_callid:
            out += ["WITH_TOPOH", f'TOPOH_KEY="{os.urandom(8).hex()}"']
        if self.block_media:
            out.append(f"BLOCK_MEDIA_{self.block_media.upper()}")
        if self.block_dtmf:
            out.append(f"BLOCK_DTMF_{self.block_dtmf.upper()}")
        return tuple(out)


class SbcProcess:
    """rtpengine, then Kamailio pointing at it; stopped in the reverse order, always."""

    def __init__(self, workdir: Path, options: SbcOptions = SbcOptions(), *, port: int | None = None,
                 password: str | None = None, media_ports: int = MEDIA_PORTS):
        options.validate()
        self.options = options
        self.workdir = Path(workdir)
        self.rtpengine = RtpengineProcess(RtpengineConfig(self.workdir / "rtpengine", media_ports=media_ports))
        self._port, self._password = port, password
        self.kamailio: KamailioProcess | None = None

    @property
    def address(self) -> str:
        assert self.kamailio is not None
        return self.kamailio.address

    @property
    def port(self) -> int:
        assert self.kamailio is not None
        return self.kamailio.port

    def start(self) -> SbcProcess:
        self.rtpengine.start()
        try:
            defines = (f'RTPENGINE_SOCK="{self.rtpengine.ng_socket}"',) + self.options.defines()
            self.kamailio = KamailioProcess(KamailioConfig(self.workdir / "kamailio", port=self._port,
                                                           password=self._password, defines=defines))
            self.kamailio.start()
        except (InfrastructureError, UsageError, OSError):
            self.stop()
            raise
        return self

    def exit_problem(self) -> str:
        """How a part of the SBC ended if one is gone before ``stop`` ("" while both run)."""
        return (self.kamailio.exit_problem() if self.kamailio is not None else "") or self.rtpengine.exit_problem()

    def stop(self) -> None:
        try:
            if self.kamailio is not None:
                self.kamailio.stop()
        finally:
            self.rtpengine.stop()

    def __enter__(self) -> SbcProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sbc(workdir: Path, options: SbcOptions = SbcOptions(), *, port: int | None = None,
              password: str | None = None) -> SbcProcess:
    return SbcProcess(workdir, options, port=port, password=password).start()
