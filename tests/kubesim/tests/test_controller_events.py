"""core/v1 Events as the controllers record them (client-go's recorder): name `<object>.<hex>`,
involvedObject with uid and resourceVersion, source.component, timestamps and count aggregation."""
from __future__ import annotations

import asyncio
import re


def test_controller_event_shape(core, apps, namespace, wait_for):
    d = apps.create_namespaced_deployment(namespace, {"metadata": {"name": "web"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "app", "image": "kubesim/web:v1"}]}}}})
    event = wait_for(lambda: next((e for e in core.list_namespaced_event(namespace).items
                                   if e.reason == "ScalingReplicaSet"), None))
    assert re.fullmatch(r"web\.[0-9a-f]+", event.metadata.name)
    obj = event.involved_object
    assert (obj.kind, obj.api_version, obj.name, obj.namespace, obj.uid) == (
        "Deployment", "apps/v1", "web", namespace, d.metadata.uid)
    assert obj.resource_version
    assert event.source.component == "deployment-controller"
    assert event.reporting_component == "deployment-controller"
    assert event.type == "Normal" and event.count == 1
    assert event.first_timestamp == event.last_timestamp
    assert event.message.startswith("Scaled up replica set web-") and event.message.endswith(" from 0 to 1")


def test_repeated_event_is_aggregated_into_count():
    """The recorder's EventLogger: the same event again bumps count and lastTimestamp on the first one."""
    from kubesim.cluster import Cluster, ClusterOptions
    from kubesim.events import record_event

    async def scenario():
        cluster = Cluster(ClusterOptions(components=()))
        await cluster.start()
        try:
            api = cluster.api
            api.create("namespaces", "", {"metadata": {"name": "ev"}})
            cm = api.create("configmaps", "ev", {"metadata": {"name": "thing"}})
            first = record_event(api, cm, "Checked", "all good", component="tester")
            await asyncio.sleep(1.1)
            second = record_event(api, cm, "Checked", "all good", component="tester")
            other = record_event(api, cm, "Checked", "something else", component="tester")
            events, _ = api.list("events", "ev")
            return first, second, other, events
        finally:
            await cluster.stop()

    first, second, other, events = asyncio.run(scenario())
    assert second["metadata"]["name"] == first["metadata"]["name"]
    assert second["count"] == 2
    assert second["firstTimestamp"] == first["firstTimestamp"] and second["lastTimestamp"] > first["lastTimestamp"]
    assert other["metadata"]["name"] != first["metadata"]["name"] and other["count"] == 1
    assert len(events) == 2
    assert first["involvedObject"] == {"kind": "ConfigMap", "namespace": "ev", "name": "thing",
                                       "uid": first["involvedObject"]["uid"], "apiVersion": "v1",
                                       "resourceVersion": first["involvedObject"]["resourceVersion"]}
