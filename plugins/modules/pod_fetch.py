#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_fetch
short_description: Copy files and directories out of a container, streamed, capped, verified and traversal-safe
version_added: 1.0.0
description:
  - Copies each of O(paths) out of a container into an incident bundle (under C(files/<container>/<path>)) or a
    plain O(dest) directory (under C(<path>)), over the API server's exec (no kubectl needed). Memory stays flat
    whatever the size; the bytes are streamed to disk in chunks and hashed while written.
  - With C(tar) in the container, C(tar cf - -C <dir> ./<name>) is run and its stream unpacked locally by an
    extractor that trusts nothing it receives. Without C(tar), a regular file is copied with C(cat).
  - Never trusts the container. Member names that are absolute, contain C(..) or are not below the requested
    path are refused. Symbolic and hard links are recorded (name and target) and never created or followed.
    Devices, FIFOs and sockets are skipped and recorded. A member over O(max_bytes), or an archive that ends
    early, is an error for that file. Nothing is ever written outside the bundle or O(dest), and no link is
    ever created there.
  - Each file is compared with a sha256 computed in the container (C(sha256sum)) when it has one (C(verified) in RV(files));
    a mismatch is an error and the copy is not kept. With C(cat) the size reported by the container is compared too.
  - A stream cut during a C(cat) copy is resumed from the last byte written (C(tail -c +N), else from the start)
    up to O(retries) times; RV(resumes) says how many. The hash comparison is what catches a resumed copy of a
    file that changed meanwhile. A cut C(tar) stream is an error for that path (the files before it are kept).
  - Every file copied is listed in the bundle's manifest (remote path, remote sha256, method, resumes), and
    C(fetch/<n>.json) lists everything the run saw, skipped members and links included.
  - When the container has neither C(tar) nor C(cat) (a distroless image) and O(debug_image) is given, a debug
    container of that image targeting O(container) is added (see O(debug_name)). The same transfers then run in
    it, on the target's files at C(/proc/<pid>/root/<path>), where C(<pid>) is the target's process in the
    shared PID namespace. Every containment rule holds, since the bytes are as untrusted as before. A path with
    a symbolic link among its directories is refused, because C(/proc/<pid>/root) would resolve that link in
    the debug container's own filesystem. The manifest names the target container, the path in it, and the
    debug container and its image.
  - A second run that finds the same content already in place reports C(changed=false). Different content
    under the same name is an error, and the earlier copy is never replaced.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  container:
    description: The container. Default the C(kubectl.kubernetes.io/default-container) annotation's, else the
      first container, as kubectl picks.
    type: str
  paths:
    description: Absolute paths of files or directories in the container.
    type: list
    elements: str
    required: true
  method:
    description:
      - V(auto) uses C(tar) when the container has it, else C(cat) for regular files.
      - V(tar) and V(file) force one transfer (V(file) copies regular files only, and can resume).
    type: str
    choices: [auto, tar, file]
    default: auto
  max_bytes:
    description: The largest file accepted. Checked against the size the container reports before the transfer
      where it can, and enforced while streaming in any case. A refused tar member's bytes are still read (to
      reach the next member) and count towards O(max_total_bytes).
    type: int
    default: 4294967296
  max_total_bytes:
    description: The bytes read from the container for all O(paths) together; the transfer stops there.
    type: int
    default: 8589934592
  timeout:
    description: Seconds one transfer (one exec) may run; it is then stopped in the container.
    type: int
    default: 900
  retries:
    description: Times a cut C(cat) stream is resumed before the file is given up.
    type: int
    default: 3
  debug_image:
    description:
      - The image of a debug container for a container that has neither C(tar) nor C(cat). It needs
        C(/bin/sh) and C(tar) or C(cat), and C(sha256sum) for the hash comparison.
      - Without it, such a container gets a clear error.
    type: str
extends_documentation_fragment:
  - triage.k8s.k8s_auth
  - triage.k8s.evidence
  - triage.k8s.debug_container
attributes:
  check_mode:
    support: full
    description: Sends no exec (an exec is a write to C(pods/exec)) and writes nothing; returns RV(would_copy),
      the paths it would copy. Their sizes are not known without an exec, so C(size) in RV(would_copy) is null.
      With O(debug_image), RV(debug_container) says which debug container would be added or used (no patch).
  diff_mode:
    support: none
    description: Nothing in the cluster changes; files are only read from the container.
  action_group:
    support: full
    membership: [triage.k8s.pods]
    description: Use C(group/triage.k8s.pods) in C(module_defaults) to set the connection options.
