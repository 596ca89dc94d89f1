"""baresip (Debian ``baresip``, 1.0) as an independent far end: a user agent no one
here wrote, answering calls by itself, with its own SRTP and RFC 4733 code.

It listens on loopback only (``sip_listen``, ``net_interface``), on ports the
kernel says are free, with a sine source instead of a sound card.  Readiness is
its own "baresip is ready." line; it is stopped with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from callgen.sut.ports import LOOPBACK, free_port_block

READY = "baresip is ready."


@dataclass
class Baresip:
    workdir: Path
    transport: str = "udp"  #: udp | tcp
    mediaenc: str = ""  #: "" (plain RTP) | srtp | srtp-mand | dtls_srtp
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    user: str = "bob"
    address: str = LOOPBACK  #: 127.0.0.1, or ::1 for an IPv6 far end (baresip -6)
    port: int = 0
    lines: list[str] = field(default_factory=list)
    _proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        tail = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{self.user}@{self._host}:{self.port}{tail}"

    @property
    def _host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address

    def _write_config(self) -> Path:
        conf = self.workdir / "baresip"
        conf.mkdir(parents=True, exist_ok=True)
        base = free_port_block(24, self.address)
        self.port = base
        (conf / "config").write_text("\n".join([
            "poll_method epoll",
            f"sip_listen {self._host}:{base}",
            f"net_interface {self.address}",
            "module_path /usr/lib/baresip/modules",
            "module g711.so", "module aufile.so", "module ausine.so", "module srtp.so",
            *(["module dtls_srtp.so"] if self.mediaenc.startswith("dtls") else []),
            "module_app account.so", "module_app menu.so",
            f"audio_player aufile,{conf / 'heard.wav'}",
            "audio_source ausine,440", "ausrc_srate 48000", "auplay_srate 48000", "ausrc_channels 2",
            "audio_alert aufile,/dev/null",
            f"rtp_ports {base + 4}-{base + 23}",
            "",
        ]))
        params = [f"<sip:{self.user}@{self._host}:{base};transport={self.transport}>", "regint=0", "answermode=auto",
                  f"audio_codecs={','.join(self.codecs)}"]
        if self.mediaenc:
            params.append(f"mediaenc={self.mediaenc}")
        (conf / "accounts").write_text(";".join(params) + "\n")
        return conf

    def start(self, timeout: float = 10.0) -> Baresip:
        binary = shutil.which("baresip")
        if binary is None:
            raise RuntimeError("baresip is not installed (make setup installs Debian's baresip)")
        conf = self._write_config()
        family = "-6" if ":" in self.address else "-4"
        self._proc = subprocess.Popen([binary, family, "-f", str(conf)], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                      start_new_session=True)
        ready = threading.Event()

        def read() -> None:
            for line in self._proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if READY in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True, name="baresip-out").start()
        if not ready.wait(timeout) or self._proc.poll() is not None:
            self.stop()
            raise RuntimeError("baresip did not start: " + " | ".join(self.lines[-10:]))
        return self

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)

    def __enter__(self) -> Baresip:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
