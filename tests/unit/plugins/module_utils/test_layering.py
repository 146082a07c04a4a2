# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The layers of plugins/module_utils import one way, read from the source itself.

    model (pure facts)  <  kube (the API, knows nothing of triage)  <  verb packages  <  glue  <  plugins/modules

Every subpackage of module_utils that is not model, kube or glue is a verb package (isolate, restore, hijack,
preflight, evidence and whatever comes next): it may import model, kube and itself, never another verb.
model imports nothing else of the collection, kube nothing above model and not the triage record, and the glue
no verb. Every file of module_utils lives in a subpackage.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os

import pytest

PREFIX = "ansible_collections.triage.k8s.plugins.module_utils"
ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "module_utils")
FIXED_LAYERS = ("model", "kube", "glue")
# kube talks to the API server and knows nothing of triage: the record and the verbs' outcomes are not its business.
KUBE_MAY_NOT_IMPORT = ("model.record", "model.outcomes")


def imported_modules(source):
    """The module_utils modules a file imports, as paths below module_utils ('kube.errors', 'model')."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                found.append("<relative import>")
                continue
            names = [node.module] + ["%s.%s" % (node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name and name.startswith(PREFIX + "."):
                found.append(name[len(PREFIX) + 1:])
    return found


def layer_problems(layer, source):
    """Why a file of ``layer`` (model, kube, glue or a verb package name) breaks the layering; [] when it does not."""
    problems = []
    for target in imported_modules(source):
        if target == "<relative import>":
            problems.append("uses a relative import")
            continue
        top = target.split(".")[0]
        if top == layer:
            continue
        if layer == "model":
            problems.append("model imports %s (model is pure and imports nothing above it)" % target)
        elif layer == "kube":
            if top != "model":
                problems.append("kube imports %s (kube may import model only)" % target)
            elif any(target == banned or target.startswith(banned + ".") for banned in KUBE_MAY_NOT_IMPORT):
                problems.append("kube imports %s (kube knows nothing of triage)" % target)
        elif layer == "glue":
            if top not in ("model", "kube"):
                problems.append("glue imports %s (glue may import model and kube, no verb)" % target)
        elif top not in ("model", "kube"):
            problems.append("verb %s imports %s (a verb may import model, kube and itself only)" % (layer, target))
    return problems


def module_utils_files():
    for directory, _dirs, files in os.walk(ROOT):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                yield os.path.relpath(path, ROOT).replace(os.sep, "/"), path


def test_module_utils_has_the_layers():
    packages = set(rel.split("/")[0] for rel, _path in module_utils_files() if "/" in rel)
    assert set(FIXED_LAYERS) <= packages
    assert set(["isolate", "restore", "hijack"]) <= packages


@pytest.mark.parametrize("rel,path", list(module_utils_files()))
def test_every_file_imports_one_way(rel, path):
    assert "/" in rel, "%s lies directly in module_utils; put it in model, kube, glue or a verb package" % rel
    with open(path) as handle:
        source = handle.read()
    assert layer_problems(rel.split("/")[0], source) == []


def test_an_empty_init_keeps_its_package():
    # Two branches may add the same package; its __init__ stays empty so both add the identical file.
    for rel, path in module_utils_files():
        if rel.endswith("/__init__.py"):
            assert os.path.getsize(path) == 0, rel


# The checker itself must be able to fail, or the tests above prove nothing.

def _imports(*targets):
    return "\n".join("from %s.%s import x" % (PREFIX, target) for target in targets)


@pytest.mark.parametrize("layer,target", [
    ("model", "kube.transport"),
    ("model", "isolate.plan"),
    ("kube", "isolate.run"),
    ("kube", "model.record"),
    ("kube", "glue.module"),
    ("isolate", "restore.plan"),
    ("hijack", "isolate.plan"),
    ("evidence", "hijack.verdicts"),
    ("future_verb", "evidence.bundle"),
    ("isolate", "glue.module"),
    ("glue", "isolate.run"),
])
def test_the_checker_refuses_an_upward_or_sideways_import(layer, target):
    assert layer_problems(layer, _imports(target))


@pytest.mark.parametrize("layer,targets", [
    ("model", ["model.pods"]),
    ("kube", ["kube.errors", "model.durations"]),
    ("isolate", ["isolate.plan", "kube.writes", "model.record"]),
    ("evidence", ["kube.transport", "model.pods"]),
    ("glue", ["kube.connection", "model.outcomes"]),
])
def test_the_checker_allows_the_downward_imports(layer, targets):
    assert layer_problems(layer, _imports(*targets)) == []


def test_the_checker_sees_plain_and_relative_imports():
    assert layer_problems("model", "import %s.kube.transport" % PREFIX)
    assert layer_problems("model", "from .kube import transport")