notes:
  - Needs C(get) on C(pods) and C(create) on C(pods/exec) (the shipped Role grants them).
  - kubectl cp needed five CVEs to get here (CVE-2018-1002100, CVE-2019-1002101, CVE-2019-11246,
    CVE-2019-11249, CVE-2019-11251); see docs/pod_fetch.md for what is checked and how.
'''

EXAMPLES = r'''
- name: The application's logs and a finished heap dump into the bundle
  triage.k8s.pod_fetch:
    name: web-7d9c-abcde
    namespace: shop
    container: app
    paths:
      - /var/log/app
      - /tmp/heap.hprof.gz
    bundle: "{{ incident.path }}"
  register: fetched

- name: One file into a plain directory, at most 100 MiB
  triage.k8s.pod_fetch:
    name: web-7d9c-abcde
    namespace: shop
    paths: [/etc/app/config.yaml]
    dest: /srv/evidence/web-7d9c-abcde
    max_bytes: 104857600
'''

RETURN = r'''
files:
  description: The files copied (path relative to the bundle or dest, remote_path, size, sha256, remote_sha256,
    verified, method, changed).
  returned: always
  type: list
  elements: dict
skipped_members:
  description: Archive members not written (name, type, size, target for links, status, reason, remote_path),
    links, devices, FIFOs, refused names.
  returned: always
  type: list
  elements: dict
failures:
  description: Paths or files that could not be copied (module, what, error, path), also in the manifest.
  returned: always
  type: list
  elements: dict
resumes:
  description: How many times a cut stream was resumed.
  returned: when not in check mode
  type: int
bytes:
  description: Bytes of the files newly written.
  returned: when not in check mode
  type: int
seconds:
  description: Duration of the whole copy.
  returned: when not in check mode
  type: float
bytes_per_second:
  description: RV(bytes) over RV(seconds).
  returned: when not in check mode
  type: int
listing:
  description: The bundle path of C(fetch/<n>.json).
  returned: when something was copied, skipped or failed into a bundle
  type: str
container:
  description: The container (name, kind, image, imageID, containerID, restartCount).
  returned: always
  type: dict
debug_container:
  description: The debug container used because the container had neither tar nor cat (name, image,
    target_container, action, added, state, target_pid, remains); in check mode the one that would be used,
    with body.
  returned: when O(debug_image) was given and a debug container was (or, in check mode, would be) used
  type: dict
would_copy:
  description: In check mode, the paths that would be copied (size null).
  returned: in check mode
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import read_pod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import exec_collect, fetch
from ansible_collections.triage.k8s.plugins.module_utils.evidence import module_support


# The errors this module reports as one sentence (a tuple named here: older pylint misreads a sum in except).
EXEC_ERRORS = (exec_collect.ExecError,) + module_support.KNOWN_ERRORS
FETCH_ERRORS = (exec_collect.ExecError, fetch.FetchError) + module_support.KNOWN_ERRORS


def main():
    module = AnsibleModule(
        argument_spec=module_support.collector_argument_spec(
            container=dict(type="str"),
            paths=dict(type="list", elements="str", required=True),
            method=dict(type="str", default="auto", choices=["auto", "tar", "file"]),
            max_bytes=dict(type="int", default=4 * 1024 ** 3),
            max_total_bytes=dict(type="int", default=8 * 1024 ** 3),
            timeout=dict(type="int", default=900),
            retries=dict(type="int", default=3),
            debug_image=dict(type="str"),
            **module_support.DEBUG_OPTIONS
        ),
        mutually_exclusive=module_support.COLLECTOR_MUTUALLY_EXCLUSIVE,
        required_one_of=module_support.COLLECTOR_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    params = module.params
    for option in ("max_bytes", "max_total_bytes", "timeout", "debug_timeout"):
        if params[option] < 1:
            module.fail_json(msg="%s must be at least 1, got %d" % (option, params[option]))
    if params["retries"] < 0:
        module.fail_json(msg="retries must not be negative, got %d" % params["retries"])
    try:
        paths = fetch.check_paths(params["paths"])
    except fetch.FetchError as exc:
        module.fail_json(msg=str(exc))
    api_client = get_api_client(module)
    try:
        pod = read_pod(api_client, params["namespace"], params["name"])
        container = exec_collect.pick_container(pod, params["container"])
    except EXEC_ERRORS as exc:
        module.fail_json(msg=module_support.describe(exc))
    target = module_support.open_target(module)
    try:
        result = fetch.fetch(api_client, target, pod, container, paths, params, check_mode=module.check_mode)
    except FETCH_ERRORS as exc:
        module.fail_json(msg=module_support.describe(exc), changed=bool(getattr(exc, "changed", False)))
    finally:
        if target is not None and not target.is_bundle:
            target.close()
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module_support.finish(module, result, result["failures"], "paths")


if __name__ == "__main__":
    main()
