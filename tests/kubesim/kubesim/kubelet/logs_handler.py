"""`pods/log`: container, previous, tailLines, sinceSeconds, sinceTime, limitBytes, timestamps, follow.

Errors are the API server's and kubelet's (`validateContainerLogStatus`): a container name is required when the
pod has several, `previous terminated container ... not found`, `... is waiting to start: ...`.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime

from aiohttp import web

from kubesim import errors
from kubesim.kubelet.exec_handler import drop_later, should_drop
from kubesim.kubelet.logbuffer import LogBuffer, rfc3339nano
from kubesim.kubelet.lookup import get_pod, query_bool, query_int, resolve_container
from kubesim.kubelet.pod_handler import PodHandler

FOLLOW_POLL = 1.0


def _invalid(pod_name: str, field: str, value, detail: str) -> errors.ApiError:
    return errors.invalid_kind("PodLogOptions", pod_name, [errors.FieldError.invalid(field, value, detail)])


class LogsHandler(PodHandler):
    def _buffer(self, pod: dict, container: str, previous: bool) -> tuple[LogBuffer, bool]:
        """(log buffer, whether the instance is still running)."""
        name = pod["metadata"]["name"]
        sandbox = self.kubelet.sandbox_for(pod["metadata"]["namespace"], name, pod["metadata"].get("uid"))
        slot = sandbox.slots.get(container) if sandbox else None
        if previous:
            if slot is None or slot.previous is None:
                raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            return slot.previous.log, False
        if slot is not None and slot.current is not None and slot.waiting is None:
            return slot.current.log, slot.current.running
        if slot is not None and slot.previous is not None:
            return slot.previous.log, False   # waiting again after a run: the last run's log, as the kubelet does
        reason = slot.waiting[0] if slot is not None and slot.waiting else (
            "PodInitializing" if pod["spec"].get("initContainers") else "ContainerCreating")
        text = {"ErrImagePull": "image can't be pulled", "ImagePullBackOff": "trying and failing to pull image",
                "InvalidImageName": "image name is invalid"}.get(reason, reason)
        raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {text}')

    async def __call__(self, request: web.BaseRequest, ctx) -> web.StreamResponse:
        pod = get_pod(self.cluster.store, ctx.namespace, ctx.name)
        query = ctx.query
        container = resolve_container(pod, query.get("container"))
        previous = query_bool(query, "previous")
        follow = query_bool(query, "follow")
        timestamps = query_bool(query, "timestamps")
        tail = query_int(query, "tailLines")
        since_seconds = query_int(query, "sinceSeconds")
        limit = query_int(query, "limitBytes")
        if tail is not None and tail < 0:
            raise _invalid(ctx.name, "tailLines", tail, "must be greater than or equal to 0")
        if limit is not None and limit < 1:
            raise _invalid(ctx.name, "limitBytes", limit, "must be greater than 0")
        if since_seconds is not None and since_seconds < 1:
            raise _invalid(ctx.name, "sinceSeconds", since_seconds, "must be greater than 0")
        since = None
        if since_seconds is not None:
            since = time.time() - since_seconds
        if "sinceTime" in query:
            if since is not None:
                raise _invalid(ctx.name, "sinceTime", query["sinceTime"],
                               "at most one of `sinceTime` or `sinceSeconds` may be specified")
            try:
                since = datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise errors.bad_request(f'parsing time "{query["sinceTime"]}" as "2006-01-02T15:04:05Z07:00": '
                                         f'cannot parse') from None
        if not pod["spec"].get("nodeName"):
            raise errors.bad_request(f"pod {ctx.name} does not have a host assigned")
        buffer, running = self._buffer(pod, container, previous)

        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        if not follow:
            body = b"".join(self._format(entry, timestamps) for entry in buffer.select(since=since, tail=tail))
            if limit is not None:
                body = body[:limit]
            return web.Response(body=body, headers={"Content-Type": "text/plain"})

        await response.prepare(request)
        decision = should_drop(self.cluster, ctx)
        if decision:
            asyncio.ensure_future(drop_later(request, decision, lambda: None))
        remaining = limit
        entries = buffer.select(since=since, tail=tail)
        cursor = buffer.end
        while True:
            for entry in entries:
                data = self._format(entry, timestamps)
                if remaining is not None:
                    data = data[:remaining]
                    remaining -= len(data)
                await response.write(data)
                if remaining is not None and remaining <= 0:
                    await response.write_eof()
                    return response
            if buffer.closed or not running:
                break
            await buffer.wait_for_change(FOLLOW_POLL)
            if request.transport is None or request.transport.is_closing():
                break
            entries = buffer.lines_from(cursor)
            cursor = buffer.end
        await response.write_eof()
        return response

    @staticmethod
    def _format(entry: tuple[float, bytes], timestamps: bool) -> bytes:
        ts, line = entry
        return (rfc3339nano(ts).encode() + b" " + line) if timestamps else line
