"""The kubelet's crash-loop back-off doubles from its base up to 5 minutes (spec §5.2; kubelet
`backOffPeriod` 10 s, `MaxContainerBackOff` 300 s). The base is a cluster option so that this can be shown in
a fraction of a second, in-process (the HTTP tests use the real 10 s base)."""
from __future__ import annotations

import asyncio
import re

from kubesim.cluster import Cluster, ClusterOptions
from kubesim.kubelet.kubelet import _fmt_duration


def test_go_duration_format():
    assert [_fmt_duration(s) for s in (0.2, 2.5, 10, 80, 300)] == ["200ms", "2.5s", "10s", "1m20s", "5m0s"]


def test_crash_loop_back_off_doubles():
    async def scenario():
        cluster = Cluster(ClusterOptions(extra={"crash_backoff_base": 0.2}))
        await cluster.start()
        try:
            cluster.api.create("namespaces", None, {"metadata": {"name": "b"}})
            cluster.api.create("pods", "b", {"metadata": {"name": "crash"}, "spec": {"containers": [
                {"name": "app", "image": "kubesim/crash:1", "env": [
                    {"name": "KUBESIM_CRASH_AFTER_SECONDS", "value": "0.01"}]}]}})
            messages = []
            for _ in range(400):
                await asyncio.sleep(0.01)
                status = (cluster.store.get("pods", "b", "crash").get("status") or {})
                for cs in status.get("containerStatuses") or []:
                    waiting = cs["state"].get("waiting") or {}
                    if waiting.get("reason") == "CrashLoopBackOff" and waiting["message"] not in messages:
                        messages.append(waiting["message"])
                if len(messages) >= 3:
                    break
            return messages, cluster.store.get("pods", "b", "crash")["status"]
        finally:
            await cluster.stop()

    messages, status = asyncio.run(scenario())
    delays = [re.match(r"back-off (\S+) restarting failed container=app pod=crash_b\(", m).group(1)
              for m in messages]
    assert delays[:3] == ["200ms", "400ms", "800ms"]
    assert status["phase"] == "Running"
    assert status["containerStatuses"][0]["restartCount"] >= 3
