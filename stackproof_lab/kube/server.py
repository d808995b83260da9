"""The HTTPS face of the API stand-in: the resource paths the suite and kubectl use.

    GET    /version
    GET    /api, /apis                                APIVersions / APIGroupList, or the
                                                      aggregated APIGroupDiscoveryList
    GET    /api/v1, /apis/policy, /apis/policy/v1     APIResourceList / APIGroup
    GET    /api/v1/nodes                              labelSelector, fieldSelector, limit
    GET    /api/v1/nodes/{name}
    PATCH  /api/v1/nodes/{name}                       the three patch content types
    GET    /api/v1/pods, /api/v1/namespaces/{ns}/pods labelSelector, fieldSelector, limit
    GET    /api/v1/namespaces/{ns}/pods/{name}
    DELETE /api/v1/namespaces/{ns}/pods/{name}        DeleteOptions body, dryRun
    POST   /api/v1/namespaces/{ns}/pods/{name}/eviction   policy/v1 Eviction
    GET    /apis/policy/v1/poddisruptionbudgets, .../namespaces/{ns}/poddisruptionbudgets[/{name}]
    GET    /api/v1/events, /api/v1/namespaces/{ns}/events[/{name}]
    GET    /apis/apps/v1/[namespaces/{ns}/]daemonsets[/{name}]
    GET    /apis/coordination.k8s.io/v1/[namespaces/kube-node-lease/]leases[/{name}]

Lists and objects of nodes, pods, budgets and events come as a meta.k8s.io Table when the
Accept header asks for one (`kubectl get`, see tables.py). OpenAPI (/openapi/v2, /openapi/v3)
is not served: a 404, on which kubectl falls back as it does against a server without it.

Every error is a `Status` with the API server's reason and message. Requests need the
bearer token of the lab's kubeconfig (401 Unauthorized otherwise). Watches, server-side
apply, protobuf and CBOR are not served (a Status says so).

Run: python -m stackproof_lab.kube.server --config <state>/kube/config.json
The config names the nodes (and the lab host init PID behind each), the token, and where
to write the port the server bound on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import base64
import hmac
import json
import os
import re
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from stackproof_lab.kube import discovery
from stackproof_lab.kube import kubelet as kubeletmod
from stackproof_lab.kube import objects as ob
from stackproof_lab.kube import tables
from stackproof_lab.kube import tls as tlsmod
from stackproof_lab.kube.cluster import Cluster, NodeConfig, static_observer
from stackproof_lab.kube.negotiate import Choice, choose
from stackproof_lab.kube.objects import ApiError
from stackproof_lab.kube.patch import PATCH_TYPES

VERSION = {"major": "1", "minor": "31", "gitVersion": ob.KUBELET_VERSION,
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2024-12-10T11:37:43Z", "goVersion": "go1.22.9", "compiler": "gc",
           "platform": "linux/amd64"}

_NAME = r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?)"
ROUTES = [
    (re.compile(r"^/version/?$"), "version"),
    (re.compile(r"^/api/?$"), "api"),
    (re.compile(r"^/apis/?$"), "apis"),
    (re.compile(r"^/api/(?P<version>v1)/?$"), "resources"),
    (re.compile(r"^/apis/(?P<group>[a-z0-9.]+)/?$"), "group"),
    (re.compile(r"^/apis/(?P<group>[a-z0-9.]+)/(?P<version>v[0-9a-z]+)/?$"), "resources"),
    (re.compile(r"^/api/v1/events$"), "events"),
    (re.compile(rf"^/api/v1/namespaces/(?P<ns>{_NAME})/events$"), "events"),
    (re.compile(rf"^/api/v1/namespaces/(?P<ns>{_NAME})/events/(?P<name>{_NAME})$"), "event"),
    (re.compile(r"^/api/v1/nodes$"), "nodes"),
    (re.compile(rf"^/api/v1/nodes/(?P<name>{_NAME})$"), "node"),
    (re.compile(r"^/api/v1/pods$"), "pods"),
    (re.compile(rf"^/api/v1/namespaces/(?P<ns>{_NAME})/pods$"), "pods"),
    (re.compile(rf"^/api/v1/namespaces/(?P<ns>{_NAME})/pods/(?P<name>{_NAME})$"), "pod"),
    (re.compile(rf"^/api/v1/namespaces/(?P<ns>{_NAME})/pods/(?P<name>{_NAME})/eviction$"),
     "eviction"),
    (re.compile(r"^/apis/apps/v1/daemonsets$"), "daemonsets"),
    (re.compile(rf"^/apis/apps/v1/namespaces/(?P<ns>{_NAME})/daemonsets$"), "daemonsets"),
    (re.compile(rf"^/apis/apps/v1/namespaces/(?P<ns>{_NAME})/daemonsets/(?P<name>{_NAME})$"),
     "daemonset"),
    (re.compile(r"^/apis/coordination.k8s.io/v1/leases$"), "leases"),
    (re.compile(rf"^/apis/coordination.k8s.io/v1/namespaces/(?P<ns>{_NAME})/leases$"),
     "leases"),
    (re.compile(rf"^/apis/coordination.k8s.io/v1/namespaces/(?P<ns>{_NAME})/leases/"
                rf"(?P<name>{_NAME})$"), "lease"),
    (re.compile(r"^/apis/policy/v1/poddisruptionbudgets$"), "pdbs"),
    (re.compile(rf"^/apis/policy/v1/namespaces/(?P<ns>{_NAME})/poddisruptionbudgets$"), "pdbs"),
    (re.compile(rf"^/apis/policy/v1/namespaces/(?P<ns>{_NAME})/poddisruptionbudgets/"
                rf"(?P<name>{_NAME})$"), "pdb"),
]
METHODS = {"version": {"GET"}, "api": {"GET"}, "apis": {"GET"}, "resources": {"GET"},
           "group": {"GET"}, "events": {"GET"}, "event": {"GET"}, "leases": {"GET"},
           "lease": {"GET"}, "daemonsets": {"GET"}, "daemonset": {"GET"}, "nodes": {"GET"},
           "node": {"GET", "PATCH"}, "pods": {"GET"}, "pod": {"GET", "DELETE"},
           "eviction": {"POST"}, "pdbs": {"GET"}, "pdb": {"GET"}}


def _paginate(items: list[dict], query: dict, rv: str) -> tuple[list[dict], dict]:
    """limit/continue, as the API server chunks large lists."""
    start = 0
    token = query.get("continue")
    if token:
        try:
            start = int(json.loads(base64.b64decode(token))["start"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, "BadRequest", "continue key is not valid: incorrect encoded "
                           "start resourceVersion (version meta.k8s.io/v1)") from None
    meta: dict = {"resourceVersion": rv}
    limit = query.get("limit")
    if limit:
        try:
            n = int(limit)
        except ValueError:
            raise ApiError(400, "BadRequest", f"limit: {limit}: must be an integer") from None
        if n > 0 and start + n < len(items):
            meta["continue"] = base64.b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": int(rv), "start": start + n}).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - n
            return items[start:start + n], meta
    return items[start:], meta


class Handler(BaseHTTPRequestHandler):
    server_version = "stackproof-kube-standin"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    @property
    def cluster(self) -> Cluster:
        return self.server.cluster                      # type: ignore[attr-defined]

    def log_message(self, fmt, *args):                  # never log headers (the token)
        log = getattr(self.server, "request_log", None)
        if log is not None:
            log(f"{self.command} {self.path.split('?')[0]} {args[1] if len(args) > 1 else ''}")

    def _send(self, code: int, body: dict, content_type: str = "application/json",
              headers: dict | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"error decoding request body: {exc}") from None

    def _authorized(self) -> bool:
        token = getattr(self.server, "token", None)
        if not token:
            return True
        got = self.headers.get("Authorization", "")
        return got.startswith("Bearer ") and hmac.compare_digest(got[7:].strip(), token)

    def _dispatch(self) -> None:
        try:
            if not self._authorized():
                raise ApiError(401, "Unauthorized", "Unauthorized")
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            for rx, route in ROUTES:
                m = rx.match(url.path)
                if m:
                    break
            else:
                # drain the body so keep-alive stays in step
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                raise ApiError(404, "NotFound", "the server could not find the requested "
                               "resource", {})
            params = m.groupdict()
            if self.command not in METHODS[route]:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow this "
                               f"method on the requested resource", {})
            if query.get("watch") in ("1", "true"):
                raise ApiError(400, "BadRequest", "watch is not served by the stackproof lab "
                               "API stand-in")
            self.answer: dict = {}
            code, body = getattr(self, f"_do_{route}")(params, query)
            self._send(code, body, **self.answer)
        except ApiError as exc:
            self._send(exc.code, exc.body())
        except Exception as exc:          # a bug here must still answer like an API server
            self._send(500, ob.status(500, "InternalError",
                                      f"Internal error occurred: {type(exc).__name__}: {exc}"))

    do_GET = do_PATCH = do_POST = do_DELETE = do_PUT = _dispatch

    # --- routes ------------------------------------------------------------------------------
    def _do_version(self, params, query):
        return 200, VERSION

    def _accept(self, *, table: bool = False, discovery_doc: bool = False) -> Choice:
        got = choose(self.headers.get("Accept"), table=table, discovery=discovery_doc)
        if got is None:
            raise ApiError(406, "NotAcceptable", "only the following media types are "
                           "accepted: application/json, application/yaml, "
                           "application/vnd.kubernetes.protobuf")
        return got

    def _discovery(self, core: bool, legacy: dict):
        got = self._accept(discovery_doc=True)
        if got.kind != "discovery":
            return 200, legacy
        body = discovery.aggregated(core, got.version)
        tag = discovery.etag(body)
        self.answer = {"content_type": discovery.aggregated_content_type(got.version),
                       "headers": {"Vary": "Accept", "ETag": tag}}
        return 200, body

    def _do_api(self, params, query):
        return self._discovery(True, discovery.api_versions(self.server.address))

    def _do_apis(self, params, query):
        return self._discovery(False, discovery.api_group_list())

    def _do_group(self, params, query):
        self._accept()
        group = next((g for g in discovery.api_group_list()["groups"]
                      if g["name"] == params["group"]), None)
        if group is None:
            raise ApiError(404, "NotFound", "the server could not find the requested "
                           "resource", {})
        return 200, {"kind": "APIGroup", "apiVersion": "v1", **group}

    def _do_resources(self, params, query):
        self._accept()
        body = discovery.resource_list(params.get("group") or "", params["version"])
        if body is None:
            raise ApiError(404, "NotFound", "the server could not find the requested "
                           "resource", {})
        return 200, body

    def _list(self, kind: str, api_version: str, items: list[dict], rv: str, query: dict):
        got = self._accept(table=True)
        page, meta = _paginate(items, query, rv)
        if got.kind == "table":
            return 200, tables.table(kind[:-len("List")], api_version, page, meta,
                                     now=self.cluster.clock(),
                                     include=query.get("includeObject") or
                                     "PartialObjectMetadata", version=got.version)
        return 200, {"kind": kind, "apiVersion": api_version, "metadata": meta, "items": page}

    def _one(self, obj: dict, query: dict):
        got = self._accept(table=True)
        if got.kind == "table":
            return 200, tables.table(obj["kind"], obj["apiVersion"], [obj], None,
                                     now=self.cluster.clock(),
                                     include=query.get("includeObject") or
                                     "PartialObjectMetadata", version=got.version)
        return 200, obj

    def _do_nodes(self, params, query):
        items, rv = self.cluster.list_nodes(query.get("labelSelector"),
                                            query.get("fieldSelector"))
        return self._list("NodeList", "v1", items, rv, query)

    def _do_node(self, params, query):
        name = params["name"]
        if self.command == "GET":
            return self._one(self.cluster.get_node(name), query)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an "
                           "unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, "
                           "application/apply-patch+yaml, application/apply-patch+cbor")
        body = self._body()
        if body is None:
            raise ApiError(400, "BadRequest", "the server rejected our request due to an "
                           "error in our request")
        return 200, self.cluster.patch_node(name, ctype, body)

    def _do_pods(self, params, query):
        items, rv = self.cluster.list_pods(params.get("ns"), query.get("labelSelector"),
                                           query.get("fieldSelector"))
        return self._list("PodList", "v1", items, rv, query)

    def _do_pod(self, params, query):
        if self.command == "GET":
            return self._one(self.cluster.get_pod(params["ns"], params["name"]), query)
        options = self._body() or {}
        if "gracePeriodSeconds" in query:
            options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
        return 200, self.cluster.delete_pod(params["ns"], params["name"], options,
                                            dry_run=query.get("dryRun") == "All")

    def _do_eviction(self, params, query):
        body = self._body()
        if body is None:
            raise ApiError(400, "BadRequest", "the body of the request was not an Eviction")
        return 201, self.cluster.evict(params["ns"], params["name"], body,
                                       dry_run=query.get("dryRun") == "All")

    def _do_pdbs(self, params, query):
        items, rv = self.cluster.list_budgets(params.get("ns"), query.get("labelSelector"),
                                              query.get("fieldSelector"))
        return self._list("PodDisruptionBudgetList", "policy/v1", items, rv, query)

    def _do_pdb(self, params, query):
        return self._one(self.cluster.get_budget(params["ns"], params["name"]), query)

    def _do_daemonsets(self, params, query):
        items, rv = self.cluster.list_daemonsets(params.get("ns"), query.get("labelSelector"),
                                                 query.get("fieldSelector"))
        return self._list("DaemonSetList", "apps/v1", items, rv, query)

    def _do_daemonset(self, params, query):
        return self._one(self.cluster.get_daemonset(params["ns"], params["name"]), query)

    def _do_leases(self, params, query):
        items, rv = self.cluster.list_leases(params.get("ns"), query.get("labelSelector"),
                                             query.get("fieldSelector"))
        return self._list("LeaseList", "coordination.k8s.io/v1", items, rv, query)

    def _do_lease(self, params, query):
        return self._one(self.cluster.get_lease(params["ns"], params["name"]), query)

    def _do_events(self, params, query):
        items, rv = self.cluster.list_events(params.get("ns"), query.get("labelSelector"),
                                             query.get("fieldSelector"))
        return self._list("EventList", "v1", items, rv, query)

    def _do_event(self, params, query):
        return self._one(self.cluster.get_event(params["ns"], params["name"]), query)


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, cluster: Cluster, token: str | None, port: int = 0,
                 request_log=None, ssl_context=None):
        # loopback only: the stand-in is never reachable from outside the machine
        super().__init__(("127.0.0.1", port), Handler)
        self.cluster, self.token, self.request_log = cluster, token, request_log
        self.ssl_context = ssl_context

    def finish_request(self, request, client_address):
        """TLS handshake in the request's own thread, so a slow client never holds accept."""
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):       # a client that hung up or spoke plain http
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        # a client that drops its connection mid-answer is no server error
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.address}"


