"""The controllers' work queue (client-go workqueue semantics) and, in process, the StatefulSet retry loop of
§3: a 409 AlreadyExists makes the set retry with per-item exponential backoff, not spin."""
from __future__ import annotations

import asyncio

from kubesim.controllers.base import BACKOFF_BASE, WorkQueue


def run(coro):
    return asyncio.run(coro)


def test_queue_dedupes_and_requeues_a_key_added_while_processing():
    async def scenario():
        q = WorkQueue()
        q.add("a")
        q.add("a")
        q.add("b")
        assert len(q) == 2
        key = await q.get()
        assert key == "a"
        q.add("a")  # changed again while being processed: not handed out twice at once
        assert await q.get() == "b"
        assert len(q) == 0
        q.done("a")  # now it comes back
        assert await q.get() == "a"
    run(scenario())


def test_rate_limited_retries_double_from_5ms_and_forget_resets():
    """The default controller rate limiter: 5 ms, 10 ms, 20 ms, ... per item (§3)."""
    async def scenario():
        q = WorkQueue()
        delays = [q.add_rate_limited("k") for _ in range(5)]
        assert delays == [BACKOFF_BASE * 2 ** n for n in range(5)]
        assert q.failures("k") == 5
        q.forget("k")
        assert q.add_rate_limited("k") == BACKOFF_BASE
        q.shutdown()
    run(scenario())


def test_add_after_delivers_later():
    async def scenario():
        q = WorkQueue()
        loop = asyncio.get_running_loop()
        start = loop.time()
        q.add_after("k", 0.05)
        assert len(q) == 0
        assert await asyncio.wait_for(q.get(), 1) == "k"
        assert loop.time() - start >= 0.045
    run(scenario())


def test_statefulset_stuck_on_already_exists_backs_off():
    """§3 in process: after db-1 is released, every sync of the set fails with AlreadyExists; the failures
    of the key grow and the retries are spaced exponentially (a few dozen in a second, not thousands)."""
    from kubesim.cluster import Cluster, ClusterOptions
    from kubesim.controllers.statefulset import StatefulSetController

    async def scenario():
        cluster = Cluster(ClusterOptions(readiness_delay=0.02))
        await cluster.start()
        try:
            api = cluster.api
            api.create("namespaces", "", {"metadata": {"name": "s"}})
            api.create("statefulsets.apps", "s", {"metadata": {"name": "db"}, "spec": {
                "replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}},
                             "spec": {"containers": [{"name": "c", "image": "kubesim/web:v1"}]}}}})
            for _ in range(200):
                sts = api.get("statefulsets.apps", "s", "db")
                if (sts.get("status") or {}).get("readyReplicas") == 2:
                    break
                await asyncio.sleep(0.02)
            controller = next(c for c in cluster.components if isinstance(c, StatefulSetController))
            api.patch("pods", "s", "db-1", {"metadata": {"labels": {"app": "moved"}}}, "strategic")
            await asyncio.sleep(1.0)
            failures = controller.queue.failures(("s", "db"))
            # 5 ms doubling: about 8 retries fit in a second (5+10+...+640 ms); never hundreds.
            assert 5 <= failures <= 12, failures
            pod = api.get("pods", "s", "db-1")
            assert not pod["metadata"].get("ownerReferences")
            assert api.get("statefulsets.apps", "s", "db")["status"]["replicas"] == 1
        finally:
            await cluster.stop()
    run(scenario())
