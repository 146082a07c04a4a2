# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The AAP patterns in extensions/patterns/ against the pattern format (ansible/pattern-service, pattern
specification 2.0.0 and pattern-schema-2.0.0.json, rules restated here), and against the playbooks they point at:
every survey variable is an option of the playbook's play argument spec and every required option is asked.
ansible-lint does not check a pattern.json against its schema (measured), so this test does."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PATTERNS = os.path.join(ROOT, "extensions", "patterns")
NAME = re.compile(r"^[a-z0-9_]+$")
SURVEY_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")
ARGSPEC_TYPE = {"text": "str", "textarea": "str", "password": "str", "integer": "int", "float": "float",
                "multiplechoice": "str", "multiselect": "list"}


def pattern_dirs():
    return sorted(d for d in os.listdir(PATTERNS) if os.path.isdir(os.path.join(PATTERNS, d)))


def problems_of(directory):
    """Every way the pattern in directory breaks the format; [] when it is valid."""
    found = []
    where = os.path.join(PATTERNS, directory)
    with open(os.path.join(where, "meta", "pattern.json")) as handle:
        pattern = json.load(handle)
    for key in ("schema_version", "name", "title", "description", "short_description", "aap_resources"):
        if key not in pattern:
            found.append("missing %s" % key)
    name = pattern.get("name", "")
    if not (NAME.match(name) and len(name) <= 64 and name == directory):
        found.append("name %r must match the directory %r, [a-z0-9_], at most 64 characters" % (name, directory))
    if len(pattern.get("title", "")) > 64:
        found.append("title longer than 64 characters")
    short = pattern.get("short_description", "")
    if not isinstance(short, str) or short.endswith("."):
        found.append("short_description must be a string without a final period")
    tags = pattern.get("tags", [])
    if len(tags) != len(set(tags)):
        found.append("tags are not unique")
    if not os.path.isfile(os.path.join(where, "README.md")):
        found.append("README.md is missing")
    resources = pattern.get("aap_resources", {})
    project = resources.get("controller_project", {})
    if not project.get("name") or "description" not in project or len(project.get("name", "")) > 200:
        found.append("controller_project needs a name (at most 200 characters) and a description")
    ee = resources.get("controller_execution_environment")
    if ee is not None:
        for key in ("name", "description", "image_name"):
            if key not in ee:
                found.append("controller_execution_environment lacks %s" % key)
        if ee.get("pull", "missing") not in ("always", "missing", "never"):
            found.append("controller_execution_environment.pull %r" % ee.get("pull"))
    labels = resources.get("controller_labels", [])
    templates = resources.get("controller_job_templates", [])
    if not templates:
        found.append("no controller_job_templates")
    if len(templates) > 1 and len([t for t in templates if t.get("primary")]) != 1:
        found.append("several job templates need exactly one primary")
    for template in templates:
        label = template.get("name", "?")
        for key in ("name", "description", "playbook"):
            if key not in template:
                found.append("%s: missing %s" % (label, key))
        if len(template.get("name", "")) > 200:
            found.append("%s: name longer than 200 characters" % label)
        if ee is not None and template.get("execution_environment", ee["name"]) != ee["name"]:
            found.append("%s: execution_environment is not the pattern's" % label)
        for used in template.get("labels", []):
            if used not in labels:
                found.append("%s: label %s is not in controller_labels" % (label, used))
        for key in ("primary", "ask_credential_on_launch", "ask_inventory_on_launch", "ask_verbosity_on_launch"):
            if key in template and not isinstance(template[key], bool):
                found.append("%s: %s must be a boolean" % (label, key))
        prefix = "extensions/patterns/%s/playbooks/" % directory
        playbook = template.get("playbook", "")
        if not playbook.startswith(prefix) or not os.path.isfile(os.path.join(ROOT, playbook)):
            found.append("%s: playbook %s is not a file under %s" % (label, playbook, prefix))
            continue
        found.extend("%s: %s" % (label, p) for p in survey_problems(template, os.path.join(ROOT, playbook)))
    return found


