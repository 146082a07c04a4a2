"""`python -m kubesim serve ...`: start the emulator, write the kubeconfig (the readiness signal), serve until
SIGTERM/SIGINT, then stop every component and exit 0.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile

import yaml
from aiohttp import web

from kubesim import faults as faults_mod
from kubesim import rbac as rbac_mod
from kubesim import tls
from kubesim.cluster import COMPONENT_PACKAGES, Cluster, ClusterOptions
from kubesim.server import Server


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubesim", description="A Kubernetes API emulator for tests and demos.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the API until SIGTERM/SIGINT")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=0, help="port (0 = pick a free one; the kubeconfig tells which)")
    s.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig; written once ready")
    s.add_argument("--audit-log", help="append one JSON line per request to this file")
    s.add_argument("--token", help="the admin bearer token (default: random); user kubesim-admin, "
                                   "group system:masters")
    s.add_argument("--insecure-http", action="store_true", help="serve plain HTTP instead of HTTPS")
    s.add_argument("--client-cert-kubeconfig", metavar="PATH",
                   help="also write a kubeconfig that authenticates with a client certificate signed by kubesim's "
                        "client CA (user from --client-cert-user, groups from --client-cert-group)")
    s.add_argument("--client-cert-user", default="kubesim-admin", metavar="USER",
                   help="the certificate's CN, the user (default kubesim-admin, who is then in system:masters)")
    s.add_argument("--client-cert-group", action="append", default=[], metavar="GROUP",
                   help="an O of the certificate, a group (repeatable)")
    s.add_argument("--rbac", help="YAML with Role/ClusterRole/RoleBinding/ClusterRoleBinding and extra tokens")
    s.add_argument("--fault", action="append", default=[], metavar="RULE",
                   help="fault rule KEY=VALUE,... (repeatable), e.g. verb=patch,resource=pods,action=error,"
                        "code=503,nth=1")
    s.add_argument("--readiness-delay", type=_seconds, default=0.2, metavar="SECONDS",
                   help="seconds between a container starting and the pod becoming Ready (default 0.2)")
    s.add_argument("--nodes", type=_positive_int, default=3, metavar="N",
                   help="number of Node objects kubesim-node-1..N, pods are scheduled over them (default 3)")
    s.add_argument("--crash-backoff-base", type=_seconds, metavar="SECONDS",
                   help="first CrashLoopBackOff delay, doubled per restart up to 300 s (default 10, as the "
                        "kubelet; tests use e.g. 0.1)")
    s.add_argument("--image-pull-backoff-base", type=_seconds, metavar="SECONDS",
                   help="first ImagePullBackOff delay for images that cannot be pulled, doubled per retry up to "
                        "300 s (default 10, as the kubelet)")
    s.add_argument("--network-drop-timeout", type=_seconds, metavar="SECONDS",
                   help="how long a connection NetworkPolicy drops waits before the client sees a timeout "
                        "(default 1; a real CNI's drop costs the client's whole connect timeout)")
    s.add_argument("--termination-delay", type=_seconds, metavar="SECONDS",
                   help="how long a container takes to stop after SIGTERM, capped by the pod's grace period "
                        "(default 0.05)")
    s.add_argument("--max-pods", type=_positive_int, metavar="N",
                   help="pods per node, the kubelet's --max-pods (default 110)")
    s.add_argument("--bookmark-interval", type=float, default=60.0,
                   help="seconds between watch BOOKMARK events (default 60, as the real server)")
    s.add_argument("--disable", action="append", default=[], choices=["controllers", "kubelet"],
                   help="do not load this component package (repeatable); without a kubelet, terminating pods "
                        "are removed after their grace period")
    s.add_argument("--state-dir", help="directory for container sandboxes (default: a temp dir removed at exit)")
    s.add_argument("--max-container-processes", type=_positive_int, metavar="N",
                   help="containers running their command at the same time, over all nodes (default 256); one "
                        "more waits in CreateContainerError with a Failed event until another ends")
    s.add_argument("--no-isolation", action="store_true",
                   help="UNSAFE: run container processes on this machine's filesystem instead of a root "
                        "filesystem of their own (for machines without root or mount namespaces); without it "
                        "kubesim refuses to start where isolation is not possible")
    s.add_argument("--log-level", default="WARNING", help="Python log level (default WARNING)")
    return p


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def kubeconfig_document(server_url: str, ca_pem: bytes | None, user: dict) -> dict:
    """A kubeconfig for the cluster, user, and context `kubesim`; `user` is its credentials entry."""
    import base64
    cluster: dict = {"server": server_url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "kubesim", "cluster": cluster}],
        "users": [{"name": "kubesim", "user": user}],
        "contexts": [{"name": "kubesim", "context": {"cluster": "kubesim", "user": "kubesim",
                                                     "namespace": "default"}}],
        "current-context": "kubesim",
    }


def client_cert_user(cert_pem: bytes, key_pem: bytes) -> dict:
    import base64
    return {"client-certificate-data": base64.b64encode(cert_pem).decode(),
            "client-key-data": base64.b64encode(key_pem).decode()}


def write_kubeconfig(path: str, server_url: str, token: str | None, ca_pem: bytes | None, user: dict | None = None):
    config = kubeconfig_document(server_url, ca_pem, user if user is not None else {"token": token})
    _write_private_yaml(path, config)


def _write_private_yaml(path: str, config: dict):
    # Write atomically: readers poll for the file and must never see half of it.
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=directory)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, default_flow_style=False, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


async def serve(args) -> int:
    tls_dir = tempfile.mkdtemp(prefix="kubesim-tls-")
    try:
        return await _serve(args, tls_dir)
    finally:
        shutil.rmtree(tls_dir, ignore_errors=True)


async def _serve(args, tls_dir: str) -> int:
    token = args.token or secrets.token_urlsafe(24)
    extra_tokens, rbac_objects = [], []
    if args.rbac:
        try:
            rbac_objects, extra_tokens = rbac_mod.load_rbac_file(args.rbac)
        except rbac_mod.RbacConfigError as e:
            print(f"kubesim: {e}", file=sys.stderr)
            return 2
    rules = []
    for spec in args.fault:
        try:
            rules.append(faults_mod.parse_rule(spec))
        except ValueError as e:
            print(f"kubesim: bad --fault {spec!r}: {e}", file=sys.stderr)
            return 2
    state_dir = args.state_dir
    if state_dir:
        os.makedirs(state_dir, exist_ok=True)
    opts = ClusterOptions(readiness_delay=args.readiness_delay, nodes=args.nodes, state_dir=state_dir,
                          bookmark_interval=args.bookmark_interval, audit_log=args.audit_log,
                          crash_backoff_base=args.crash_backoff_base,
                          image_pull_backoff_base=args.image_pull_backoff_base,
                          termination_delay=args.termination_delay, max_pods_per_node=args.max_pods,
                          components=tuple(p for p in COMPONENT_PACKAGES if p.rsplit(".", 1)[1] not in args.disable))
    if args.no_isolation:
        opts.extra["no_isolation"] = True
    if args.network_drop_timeout is not None:
        opts.extra["network_drop_timeout"] = args.network_drop_timeout
    if args.max_container_processes:
        opts.extra["max_container_processes"] = args.max_container_processes
    ssl_ctx, ca_pem, client_ca = None, None, None
    if args.client_cert_kubeconfig and args.insecure_http:
        print("kubesim: --client-cert-kubeconfig needs HTTPS (client certificates are a TLS feature); drop "
              "--insecure-http", file=sys.stderr)
        return 2
    if not args.insecure_http:
        client_ca = tls.ClientCA()
        ssl_ctx, ca_pem, _, _ = tls.generate(args.host, tls_dir, client_ca)
        opts.ca_pem = ca_pem.decode()
    cluster = Cluster(opts)
    cluster.client_ca = client_ca
    for rule in rules:
        cluster.faults.add(rule)
    authn = rbac_mod.Authenticator(token, extra_tokens)
    authn.token_authenticators.append(cluster.tokens.authenticate)
    authz = rbac_mod.Authorizer(rbac_objects, cluster.store)
    server = Server(cluster, authn, authz)
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        print(f"kubesim: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
        await runner.cleanup()
        await cluster.stop()
        return 1
    sock.listen(512)
    site = web.SockSite(runner, sock, ssl_context=ssl_ctx)
    await site.start()
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"{'http' if args.insecure_http else 'https'}://{host}:{port}"
    server.server_address = f"{host}:{port}"
    cluster.options.server_url = url
    try:
        await cluster.start()
    except RuntimeError as e:   # e.g. the kubelet's IsolationUnavailable: say why, no traceback
        print(f"kubesim: {e}", file=sys.stderr)
        await cluster.stop()
        await runner.cleanup()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if args.client_cert_kubeconfig:
            groups = args.client_cert_group or (["system:masters"] if args.client_cert_user == "kubesim-admin"
                                                else [])
            cert, key = client_ca.issue(args.client_cert_user, groups)
            write_kubeconfig(args.client_cert_kubeconfig, url, None, ca_pem, client_cert_user(cert, key))
        # Last: the main kubeconfig is the readiness signal.
        write_kubeconfig(args.kubeconfig, url, token, ca_pem)
    except OSError as e:
        print(f"kubesim: cannot write kubeconfig {e.filename or args.kubeconfig}: {e.strerror}", file=sys.stderr)
        await cluster.stop()
        await runner.cleanup()
        return 1
    print(f"kubesim: serving {url} (kubeconfig {args.kubeconfig})", file=sys.stderr, flush=True)
    await stop.wait()
    # Open watches end with a clean end of stream first; then the components stop (log follows end with their
    # containers); aiohttp cancels whatever is still streaming after shutdown_timeout.
    await server.close()
    await asyncio.sleep(0)
    await cluster.stop()
    await runner.cleanup()
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
                        format="kubesim %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        try:
            return asyncio.run(serve(args))
        except KeyboardInterrupt:
            return 0
    return 2
