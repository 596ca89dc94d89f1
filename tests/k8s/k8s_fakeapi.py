"""A local HTTPS server that answers like kube-apiserver for the calls callgen makes.

It serves EndpointSlice and Pod lists (labelSelector equality terms, limit and
continue pages), watch streams as newline-delimited JSON events over chunked
HTTP/1.1 (from a resourceVersion, closed after timeoutSeconds), 410 Gone for
compacted versions (as an ERROR event like the real server, or as an HTTP
status), and 401/403 Status objects worded like the real ones.  Authentication
is a bearer token or a client certificate signed by the test CA; authorization
is a set of (verb, resource) pairs per user.  Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RESOURCES = {
    # path prefix -> (group, plural, list kind)
    "/apis/discovery.k8s.io/v1/namespaces/": ("discovery.k8s.io", "endpointslices", "EndpointSliceList"),
    "/api/v1/namespaces/": ("", "pods", "PodList"),
}


@dataclass(frozen=True)
class Pki:
    """Throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that did not sign the server certificate


def make_pki(directory: Path, client_cn: str = "alice") -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("callgen test CA")
    other_key, other_cert = _ca("unrelated CA")
    srv_key, srv_cert = _leaf(ca_key, ca_cert, "127.0.0.1", server=True)
    cli_key, cli_cert = _leaf(ca_key, ca_cert, client_cn, server=False)
    paths = {}
    for name, obj in (("ca.crt", ca_cert), ("server.crt", srv_cert), ("client.crt", cli_cert), ("other-ca.crt", other_cert)):
        p = directory / name
        p.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
        paths[name] = p
    for name, key in (("server.key", srv_key), ("client.key", cli_key)):
        p = directory / name
        p.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        paths[name] = p
    del other_key
    return Pki(
        paths["ca.crt"], paths["server.crt"], paths["server.key"], paths["client.crt"], paths["client.key"], paths["other-ca.crt"]
    )


def _ca(cn: str) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(ca_key: Any, ca_cert: x509.Certificate, cn: str, *, server: bool) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(cn))]), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


@dataclass
class _Event:
    rv: int
    type: str
    plural: str
    namespace: str
    obj: dict


@dataclass
class FakeCluster:
    """State of the fake API server; tests mutate it between calls."""

    pki: Pki
    tokens: dict[str, str] = field(default_factory=dict)  # bearer token -> user name
    # user -> set of (verb, plural) granted in every namespace
    grants: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    page_size: int = 2  # the server pages even when the client asks for more
    gone_as_http: bool = False  # 410 as HTTP status instead of an ERROR event
    stall_watches: bool = False  # send headers, then nothing (tests the client socket timeout)
    requests: list[str] = field(default_factory=list)
    # called (once each, in order) when a watch stream starts: lets a test change the
    # cluster exactly while a client is watching, without timing guesses
    on_watch: list[Any] = field(default_factory=list)
    _objects: dict[tuple[str, str, str], dict] = field(default_factory=dict)  # (plural, ns, name) -> obj
    _log: list[_Event] = field(default_factory=list)
    _rv: int = 100
    _compacted: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _closing: bool = False

    # -- mutations ---------------------------------------------------------
    def put(self, plural: str, namespace: str, obj: dict) -> None:
        with self._cond:
            self._rv += 1
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {})["resourceVersion"] = str(self._rv)
            obj["metadata"]["namespace"] = namespace
            key = (plural, namespace, obj["metadata"]["name"])
            kind = "MODIFIED" if key in self._objects else "ADDED"
            self._objects[key] = obj
            self._log.append(_Event(self._rv, kind, plural, namespace, obj))
            self._cond.notify_all()

    def delete(self, plural: str, namespace: str, name: str) -> None:
        with self._cond:
            self._rv += 1
            obj = self._objects.pop((plural, namespace, name))
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._log.append(_Event(self._rv, "DELETED", plural, namespace, obj))
            self._cond.notify_all()

    def compact(self) -> None:
        """Forget history: a watch from any version seen so far gets 410 Gone."""
        with self._cond:
            self._compacted = self._rv
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    # -- reads used by the handler ----------------------------------------
    def snapshot(self, plural: str, namespace: str, selector: str) -> tuple[int, list[dict]]:
        with self._cond:
            items = [
                copy.deepcopy(o)
                for (p, ns, _), o in sorted(self._objects.items())
                if p == plural and ns == namespace and _matches(o, selector)
            ]
            return self._rv, items


