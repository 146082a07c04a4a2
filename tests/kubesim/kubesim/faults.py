"""Fault injection for reliability tests of clients.

A rule matches requests by verb, resource, subresource, namespace, name and user (empty = any) and then acts on
the Nth matching request (`nth`), on a random `fraction` of them, or on all, at most `count` times:

- action `error`: answer with `code` 500, 503, 429 (with Retry-After: `retry_after`) or 409, real Status bodies;
- action `latency`: wait `seconds` before handling the request normally;
- action `reset`: close the connection without an answer;
- action `drop-stream`: for watch, exec, attach, port-forward and log streams, cut the stream after
  `after_events` events (watch) or at once / after `after_seconds` (streams handled by the kubelet part, which
  asks `cluster.faults.should_drop_stream(ctx)`); for exec streams `after_bytes` cuts after that many bytes of
  output instead (the same place in the stream however fast the machine is, so tests do not race the transfer).

Rules come from `--fault KEY=VALUE,...` flags or the admin endpoint `/kubesim/faults` (POST a JSON rule, GET the
list, DELETE to clear one `?id=` or all).
"""
from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass, field

from kubesim import errors

ACTIONS = ("error", "latency", "reset", "drop-stream")
ERROR_CODES = (409, 429, 500, 503)
_INT_FIELDS = {"code", "nth", "count", "retry_after", "after_events", "after_bytes"}
_FLOAT_FIELDS = {"fraction", "seconds", "after_seconds"}


@dataclass
class FaultRule:
    action: str = "error"
    verb: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    user: str = ""
    code: int = 503
    fraction: float = 1.0
    nth: int | None = None
    count: int | None = None
    retry_after: int = 1
    seconds: float = 0.0
    after_events: int = 0
    after_seconds: float = 0.0
    after_bytes: int | None = None
    id: int = 0
    matched: int = field(default=0)
    fired: int = field(default=0)

    def matches(self, ctx) -> bool:
        for attr in ("verb", "resource", "subresource", "namespace", "name", "user"):
            want = getattr(self, attr)
            if want and want != "*" and want != (getattr(ctx, attr, "") or ""):
                return False
        return True


def parse_rule(data) -> FaultRule:
    """From a dict (admin endpoint) or a `k=v,k=v` string (--fault); raises ValueError with a clear message."""
    if isinstance(data, str):
        pairs = {}
        for part in data.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ValueError(f"fault rule part {part!r} is not KEY=VALUE")
            k, v = part.split("=", 1)
            pairs[k.strip().replace("-", "_")] = v.strip()
        data = pairs
    if not isinstance(data, dict):
        raise ValueError("a fault rule must be an object")
    known = set(FaultRule.__dataclass_fields__) - {"id", "matched", "fired"}
    kwargs = {}
    for k, v in data.items():
        k = k.replace("-", "_")
        if k == "retryAfter":
            k = "retry_after"
        if k not in known:
            raise ValueError(f"unknown fault rule field {k!r} (known: {', '.join(sorted(known))})")
        try:
            if k in _INT_FIELDS:
                v = None if v in (None, "") else int(v)
            elif k in _FLOAT_FIELDS:
                v = float(v)
            else:
                v = str(v)
        except (TypeError, ValueError):
            raise ValueError(f"fault rule field {k!r} has a bad value {v!r}") from None
        kwargs[k] = v
    rule = FaultRule(**kwargs)
    if rule.action not in ACTIONS:
        raise ValueError(f"fault action must be one of {', '.join(ACTIONS)}, not {rule.action!r}")
    if rule.action == "error" and rule.code not in ERROR_CODES:
        raise ValueError(f"fault code must be one of {ERROR_CODES}, not {rule.code}")
    if rule.after_bytes is not None and (rule.action != "drop-stream" or rule.after_bytes < 0):
        raise ValueError("after_bytes is a byte count >= 0 of a drop-stream rule")
    if not 0.0 <= rule.fraction <= 1.0:
        raise ValueError("fault fraction must be between 0 and 1")
    return rule


class Faults:
    def __init__(self, seed: int | None = None):
        self.rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._rng = random.Random(seed)

    def add(self, rule: FaultRule) -> FaultRule:
        rule.id = next(self._ids)
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int | None = None) -> int:
        before = len(self.rules)
        self.rules = [] if rule_id is None else [r for r in self.rules if r.id != rule_id]
        return before - len(self.rules)

    def describe(self) -> list[dict]:
        return [asdict(r) for r in self.rules]

    def _fire(self, rule: FaultRule) -> bool:
        rule.matched += 1
        if rule.count is not None and rule.fired >= rule.count:
            return False
        if rule.nth is not None:
            hit = rule.matched == rule.nth
        else:
            hit = rule.fraction >= 1.0 or self._rng.random() < rule.fraction
        if hit:
            rule.fired += 1
        return hit

    def match(self, ctx, actions=("error", "latency", "reset")) -> list[FaultRule]:
        """The rules that fire for this request (each matching rule counts the request)."""
        fired = []
        for rule in self.rules:
            if rule.action in actions and rule.matches(ctx) and self._fire(rule):
                fired.append(rule)
        return fired

    def watch_drop_after(self, ctx) -> int | None:
        """Number of events after which this watch stream is cut, or None."""
        for rule in self.match(ctx, ("drop-stream",)):
            return rule.after_events
        return None

    def should_drop_stream(self, ctx) -> FaultRule | None:
        """For exec/attach/port-forward/log streams: the firing drop-stream rule (its after_seconds says when)."""
        for rule in self.match(ctx, ("drop-stream",)):
            return rule
        return None

    @staticmethod
    def error_for(rule: FaultRule, ctx) -> errors.ApiError:
        if rule.code == 429:
            return errors.too_many_requests("Too many requests, please try again later.", rule.retry_after)
        if rule.code == 409:
            from kubesim.resources import lookup
            r = lookup(ctx.group, ctx.version, ctx.resource) if ctx.resource else None
            if r is not None:
                return errors.conflict(r, ctx.name or "")
            return errors.generic(409, "Conflict", "the server reported a conflict", {})
        if rule.code == 500:
            return errors.internal("kubesim injected fault")
        return errors.service_unavailable("the server is currently unable to handle the request")
