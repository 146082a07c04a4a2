# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Redaction of credential-looking values in the JSON documents the evidence modules write (pods, owners,
events). Pure: it works on a copy of a document and returns it with a count per rule.

A value is replaced by a marker that gives only its length (``<redacted: 12 chars>``), so a reader sees that
there was a value and how long it was, never the value. Rules:

- env-name: an env entry whose name says credential (PASSWORD, TOKEN, SECRET, KEY, CREDENTIAL, DSN, ...);
- argument: a command-line flag that says credential: ``--password=hunter2``, ``--mysecret 4321`` (the next
  argument), ``-Dapp.db.password=x``; flags naming a file or a path (``--tls-key-file``) are left alone;
- annotation: annotations known to carry credentials, parsed and redacted by the same rules
  (``kubectl.kubernetes.io/last-applied-configuration`` holds the whole spec, env values included);
- content: any string that looks like a credential whatever its key: a URL or DSN with a password (only the
  password is replaced), a bearer/basic Authorization value, a PEM private key, a JWT, an AWS access key id.

Binary artifacts are never redacted (logs and command output are written as collected).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

# Names are split on separators so "KEY" matches FOO_KEY and key.store, but not MONKEY or KEYBOARD.
_NAME_WORDS = re.compile(r"[^a-z0-9]+")
_CREDENTIAL_PARTS = set(["password", "passwd", "pwd", "pass", "passphrase", "secret", "secrets", "token", "tokens",
                         "apikey", "key", "keys", "credential", "credentials", "cred", "creds", "auth", "dsn",
                         "privatekey", "accesskey", "secretkey", "session", "cookie", "signature", "mysecret",
                         "clientsecret", "jwt", "bearer"])
_NOT_A_VALUE_PARTS = set(["file", "path", "dir", "ref", "name", "id", "url", "endpoint", "type", "size", "length",
                          "ttl", "timeout", "expiry", "expires", "algorithm", "header"])
KNOWN_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)(?P<secret>[^@\s/]+)(?P<tail>@)")
_DSN_PASSWORD = re.compile(r"(?P<head>(?:^|[;\s])(?:password|pwd)\s*=\s*)(?P<secret>[^;\s]+)", re.I)
_AUTH_HEADER = re.compile(r"(?P<head>\b(?:bearer|basic)\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})", re.I)
_PEM_KEY = re.compile(r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----.*?(?:-----END (?:[A-Z ]+ )?PRIVATE KEY-----|$)",
                      re.S)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")


def marker(value):
    return "<redacted: %d chars>" % len(value)


def name_is_credential(name):
    """Whether an env name, flag name or key names a credential (and not a file, path or id of one)."""
    words = [w for w in _NAME_WORDS.split(str(name).lower()) if w]
    if not words:
        return False
    if words[-1] in _NOT_A_VALUE_PARTS:
        return False
    joined = "".join(words)
    return any(w in _CREDENTIAL_PARTS for w in words) or joined in _CREDENTIAL_PARTS


def redact_string(text, counts):
    """Content rules on one string: the secret parts replaced, counted under 'content'."""
    if not isinstance(text, str) or len(text) < 8:
        return text
    found = [0]

    def keep_head(match):
        found[0] += 1
        return match.group("head") + marker(match.group("secret")) + (match.groupdict().get("tail") or "")

    def whole(match):
        found[0] += 1
        return marker(match.group(0))

    text = _PEM_KEY.sub(whole, text)
    text = _URL_PASSWORD.sub(keep_head, text)
    text = _DSN_PASSWORD.sub(keep_head, text)
    text = _AUTH_HEADER.sub(keep_head, text)
    text = _JWT.sub(whole, text)
    text = _AWS_KEY_ID.sub(whole, text)
    if found[0]:
        counts["content"] = counts.get("content", 0) + found[0]
    return text


def _bump(counts, rule):
    counts[rule] = counts.get(rule, 0) + 1


def redact_arguments(args, counts):
    """A command or args list with credential flags' values replaced."""
    result = []
    redact_next = False
    for arg in args:
        if not isinstance(arg, str):
            result.append(arg)
            continue
        if redact_next:
            redact_next = False
            if not arg.startswith("-"):
                result.append(marker(arg))
                _bump(counts, "argument")
                continue
        match = re.match(r"^(-{1,2}[A-Za-z0-9][A-Za-z0-9._-]*|-D[A-Za-z0-9._-]+)(=)(.*)$", arg, re.S)
        if match and name_is_credential(match.group(1).lstrip("-").lstrip("D") if match.group(1).startswith("-D")
                                        else match.group(1)) and match.group(3):
            result.append(match.group(1) + "=" + marker(match.group(3)))
            _bump(counts, "argument")
            continue
        if re.match(r"^--?[A-Za-z][A-Za-z0-9._-]*$", arg) and name_is_credential(arg):
            redact_next = True
        result.append(redact_string(arg, counts))
    return result


def _redact_env(env, counts):
    for entry in env:
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str) or not entry["value"]:
            continue
        if name_is_credential(entry.get("name", "")):
            entry["value"] = marker(entry["value"])
            _bump(counts, "env-name")
        else:
            found = {}
            entry["value"] = redact_string(entry["value"], found)
            if found:
                counts["env-value"] = counts.get("env-value", 0) + found["content"]


def _redact_annotations(annotations, counts):
    for key in list(annotations):
        value = annotations[key]
        if key in KNOWN_ANNOTATIONS and isinstance(value, str):
            try:
                inner = json.loads(value)
            except ValueError:
                annotations[key] = marker(value)
                _bump(counts, "annotation")
                continue
            inner_counts = {}
            inner = _walk(inner, inner_counts)
            if inner_counts:
                annotations[key] = json.dumps(inner, sort_keys=True, separators=(",", ":"))
                counts["annotation"] = counts.get("annotation", 0) + sum(inner_counts.values())
        elif name_is_credential(key.rsplit("/", 1)[-1]) and isinstance(value, str) and value:
            annotations[key] = marker(value)
            _bump(counts, "annotation")
        else:
            annotations[key] = redact_string(value, counts)


def _walk(node, counts):
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            if key == "env" and isinstance(value, list):
                _redact_env(value, counts)
            elif key in ("command", "args") and isinstance(value, list):
                node[key] = redact_arguments(value, counts)
            elif key == "annotations" and isinstance(value, dict):
                _redact_annotations(value, counts)
            elif isinstance(value, (dict, list)):
                node[key] = _walk(value, counts)
            elif isinstance(value, str):
                node[key] = redact_string(value, counts)
        return node
    if isinstance(node, list):
        return [_walk(item, counts) if isinstance(item, (dict, list)) else redact_string(item, counts)
                for item in node]
    return node


def redact_document(document):
    """(a redacted deep copy, {rule: count}). The input is not changed."""
    counts = {}
    redacted = _walk(copy.deepcopy(document), counts)
    return redacted, dict((k, v) for k, v in counts.items() if v)
