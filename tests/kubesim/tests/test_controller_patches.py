"""The ownership patches of §1.1, byte for byte, and their server-side effect in process: the release patch's
`metadata.uid` acts as a precondition, so a pod recreated under the same name is not touched."""
from __future__ import annotations

import asyncio
import json

from kubesim.controllers.base import adopt_patch, release_patch

POD = {"metadata": {"name": "web-5d4b8f7c9-abcde", "uid": "pod-uid"}}
RS_REF = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4b8f7c9", "uid": "rs-uid",
          "controller": True, "blockOwnerDeletion": True}


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def test_release_patch_is_the_controller_ref_manager_one():
    """GenerateDeleteOwnerRefStrategicMergeBytes: uid first, then the $patch: delete directive by uid."""
    assert compact(release_patch(POD, "rs-uid")) == \
        '{"metadata":{"uid":"pod-uid","ownerReferences":[{"$patch":"delete","uid":"rs-uid"}]}}'


def test_job_release_patch_also_drops_the_tracking_finalizer():
    assert compact(release_patch(POD, "job-uid", ["batch.kubernetes.io/job-tracking"])) == (
        '{"metadata":{"uid":"pod-uid","ownerReferences":[{"$patch":"delete","uid":"job-uid"}],'
        '"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"]}}')


def test_adopt_patch_is_owner_ref_controller_patch():
    assert compact(adopt_patch(POD, RS_REF)) == (
        '{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d4b8f7c9",'
        '"uid":"rs-uid","controller":true,"blockOwnerDeletion":true}],"uid":"pod-uid"}}')


def test_release_of_a_recreated_pod_is_refused_by_the_uid_precondition():
    """§1.1: uid is immutable, so the release patch built for an old pod fails with 422 on a new pod of the
    same name (and the controller ignores that error)."""
    from kubesim.cluster import Cluster, ClusterOptions
    from kubesim.errors import ApiError

    async def scenario():
        cluster = Cluster(ClusterOptions(components=()))
        await cluster.start()
        try:
            api = cluster.api
            api.create("namespaces", "", {"metadata": {"name": "p"}})
            owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "owner-uid",
                     "controller": True}
            body = {"metadata": {"name": "x", "ownerReferences": [owner]},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
            old = api.create("pods", "p", body)
            api.delete("pods", "p", "x", grace_period_seconds=0)
            new = api.create("pods", "p", body)
            try:
                api.patch("pods", "p", "x", release_patch(old, "owner-uid"), "strategic")
            except ApiError as err:
                code = err.code
            else:
                code = 200
            still = api.get("pods", "p", "x")["metadata"]["ownerReferences"]
            released = api.patch("pods", "p", "x", release_patch(new, "owner-uid"), "strategic")
            return code, still, released["metadata"].get("ownerReferences")
        finally:
            await cluster.stop()

    code, still, after = asyncio.run(scenario())
    assert code == 422
    assert [r["uid"] for r in still] == ["owner-uid"]
    assert not after