def lab_observer(cfg: NodeConfig):
    """A node with a lab host: kubelet's view, read inside the host (checked to be the
    recorded init, so a reused PID is never entered)."""
    from stackproof_lab.state import proc_start_time
    if cfg.pid is None:
        return static_observer(cfg)
    if proc_start_time(cfg.pid) != cfg.start and not _rebooted(cfg):
        raise OSError(f"lab host {cfg.host} is gone")
    return kubeletmod.decide(kubeletmod.observe(cfg.pid, cfg.name, cfg.join_config), cfg.name)


LAB_STATE_DIR: str | None = None      # set from the config: follows `lab reboot`


def _rebooted(cfg: NodeConfig) -> bool:
    """The host was rebooted (stackproof_lab.reboot): take its new init from the lab's
    record, checked by start time like the first."""
    from stackproof_lab.state import LabState, proc_start_time
    if LAB_STATE_DIR is None or cfg.host is None:
        return False
    try:
        rec = LabState.load(LAB_STATE_DIR).hosts.get(cfg.host)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if rec is None or not rec.init_pid or proc_start_time(rec.init_pid) != rec.init_start:
        return False
    object.__setattr__(cfg, "pid", rec.init_pid)          # NodeConfig is frozen
    object.__setattr__(cfg, "start", rec.init_start)
    return True


