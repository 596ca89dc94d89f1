"""Errors of Kubernetes discovery; all are infrastructure problems (exit 3).

They carry the full explanation in the message, because the user reads it in
one line of ``callgen: error: ...`` output with no traceback.
"""

from __future__ import annotations

from callgen.errors import InfrastructureError

EXTRA_HINT = "pip install 'callgen[k8s]'"


class K8sError(InfrastructureError):
    """Base of every Kubernetes discovery error."""


class K8sClientMissing(K8sError):
    """The optional client library (lightkube) is not installed."""

    def __init__(self, detail: str = "") -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(f"a Kubernetes target needs the optional client library{why}: {EXTRA_HINT}")


class K8sConfigError(K8sError):
    """No usable connection: every source (in-cluster, kubeconfig) was tried and failed."""


class K8sAuthError(K8sError):
    """The API server refused the credentials (401) or the permission (403)."""


class K8sApiError(K8sError):
    """Any other API failure: unreachable server, TLS, 404, bad JSON, timeouts."""


class K8sNoEndpoints(K8sError):
    """The selector matched, but nothing ready to call was found."""