def _matches(obj: dict, selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels", {}) or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif labels.get(term) is None:
            return False
    return True


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster: FakeCluster  # set on a subclass per server

    def log_message(self, fmt: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        c = self.cluster
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        c.requests.append(self.path)
        route = self._route(url.path)
        if route is None:
            return self._json(404, status(404, "NotFound", "the server could not find the requested resource"))
        group, plural, list_kind, namespace = route
        user = self._user()
        if user is None:
            return self._json(401, status(401, "Unauthorized", "Unauthorized"))
        verb = "watch" if q.get("watch") in ("1", "true") else "list"
        if (verb, plural) not in c.grants.get(user, set()):
            res = f"{plural}.{group}" if group else plural
            msg = (f'{res} is forbidden: User "{user}" cannot {verb} resource "{plural}" in API group "{group}" '
                   f'in the namespace "{namespace}"')
            return self._json(403, status(403, "Forbidden", msg))
        selector = q.get("labelSelector", "")
        if verb == "watch":
            return self._watch(plural, namespace, selector, q)
        rv, items = c.snapshot(plural, namespace, selector)
        start = int(q.get("continue") or 0)
        limit = min(int(q.get("limit") or 10**9), c.page_size)
        page = items[start:start + limit]
        meta = {"resourceVersion": str(rv)}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        api_version = f"{group}/v1" if group else "v1"
        self._json(200, {"kind": list_kind, "apiVersion": api_version, "metadata": meta, "items": page})

    def _route(self, path: str) -> tuple[str, str, str, str] | None:
        for prefix, (group, plural, kind) in RESOURCES.items():
            if path.startswith(prefix):
                rest = path[len(prefix):].split("/")
                if len(rest) == 2 and rest[1] == plural:
                    return group, plural, kind, rest[0]
        return None

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return self.cluster.tokens.get(auth[7:].strip())
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
        return None

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, plural: str, namespace: str, selector: str, q: dict[str, str]) -> None:
        c = self.cluster
        since = int(q.get("resourceVersion") or 0)
        timeout = float(q.get("timeoutSeconds") or 1800)
        if since and since < c._compacted and c.gone_as_http:
            return self._json(410, status(410, "Expired", f"too old resource version: {since} ({c._compacted})"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if since and since < c._compacted:
            self._chunk({"type": "ERROR", "object": status(410, "Expired", f"too old resource version: {since} ({c._compacted})")})
            return self._chunk_end()
        if c.stall_watches:  # headers sent, then silence until the test ends
            with c._cond:
                c._cond.wait_for(lambda: c._closing, timeout=60)
            return
        while c.on_watch:
            c.on_watch.pop(0)()
        end = threading.Event()
        timer = threading.Timer(timeout, lambda: (end.set(), c.close_wakeup()))
        timer.daemon = True
        timer.start()
        try:
            sent = since
            while not end.is_set():
                with c._cond:
                    if c._closing:
                        break
                    pending = [e for e in c._log if e.rv > sent and e.plural == plural and e.namespace == namespace]
                    if not pending:
                        c._cond.wait(timeout=0.5)
                        if c._closing:
                            break
                        continue
                for e in pending:
                    sent = e.rv
                    if _matches(e.obj, selector):
                        self._chunk({"type": e.type, "object": e.obj})
            self._chunk_end()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        finally:
            timer.cancel()

    def _chunk(self, event: dict) -> None:
        data = (json.dumps(event) + "\n").encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _chunk_end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _close_wakeup(self: FakeCluster) -> None:
    with self._cond:
        self._cond.notify_all()


FakeCluster.close_wakeup = _close_wakeup  # type: ignore[attr-defined]


class FakeApiServer:
    """Start with ``with FakeApiServer(cluster) as srv:``; ``srv.url`` is https://127.0.0.1:PORT."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        handler = type("Handler", (_Handler,), {"cluster": cluster})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cluster.pki.server_cert, cluster.pki.server_key)
        ctx.load_verify_locations(cluster.pki.ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                                name="fake-kube-apiserver", daemon=True)

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
