"""Events of the kubelet and the default scheduler, written through the shared recorder (kubesim.events)."""
from __future__ import annotations

from kubesim.events import record_event


class EventRecorder:
    def __init__(self, api, component: str):
        self.api = api
        self.component = component   # "kubelet" | "default-scheduler"

    def pod_event(self, pod: dict, event_type: str, reason: str, message: str, *, host: str = "",
                  field_path: str = "") -> None:
        if self.component == "kubelet":
            user, source_host = f"system:node:{host}", host
        else:
            user, source_host = "system:kube-scheduler", ""
        obj = pod if pod.get("kind") else {**pod, "kind": "Pod", "apiVersion": "v1"}
        record_event(self.api, obj, reason, message, type=event_type, component=self.component,
                     host=source_host, user=user, field_path=field_path or None)
