"""A real Kamailio as registrar + proxy on a loopback port: a system under test.

Why a harness: registration (with digest credentials) and calls through a proxy
need a real SIP server, not pjsua talking to itself.  The shipped config
(``kamailio.cfg`` next to this module) is never edited per run: listen socket
is passed as a preprocessor define (``-A``) and the password in the child's
environment (``CALLGEN_KAMAILIO_PASSWORD``, read by ``#!defenvs``; a command
line is visible to every user in ``ps``), so the file that was reviewed is the
file that runs.

Lifecycle: ``kamailio -f cfg -DD -E -n 1`` in its own session (process group),
stderr -> ``kamailio.log`` in the work directory; ready when an OPTIONS to its
socket gets a 200 (never a fixed sleep); stop = SIGTERM to the group, SIGKILL
after a timeout, and the group is awaited until empty.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from callgen import spawn
from callgen.errors import InfrastructureError, UsageError
from callgen.sut.ports import LOOPBACK, reserve_ports
from callgen.sut.process import group_alive, how_it_ended, stop_group
from callgen.sut.sipprobe import sip_options_probe

DEFAULT_CONFIG = Path(__file__).resolve().parent / "kamailio.cfg"
MODULE_DIRS = (
    Path("/usr/lib/x86_64-linux-gnu/kamailio/modules"),
    Path("/usr/lib/aarch64-linux-gnu/kamailio/modules"),
    Path("/usr/lib/kamailio/modules"),
    Path("/usr/local/lib64/kamailio/modules"),
    Path("/usr/local/lib/kamailio/modules"),
)
#: the environment variable the shipped config reads the digest password from
PASSWORD_ENV = "CALLGEN_KAMAILIO_PASSWORD"
#: keep it to characters that need no quoting anywhere
_PASSWORD_RE = re.compile(r"^[A-Za-z0-9._~+-]{1,64}$")


#: names the kamailio binary; ``KAMAILIO`` itself is the address of the system under
#: test (``host:port``, given to scenarios and exported by ``callgen with-kamailio``)
BINARY_ENV = "CALLGEN_KAMAILIO_BIN"


def find_kamailio() -> Path:
    """$CALLGEN_KAMAILIO_BIN, else ``kamailio`` on PATH, else /usr/sbin/kamailio."""
    given = os.environ.get(BINARY_ENV, "").strip()
    if given:
        if os.path.isfile(given) and os.access(given, os.X_OK):
            return Path(given)
        raise InfrastructureError(f"${BINARY_ENV}={given} is not an executable file")
    found = shutil.which("kamailio") or (
        "/usr/sbin/kamailio" if os.access("/usr/sbin/kamailio", os.X_OK) else None
    )
    if not found:
        raise InfrastructureError(f"kamailio not found (Debian package 'kamailio'; or set {BINARY_ENV}=/path)")
    return Path(found)


def find_module_dir() -> Path | None:
    """The first existing module directory; None lets kamailio use its compiled-in default."""
    return next((d for d in MODULE_DIRS if (d / "tm.so").is_file()), None)


@dataclass(frozen=True)
class KamailioConfig:
    """How to start one Kamailio; ``port=None`` picks a free loopback port."""

    workdir: Path
    port: int | None = None
    address: str = LOOPBACK
    password: str | None = None  #: enables digest auth of REGISTER with this fixed password
    config_file: Path = DEFAULT_CONFIG
    binary: Path | None = None
    module_dir: Path | None = None
    ready_timeout: float = 10.0
    stop_timeout: float = 5.0
    defines: tuple[str, ...] = field(default_factory=tuple)  #: extra ``-A`` defines

    def validate(self) -> None:
        if self.password is not None and not _PASSWORD_RE.match(self.password):
            raise UsageError("kamailio password: use 1-64 characters from A-Z a-z 0-9 . _ ~ + -")
        if not Path(self.config_file).is_file():
            raise UsageError(f"{self.config_file}: kamailio config file not found")
        if self.port is not None and not 0 < self.port < 65536:
            raise UsageError(f"kamailio port {self.port} out of range")


class KamailioProcess:
    """One running Kamailio; a context manager that always stops the process group."""

    def __init__(self, config: KamailioConfig):
        config.validate()
        self.config = config
        self.address = config.address
        # held while it runs: no rtpengine (ours or another run's) may open it for media meanwhile
        self._reserved = None if config.port else reserve_ports(1, config.address)
        self.port = config.port or self._reserved.base
        self.workdir = Path(config.workdir)
        self.log_path = self.workdir / "kamailio.log"
        self._proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._ended = ""  #: how it ended before ``stop`` (``exit_problem``)

    @property
    def uri(self) -> str:
        """Registrar URI, e.g. ``sip:127.0.0.1:5060`` (``sip:[::1]:5060`` on IPv6)."""
        return f"sip:{self._hostport}"

    @property
    def _hostport(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"

    @property
    def outbound_uri(self) -> str:
        """Outbound proxy URI with loose routing, for pjsua ``--outbound``."""
        return f"sip:{self._hostport};lr"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def argv(self) -> list[str]:
        c = self.config
        argv = [str(c.binary or find_kamailio()), "-f", str(c.config_file), "-DD", "-E", "-n", "1",
                "-m", "32", "-M", "8", "-Y", str(self.workdir / "run"), "-w", str(self.workdir),
                "-A", f"LISTEN=udp:{self._hostport}"]  # fmt: skip
        module_dir = c.module_dir or find_module_dir()
        if module_dir:
            argv += ["-L", str(module_dir)]
        if c.password is not None:
            argv += ["-A", "WITH_AUTH"]  # the password itself goes in child_env()
        for d in c.defines:
            argv += ["-A", d]
        return argv

    def child_env(self) -> dict[str, str]:
        """Kamailio's environment: ours, plus the password when auth is on (never inherited)."""
        env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
        if self.config.password is not None:
            env[PASSWORD_ENV] = self.config.password
        return env

    def start(self) -> KamailioProcess:
        if self._proc is not None:
            raise InfrastructureError("kamailio already started")
        (self.workdir / "run").mkdir(parents=True, exist_ok=True)
        argv = self.argv()
        with open(self.log_path, "wb") as log:
            try:
                self._proc = spawn.popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.child_env(),
                )
            except OSError as exc:
                raise InfrastructureError(f"cannot start kamailio ({argv[0]}): {exc.strerror}") from None
        probe = sip_options_probe(
            self.address, self.port, self.config.ready_timeout, still_running=lambda: self._proc.poll() is None
        )
        if probe is None or probe.status != 200:
            self.stop()
            why = (
                f"exited with status {self.returncode}"
                if self.returncode not in (None, 0, -15)
                else f"did not answer OPTIONS within {self.config.ready_timeout:g} s"
            )
            raise InfrastructureError(f"kamailio on {self._hostport} {why}; {self._last_error()}")
        return self

    def _last_error(self) -> str:
        """The most telling log line: a CRITICAL one (names file, line, column), else the first ERROR."""
        lines = self.log_text().splitlines()
        best = [ln for ln in lines if "CRITICAL" in ln] or [ln for ln in lines if "ERROR" in ln]
        shown = re.sub(r"^\s*\d+\(\d+\) ", "", best[0]).strip()[:300] if best else "no error line"
        return f"log {self.log_path}: {shown}"

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_problem(self) -> str:
        """How Kamailio ended if its main process is gone before ``stop`` ("" while it runs, or never started);
        the same text every time once it is gone.  It exits with status 0 on SIGTERM, so then its log says
        more: a child that died (ALERT), else "Thank you for flying" (it was told to stop), else its last line."""
        if self._ended or self._proc is None or self.returncode is not None or self._proc.poll() is None:
            return self._ended
        how = f"{how_it_ended(self._proc.returncode)} before callgen stopped it"
        if self._proc.returncode >= 0:
            lines = [re.sub(r"^\s*\d+\(\d+\) ", "", ln).strip() for ln in self.log_text().splitlines() if ln.strip()]
            telling = ([ln for ln in lines if "ALERT" in ln or "CRITICAL" in ln]
                       or [ln for ln in lines if "Thank you for flying" in ln] or lines[-1:] or ["empty"])
            how += f" (log {self.log_path}: {telling[0][:200]})"
        self._ended = f"kamailio {how}"
        return self._ended

    def group_alive(self) -> bool:
        """True while any process of Kamailio's group (its forked workers) exists."""
        return self._proc is not None and group_alive(self._proc.pid)

    def stop(self) -> int | None:
        """SIGTERM the group, SIGKILL after ``stop_timeout``; returns the main process's exit code."""
        if self._proc is not None and self.returncode is None:
            self.returncode = stop_group(self._proc, self.config.stop_timeout)
        if self._reserved is not None and (self._proc is None or self.returncode is not None):
            self._reserved.close()  # its socket is closed: the port may go to the next helper
        return self.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> KamailioProcess:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_kamailio(workdir: Path, *, port: int | None = None, password: str | None = None, **options) -> KamailioProcess:
    """Start Kamailio and wait until it answers OPTIONS; ``options`` are further KamailioConfig fields."""
    return KamailioProcess(KamailioConfig(Path(workdir), port=port, password=password, **options)).start()


#: ``with Kamailio(KamailioConfig(workdir, password="...")) as k:`` reads naturally in scenarios.
Kamailio = KamailioProcess
