# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Redaction: each pattern is caught and replaced by a marker that gives only the length; ordinary values pass."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence.redaction import (
    marker,
    name_is_credential,
    redact_arguments,
    redact_document,
    redact_string,
)


def container(**fields):
    return {"spec": {"containers": [dict(name="app", image="shop/web:1", **fields)]}}


@pytest.mark.parametrize("name", ["DB_PASSWORD", "password", "API_TOKEN", "aws_secret_access_key", "SECRET",
                                  "SIGNING_KEY", "GITHUB_CREDENTIALS", "DATABASE_DSN", "app.auth", "PASSWD",
                                  "client-secret", "STRIPE_APIKEY"])
def test_env_names_that_say_credential(name):
    doc, counts = redact_document(container(env=[{"name": name, "value": "s3cr3t-value"}]))
    assert doc["spec"]["containers"][0]["env"][0]["value"] == "<redacted: 12 chars>"
    assert counts == {"env-name": 1}


@pytest.mark.parametrize("name,value", [
    ("LOG_LEVEL", "debug"), ("PORT", "8080"), ("JAVA_OPTS", "-Xmx512m -XX:+UseG1GC"), ("MONKEY", "banana"),
    ("KEYBOARD_LAYOUT", "us"), ("TLS_KEY_FILE", "/etc/tls/tls.key"), ("TOKEN_TTL", "3600"),
    ("HOME_URL", "https://shop.example/home"), ("SECRET_NAME", "db-credentials"), ("AUTH_HEADER_NAME", "X-Auth"),
    ("GREETING", "passing the key test is not a secret"),
])
def test_no_false_positive_on_ordinary_values(name, value):
    original = container(env=[{"name": name, "value": value}], args=["--port", "8080", "--log-level=info",
                                                                     "--key-file", "/etc/k", "--verbose"])
    doc, counts = redact_document(original)
    assert doc == original and counts == {}


def test_url_and_dsn_keep_everything_but_the_password():
    doc, counts = redact_document(container(env=[
        {"name": "DATABASE_URL", "value": "postgres://app:pw12345@db:5432/shop"},
        {"name": "MSSQL", "value": "Server=db;Database=shop;User Id=app;Password=hunter22;"},
    ]))
    env = doc["spec"]["containers"][0]["env"]
    assert env[0]["value"] == "postgres://app:<redacted: 7 chars>@db:5432/shop"
    assert env[1]["value"] == "Server=db;Database=shop;User Id=app;Password=<redacted: 8 chars>;"
    assert counts == {"env-value": 2}


def test_bearer_header_jwt_pem_and_aws_key_anywhere():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    assert redact_string("Authorization: Bearer abcdefghijklmnop", {}) == "Authorization: Bearer <redacted: 16 chars>"
    assert redact_string("token=" + jwt, {}) == "token=" + marker(jwt)
    assert redact_string(pem, {}) == marker(pem)
    assert redact_string("id AKIAIOSFODNN7EXAMPLE used", {}) == "id <redacted: 20 chars> used"
    counts = {}
    doc, counts = redact_document({"message": "curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='"})
    assert "dXNlcjpwYXNzd29yZA" not in json.dumps(doc) and counts == {"content": 1}


def test_command_line_flags_that_carry_secrets():
    # seed 002 passes its secret as a separate argument: --mysecret 4321
    counts = {}
    args = redact_arguments(["app", "--password=hunter2", "--mysecret", "4321", "--token", "abc", "-Ddb.password=x1",
                             "--port", "8080", "--secret-file", "/run/s", "--verbose"], counts)
    assert args == ["app", "--password=<redacted: 7 chars>", "--mysecret", "<redacted: 4 chars>", "--token",
                    "<redacted: 3 chars>", "-Ddb.password=<redacted: 2 chars>", "--port", "8080", "--secret-file",
                    "/run/s", "--verbose"]
    assert counts == {"argument": 4}


def test_a_flag_followed_by_another_flag_redacts_nothing():
    assert redact_arguments(["--token", "--verbose"], {}) == ["--token", "--verbose"]


def test_last_applied_configuration_is_redacted_inside():
    applied = json.dumps({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "API_TOKEN", "value": "tok-123456"}], "args": ["--password=pw"]}]}}}})
    doc, counts = redact_document({"metadata": {"annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": applied, "team": "shop"}}})
    inner = json.loads(doc["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    container_spec = inner["spec"]["template"]["spec"]["containers"][0]
    assert container_spec["env"][0]["value"] == "<redacted: 10 chars>"
    assert container_spec["args"] == ["--password=<redacted: 2 chars>"]
    assert doc["metadata"]["annotations"]["team"] == "shop"
    assert counts == {"annotation": 2}


def test_value_from_references_are_kept():
    ref = {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
    doc, counts = redact_document(container(env=[ref]))
    assert doc["spec"]["containers"][0]["env"][0] == ref and counts == {}


def test_the_input_is_not_changed():
    original = container(env=[{"name": "DB_PASSWORD", "value": "x" * 9}])
    snapshot = json.dumps(original, sort_keys=True)
    redact_document(original)
    assert json.dumps(original, sort_keys=True) == snapshot


@pytest.mark.parametrize("name,expected", [("password", True), ("tls-key-file", False), ("id", False),
                                           ("PRIVATE_KEY", True), ("keys", True), ("monkey", False)])
def test_name_is_credential(name, expected):
    assert name_is_credential(name) is expected
