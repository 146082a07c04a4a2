"""pods/portforward over websocket (spec §7): two channels per port, the 2-byte little-endian port prefix on
each, data to the container's real server, the kubelet's error text when nothing listens."""
from __future__ import annotations

import json
import struct
import time

from kubernetes.stream import portforward

from test_kubelet_support import drop_stream_fault, eventually, pod_manifest, raw_websocket, read_frames, start_pod


def http_get(sock, path="/json"):
    """One HTTP/1.1 request; reads the response by its Content-Length (with several ports the websocket, and
    so each local socket, stays open until every port's connection has ended, as with the kubelet)."""
    sock.settimeout(10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_http_through_the_python_client_port_forward_reaches_the_pod(core, namespace):
    pod = start_pod(core, namespace, pod_manifest("pf", image="kubesim/web:7.1"))
    pf = portforward(core.connect_get_namespaced_pod_portforward, "pf", namespace, ports="8080")
    raw = http_get(pf.socket(8080))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    info = json.loads(body)
    assert info["pod"] == "pf" and info["tag"] == "7.1" and info["podIP"] == pod.status.pod_ip
    assert pf.error(8080) is None
    assert '"GET /json HTTP/1.1" 200' in core.read_namespaced_pod_log("pf", namespace)


def test_two_ports_get_their_own_channels(core, namespace):
    manifest = pod_manifest("multi")
    manifest["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}, {"containerPort": 9090}]
    start_pod(core, namespace, manifest)
    pf = portforward(core.connect_get_namespaced_pod_portforward, "multi", namespace, ports="8080,9090")
    for port in (8080, 9090):
        assert b"pod=multi" in http_get(pf.socket(port), "/")


def test_port_prefix_frames_on_the_wire(k8s, core, namespace):
    """§7: the first frame on data channel 0 and error channel 1 is the port, 2 bytes little-endian; v4 is
    negotiated even when the client offers v5 first."""
    start_pod(core, namespace, pod_manifest("wire"))
    ws = raw_websocket(k8s, f"/api/v1/namespaces/{namespace}/pods/wire/portforward",
                       ["v5.channel.k8s.io", "v4.channel.k8s.io"], [("ports", "8080")])
    assert ws.subprotocol == "v4.channel.k8s.io"
    ws.settimeout(5)
    first = [ws.recv_data_frame(True)[1].data for _ in range(2)]
    assert first == [b"\x00" + struct.pack("<H", 8080), b"\x01" + struct.pack("<H", 8080)]
    ws.send_binary(b"\x00GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    frames = read_frames(ws)
    body = b"".join(data[1:] for _, data in frames if data[:1] == b"\x00")
    assert b"pod=wire" in body


def test_a_port_nothing_listens_on_gives_the_kubelet_error(core, namespace):
    start_pod(core, namespace, pod_manifest("closed"))
    pf = portforward(core.connect_get_namespaced_pod_portforward, "closed", namespace, ports="9999")
    error = eventually(lambda: pf.error(9999))
    assert error.startswith("error forwarding port 9999 to pod ")
    assert "dial tcp4 127.0.0.1:9999: connect: connection refused" in error


def test_quiet_images_listen_on_nothing(core, namespace):
    start_pod(core, namespace, pod_manifest("quiet", image="nginx:1.27"))
    pf = portforward(core.connect_get_namespaced_pod_portforward, "quiet", namespace, ports="8080")
    assert eventually(lambda: pf.error(8080)).startswith("error forwarding port 8080")


def test_port_forward_to_a_pending_pod_is_refused(kubesim, core, namespace):
    core.create_namespaced_pod(namespace, pod_manifest("pending", image="registry.invalid/x:1"))

    def pulling_failed():   # scheduled and seen by the kubelet, yet Pending: the image cannot be pulled
        statuses = core.read_namespaced_pod("pending", namespace).status.container_statuses or []
        return any(s.state.waiting and s.state.waiting.reason in ("ErrImagePull", "ImagePullBackOff")
                   for s in statuses)
    eventually(pulling_failed)
    assert core.read_namespaced_pod("pending", namespace).status.phase == "Pending"
    status, _, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/pods/pending/portforward"
                                             "?ports=8080")
    assert status == 400
    assert json.loads(body)["reason"] == "BadRequest"


def test_drop_stream_fault_closes_the_forwarded_socket_mid_way(kubesim, core, namespace):
    """Fault injection (`drop-stream` on pods/portforward): after `after_seconds` the websocket is reset under an
    open keep-alive connection, and the client's forwarded socket closes, as when the network to the kubelet
    breaks. Rules match by namespace, so other tests' port-forwards are not touched."""
    start_pod(core, namespace, pod_manifest("cut"))
    with drop_stream_fault(kubesim, namespace, "portforward", after_seconds=1.0):
        started = time.monotonic()
        pf = portforward(core.connect_get_namespaced_pod_portforward, "cut", namespace, ports="8080")
        sock = pf.socket(8080)
        sock.settimeout(10)
        sock.sendall(b"GET /json HTTP/1.1\r\nHost: localhost\r\n\r\n")   # keep-alive: the pod keeps it open
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        closed_after = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 200") and b'"cut"' in received
    assert 0.9 <= closed_after < 5, closed_after

    # Without the rule the next port-forward works again.
    pf = portforward(core.connect_get_namespaced_pod_portforward, "cut", namespace, ports="8080")
    assert http_get(pf.socket(8080)).startswith(b"HTTP/1.1 200")