def survey_problems(template, playbook):
    found = []
    survey = template.get("survey")
    if survey is None:
        return found
    for key in ("name", "description", "spec"):
        if key not in survey:
            found.append("survey lacks %s" % key)
    meta = playbook[:-len(".yml")] + ".meta.yml"
    if not os.path.isfile(meta):
        return found + ["no play argument spec %s" % os.path.basename(meta)]
    with open(meta) as handle:
        argspec = yaml.safe_load(handle)
    for key in ("short_description", "description", "argument_specs"):
        if key not in argspec:
            found.append("%s lacks %s" % (os.path.basename(meta), key))
    main = argspec.get("argument_specs", {}).get("main", {})
    for key in ("short_description", "options", "examples"):
        if key not in main:
            found.append("%s: argument_specs.main lacks %s" % (os.path.basename(meta), key))
    options = main.get("options", {})
    asked = set()
    for question in survey.get("spec", []):
        variable = question.get("variable", "")
        for key in ("type", "question_name", "question_description", "variable", "required"):
            if key not in question:
                found.append("question %s lacks %s" % (variable, key))
        if question.get("type") not in SURVEY_TYPES:
            found.append("question %s has type %r" % (variable, question.get("type")))
        if not (NAME.match(variable) and len(variable) <= 64):
            found.append("question variable %r is not [a-z0-9_]{1,64}" % variable)
        if not isinstance(question.get("required"), bool):
            found.append("question %s: required must be a boolean" % variable)
        if question.get("type") == "multiplechoice" and not question.get("choices"):
            found.append("question %s is multiplechoice without choices" % variable)
        if "default" in question and not isinstance(question["default"], str):
            found.append("question %s: default must be a string" % variable)
        if variable == "namespace":
            found.append("question asks namespace (a reserved name that warns in every job); ask ns")
        option = options.get(variable)
        if option is None:
            found.append("question %s is not an option of %s" % (variable, os.path.basename(meta)))
            continue
        asked.add(variable)
        if option.get("type", "str") != ARGSPEC_TYPE.get(question.get("type")):
            found.append("question %s is %s but the argument spec says %s" % (
                variable, question.get("type"), option.get("type")))
        if sorted(option.get("choices") or []) != sorted(question.get("choices") or []):
            found.append("question %s: choices differ from the argument spec" % variable)
        if bool(option.get("required")) != question.get("required"):
            found.append("question %s: required differs from the argument spec" % variable)
    for variable in sorted(set(options) - asked):
        found.append("option %s of %s is never asked" % (variable, os.path.basename(meta)))
    return found


@pytest.mark.parametrize("directory", pattern_dirs())
def test_pattern_is_valid(directory):
    assert problems_of(directory) == []


def test_there_is_a_pattern_with_the_runbook_as_primary_and_a_check_mode_review():
    with open(os.path.join(PATTERNS, "triage_k8s", "meta", "pattern.json")) as handle:
        templates = json.load(handle)["aap_resources"]["controller_job_templates"]
    primary = [t for t in templates if t.get("primary")]
    assert [t["playbook"] for t in primary] == ["extensions/patterns/triage_k8s/playbooks/runbook.yml"]
    review = [t for t in templates if t.get("job_type") == "check"]
    assert len(review) == 1 and review[0]["diff_mode"] is True
    with open(os.path.join(ROOT, review[0]["playbook"])) as handle:
        plays = yaml.safe_load(handle)
    assert "ansible_check_mode" in json.dumps(plays[0]["tasks"])
    assert plays[-1]["ansible.builtin.import_playbook"] == "triage.k8s.runbook"
    covered = set(t["playbook"].rsplit("/", 1)[1] for t in templates)
    assert covered >= set(["isolate.yml", "diagnose.yml", "runbook.yml", "restore.yml", "cleanup.yml"])


def test_a_broken_pattern_is_caught(tmp_path):
    """The checks above can fail: a copy with a bad variable, a missing choice list and a survey variable the
    playbook does not take is reported on each count."""
    import shutil
    copy = tmp_path / "patterns"
    shutil.copytree(os.path.join(PATTERNS, "triage_k8s"), str(copy / "triage_k8s"))
    path = copy / "triage_k8s" / "meta" / "pattern.json"
    pattern = json.loads(path.read_text())
    spec = pattern["aap_resources"]["controller_job_templates"][0]["survey"]["spec"]
    spec[0]["variable"] = "Pod"
    spec.append({"type": "multiplechoice", "question_name": "x", "question_description": "x", "variable": "x",
                 "required": False})
    path.write_text(json.dumps(pattern))
    globals()["PATTERNS"], saved = str(copy), PATTERNS
    try:
        found = problems_of("triage_k8s")
    finally:
        globals()["PATTERNS"] = saved
    text = "\n".join(found)
    assert "variable 'Pod' is not [a-z0-9_]" in text
    assert "question x is multiplechoice without choices" in text
    assert "question x is not an option of runbook.meta.yml" in text
    assert "option pod of runbook.meta.yml is never asked" in text