def load_config(path: Path) -> dict:
    return json.loads(path.read_text())


def build(config: dict) -> tuple[Cluster, StandInServer]:
    nodes = [NodeConfig(**n) for n in config["nodes"]]
    cluster = Cluster(nodes, cluster_id=config["cluster_id"], observer=lab_observer)
    log_path = config.get("request_log")
    log = None
    if log_path:
        fh = open(log_path, "a", buffering=1)
        log = lambda line: fh.write(line + "\n")  # noqa: E731
    tls = config.get("tls")
    context = tlsmod.server_context(tlsmod.TlsFiles(Path(tls["ca"]), Path(tls["cert"]),
                                                    Path(tls["key"]))) if tls else None
    return cluster, StandInServer(cluster, config.get("token"), request_log=log,
                                  ssl_context=context)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--config", required=True, type=Path)
    args = ap.parse_args(argv)
    config = load_config(args.config)
    global LAB_STATE_DIR
    LAB_STATE_DIR = config.get("lab_state_dir")
    cluster, server = build(config)
    stop = threading.Event()
    cluster.run_background(stop, float(config.get("poll_interval", 1.0)))

    def shutdown(signum, frame):
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    port_file = Path(config["port_file"])
    tmp = port_file.with_name(port_file.name + ".tmp")
    tmp.write_text(f"{server.port}\n")
    os.replace(tmp, port_file)                     # the hook waits for this file
    print(f"kube API stand-in on {server.url} (pid {os.getpid()})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
