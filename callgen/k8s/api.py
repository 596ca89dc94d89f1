"""The two API calls discovery makes (list, watch), over lightkube's connection layer.

lightkube builds the authenticated HTTPS client from a kubeconfig or the
in-cluster ServiceAccount (token files, client certificates as data or file,
CA data or file, insecure-skip-tls-verify, exec plugins).  The requests
themselves are made here rather than through ``lightkube.Client`` because a
watch must be bounded: lightkube's watch restarts forever after a server
timeout, while ``callgen k8s endpoints --watch --timeout S`` must return after
S seconds, and a 410 Gone must lead to a fresh list (not a watch "from now"),
so that no change between the two is missed.  Status errors become one-line
messages that name the RBAC verb and resource a Role is missing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from callgen.k8s.config import ClientConfig, Source
from callgen.k8s.errors import K8sApiError, K8sAuthError, K8sClientMissing
from callgen.k8s.model import Decoder, ListResult, decode_list


@dataclass(frozen=True)
class Resource:
    """A namespaced API resource: ``group`` is "" for the core API."""

    group: str
    version: str
    plural: str

    def path(self, namespace: str) -> str:
        root = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        return f"{root}/namespaces/{namespace}/{self.plural}"


ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "endpointslices")
PODS = Resource("", "v1", "pods")


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    obj: Any  # decoded object (SliceInfo/PodInfo), or None for BOOKMARK
    resource_version: str


class Gone(Exception):
    """410 Gone: the resourceVersion is too old; the caller must list again."""


class Session:
    """An open connection through one Source; use as a context manager."""

    def __init__(self, source: Source, cfg: ClientConfig) -> None:
        self.source = source
        self._httpx = _httpx_module()
        self._timeout = cfg.timeout
        self._client = _make_client(source, cfg.timeout)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def list(self, res: Resource, namespace: str, selector: str, decode: Decoder) -> ListResult:
        """List all pages (``limit``/``continue``) and decode the items."""
        items: list[Any] = []
        token, rv = "", ""
        while True:
            params = {"labelSelector": selector, "limit": "500"}
            if token:
                params["continue"] = token
            resp = self._call(lambda: self._client.get(res.path(namespace), params=params))  # noqa: B023 (called at once)
            if resp.status_code != 200:
                _raise_status(resp.status_code, _read_json(resp), "list", res, namespace)
            page, token = decode_list(_read_json(resp), decode)
            items.extend(page.items)
            rv = page.resource_version or rv
            if not token:
                return ListResult(tuple(items), rv)

    def watch(
        self, res: Resource, namespace: str, selector: str, decode: Decoder, *, resource_version: str, deadline: float
    ) -> Iterator[WatchEvent]:
        """One watch request from ``resource_version`` that ends by ``deadline`` (monotonic).

        The server is asked to close at the deadline (``timeoutSeconds``) and the
        socket read timeout is the remaining time, so a silent or stuck server
        cannot hold the caller past it.  Raises ``Gone`` on 410 (HTTP or ERROR event).
        """
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        params = {
            "labelSelector": selector,
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(max(1, int(remaining))),
        }
        timeout = self._httpx.Timeout(min(self._timeout, remaining), read=remaining)
        try:
            with self._client.stream("GET", res.path(namespace), params=params, timeout=timeout) as resp:
                if resp.status_code != 200:
                    resp.read()
                    if resp.status_code == 410:
                        raise Gone()
                    _raise_status(resp.status_code, _read_json(resp), "watch", res, namespace)
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    event = _decode_event(line, decode, res, namespace)
                    if event is not None:
                        yield event
                    if time.monotonic() >= deadline:
                        return
        except self._httpx.TimeoutException:
            if time.monotonic() + 0.1 < deadline:
                raise K8sApiError(f"{self.source.label}: watch of {res.plural} timed out before the deadline") from None
        except self._httpx.HTTPError as exc:
            raise K8sApiError(f"{self.source.label}: watch of {res.plural} failed: {_one_line(exc)}") from None

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except self._httpx.TimeoutException:
            raise K8sApiError(f"{self.source.label}: no answer within {self._timeout:g} s") from None
        except self._httpx.HTTPError as exc:
            raise K8sApiError(f"{self.source.label}: cannot reach the API server: {_one_line(exc)}") from None
        except OSError as exc:  # TLS material unreadable, etc.
            raise K8sApiError(f"{self.source.label}: {_one_line(exc)}") from None
        except _config_error() as exc:  # token file vanished, exec credential plugin failed
            raise K8sApiError(f"{self.source.label}: credentials: {_one_line(exc)}") from None


def _decode_event(line: str, decode: Decoder, res: Resource, namespace: str) -> WatchEvent | None:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        raise K8sApiError(f"watch of {res.plural}: a line of the event stream is not JSON: {line[:80]!r}") from None
    if not isinstance(raw, dict):
        raise K8sApiError(f"watch of {res.plural}: an event is not a JSON object")
    kind, obj = raw.get("type"), raw.get("object")
    if kind == "ERROR":
        code = (obj or {}).get("code") if isinstance(obj, dict) else None
        if code == 410:
            raise Gone()
        _raise_status(int(code or 500), obj, "watch", res, namespace)
    if kind == "BOOKMARK":
        rv = ((obj or {}).get("metadata") or {}).get("resourceVersion") or ""
        return WatchEvent("BOOKMARK", None, str(rv))
    if kind not in ("ADDED", "MODIFIED", "DELETED"):
        raise K8sApiError(f"watch of {res.plural}: unknown event type {kind!r}")
    item = decode(obj)
    return WatchEvent(str(kind), item, item.meta.resource_version)


def _raise_status(code: int, status: Any, verb: str, res: Resource, namespace: str) -> None:
    """Turn a Status answer into the error a person can act on."""
    message = status.get("message", "") if isinstance(status, dict) else ""
    if code == 401:
        raise K8sAuthError(
            "401 Unauthorized: the API server rejected the credentials (token or client certificate "
            "missing, expired or not trusted)"
        )
    if code == 403:
        user = re.search(r'User "([^"]+)"', message or "")
        who = f" bound to {user.group(1)}" if user else ""
        raise K8sAuthError(
            f'403 Forbidden: cannot {verb} resource "{res.plural}" in API group "{res.group}" in namespace '
            f'"{namespace}" — the Role{who} needs verb "{verb}" on {res.plural}'
        )
    if code == 404:
        raise K8sApiError(
            f"404 Not Found: {res.path(namespace)} (is {res.group or 'core'}/{res.version} served by this cluster?)"
        )
    reason = status.get("reason", "") if isinstance(status, dict) else ""
    raise K8sApiError(f"{code} {reason or 'error'}: {_one_line(message) or 'no message'} ({verb} {res.plural})")


def _read_json(resp: Any) -> Any:
    try:
        return json.loads(resp.content or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _make_client(source: Source, timeout: float) -> Any:
    from lightkube.config import client_adapter

    httpx = _httpx_module()
    t = httpx.Timeout(timeout)
    try:
        if hasattr(client_adapter, "ConnectionParams"):  # lightkube >= 1.0
            return client_adapter.Client(source.single, client_adapter.ConnectionParams(timeout=t))
        return client_adapter.Client(source.single, timeout=t)  # lightkube 0.x
    except Exception as exc:  # bad CA/cert files, undecodable *-data, exec plugin failures
        raise K8sApiError(f"{source.label}: cannot set up TLS/credentials: {_one_line(exc)}") from None


def _httpx_module() -> Any:
    try:
        from lightkube.config import client_adapter
    except ImportError as exc:
        raise K8sClientMissing(f"cannot import lightkube: {exc}") from None
    return client_adapter.httpx  # httpx2 in lightkube 1.x, httpx before


def _config_error() -> type[Exception]:
    from lightkube.core.exceptions import ConfigError

    return ConfigError


def _one_line(exc: Any) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
