"""Where to find the Kubernetes API and its credentials, tried in a fixed order.

Order: in-cluster (ServiceAccount token and CA plus KUBERNETES_SERVICE_HOST/PORT),
then a kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``).  Each source that is
not usable records why, so the final error can say what was tried; a source
that is usable but then answers 401/403 is reported the same way by the caller.

The client library is imported here lazily: without ``callgen[k8s]`` the rest
of callgen never touches it, and a Kubernetes target fails with an error that
names the extra.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callgen.k8s.errors import K8sClientMissing

DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: Overrides the ServiceAccount directory (tests, or a projected token mounted elsewhere).
SERVICE_ACCOUNT_DIR_ENV = "CALLGEN_K8S_SERVICEACCOUNT_DIR"


@dataclass(frozen=True)
class ClientConfig:
    """How to connect; built once from the environment and passed down explicitly.

    ``kubeconfig`` is the file to read (the first existing entry of a
    colon-separated ``$KUBECONFIG``; files are not merged).  ``timeout`` bounds
    connecting and each read of a plain request, in seconds.
    """

    service_account_dir: Path = Path(DEFAULT_SERVICE_ACCOUNT_DIR)
    service_host: str | None = None
    service_port: str | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        service_account_dir: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
    ) -> ClientConfig:
        env = os.environ if env is None else env
        sa_dir = service_account_dir or env.get(SERVICE_ACCOUNT_DIR_ENV) or DEFAULT_SERVICE_ACCOUNT_DIR
        return cls(
            service_account_dir=Path(sa_dir),
            service_host=env.get("KUBERNETES_SERVICE_HOST") or None,
            service_port=env.get("KUBERNETES_SERVICE_PORT") or None,
            kubeconfig=Path(kubeconfig) if kubeconfig else _kubeconfig_path(env),
            context=context,
            timeout=timeout,
        )


@dataclass(frozen=True)
class Source:
    """One usable connection: a label for messages and the library's config object."""

    label: str
    single: Any  # lightkube.config.kubeconfig.SingleConfig


@dataclass(frozen=True)
class SourceProbe:
    """The outcome of looking at the sources: usable ones in order, and why the rest are not."""

    usable: tuple[Source, ...]
    skipped: tuple[str, ...]  # "in-cluster (...): no token at ..."


def probe_sources(cfg: ClientConfig) -> SourceProbe:
    """Look at in-cluster first, then the kubeconfig; never raises for a missing source."""
    kubeconfig_mod = _lightkube_config()
    usable: list[Source] = []
    skipped: list[str] = []
    for attempt in (_in_cluster, _from_kubeconfig):
        label, result = attempt(cfg, kubeconfig_mod)
        if isinstance(result, str):
            skipped.append(f"{label}: {result}")
        else:
            usable.append(Source(label, result))
    return SourceProbe(tuple(usable), tuple(skipped))


def _in_cluster(cfg: ClientConfig, kc: Any) -> tuple[str, Any]:
    sa = cfg.service_account_dir
    label = f"in-cluster ({sa})"
    if not cfg.service_host or not cfg.service_port:
        return label, "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT not set (not running in a pod)"
    token = sa / "token"
    try:
        if not token.read_text().strip():
            return label, f"token file {token} is empty"
    except OSError as exc:
        return label, f"no token at {token} ({exc.strerror or exc})"
    ca = sa / "ca.crt"
    if not ca.is_file():
        return label, f"no CA certificate at {ca}"
    host = f"[{cfg.service_host}]" if ":" in cfg.service_host else cfg.service_host
    from lightkube.config.models import Cluster, User

    # Not KubeConfig.from_service_account: it also insists on a namespace file we do not use,
    # and reads the host from the process environment instead of our explicit config.
    conf = kc.KubeConfig.from_one(
        cluster=Cluster(server=f"https://{host}:{cfg.service_port}", certificate_auth=str(ca)),
        user=User(token_file=str(token)),
    )
    return label, conf.get()


def _from_kubeconfig(cfg: ClientConfig, kc: Any) -> tuple[str, Any]:
    path = cfg.kubeconfig
    if path is None:
        return "kubeconfig", "neither KUBECONFIG nor HOME is set"
    label = f"kubeconfig {path}" + (f" (context {cfg.context})" if cfg.context else "")
    if not path.is_file():
        return label, "no such file"
    try:
        conf = kc.KubeConfig.from_file(path)
        single = conf.get(cfg.context)
    except Exception as exc:  # lightkube raises ConfigError, yaml/msgspec/KeyError on bad files
        return label, f"unusable: {_describe(exc)}"
    if single is None:
        return label, "no current-context"
    if single.user is None:
        from lightkube.config.models import User

        single = single._replace(user=User())  # anonymous: the client adapter insists on a user object
    return label, single


def _kubeconfig_path(env: Mapping[str, str]) -> Path | None:
    raw = env.get("KUBECONFIG")
    if raw:
        parts = [p for p in raw.split(os.pathsep) if p]
        for p in parts:
            if Path(p).expanduser().is_file():
                return Path(p).expanduser()
        return Path(parts[0]).expanduser() if parts else None
    home = env.get("HOME")
    return Path(home) / ".kube" / "config" if home else None


def _lightkube_config() -> Any:
    try:
        from lightkube.config import kubeconfig
    except ImportError as exc:
        raise K8sClientMissing(f"cannot import lightkube: {exc}") from None
    return kubeconfig


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing entry {text}"
    return " ".join(text.split())
