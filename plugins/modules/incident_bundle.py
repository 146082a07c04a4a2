#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: incident_bundle
short_description: Open, close and verify an incident bundle (evidence directory with a sha256 manifest)
version_added: 1.0.0
description:
  - V(present) opens an incident directory for one pod under O(evidence_dir), named so that it sorts and says what
    it is (C(20261201T230738Z_shop_web-1)), mode 0700, with a C(manifest.json) whose header records the incident
    id, cluster server, context, who, reason, ticket, the pod's UID and node, every container's image and image
    digest (from the containerStatuses), the pod's state, its isolation record, and the collection version.
    The Events of the pod at that moment are written as the first artifact (C(events-at-open.json)).
    When an open bundle of the same pod (same UID) exists in O(evidence_dir), it is reused (not changed).
  - Every collecting module (M(triage.k8s.pod_logs), M(triage.k8s.pod_snapshot), M(triage.k8s.pod_exec), ...)
    takes the returned RV(path) as its O(triage.k8s.pod_logs#module:bundle) and adds each file to the manifest as
    it completes, so a run that dies half-way still leaves a valid partial bundle.
  - V(closed) verifies every listed file against its sha256 (and refuses to close a bundle that does not match),
    writes C(report.md) (pod state, timeline, artifacts, failures, how to verify) and C(SHA256SUMS), and packs a
    deterministic C(.tar.gz) next to the directory (sorted names, fixed mtimes, numeric owners 0, no gzip name or
    time) with a C(.sha256) file beside it. Closing again is a no-op while everything is intact.
  - V(closed) holds the bundle's lock throughout, and first deletes the temp files (C(<archive>.<pid>.tmp)) that
    a killed close of the same bundle left beside the archive. A close that fails (a full volume) deletes its own
    temp file; when it had written anything it returns C(changed=true) with RV(written), RV(bundle_state) and
    RV(rerun_finishes), and its message names the bundle, the step and what it left. Running V(closed) again once
    there is room finishes the job, writing a missing C(SHA256SUMS) and packing the missing archive.
  - V(verified) re-hashes a bundle directory or an archive someone received (without extracting it) and returns
    RV(intact) with the files that differ.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  state:
    description: What to do.
    type: str
    choices: [present, closed, verified]
    default: present
  name:
    description: The pod. Required with O(state=present).
    type: str
  namespace:
    description: Namespace of the pod. Required with O(state=present).
    type: str
  evidence_dir:
    description:
      - The directory bundles are created in (created 0700 when missing; its parent must exist).
      - Required with O(state=present). Nothing is ever written outside it.
    type: path
  path:
    description:
      - With O(state=closed), the bundle directory (as returned by O(state=present)).
      - With O(state=verified), a bundle directory or a C(.tar.gz) archive of one.
    type: path
  reason:
    description: Why the evidence is collected; goes into the header and the report.
    type: str
  ticket:
    description: Ticket or incident reference.
    type: str
  who:
    description: Who collects; default the impersonated user, else C(user@host) of the machine running the module, the same as pod_isolate's C(isolated_by).
    type: str
extends_documentation_fragment:
  - triage.k8s.k8s_auth
attributes:
  check_mode:
    support: full
    description:
      - V(present) reads the pod and returns the path it would create; nothing is created. Collectors accept that
        path in check mode. V(closed) verifies and says what it would write. No request changes anything.
  diff_mode:
    support: none
    description: Nothing in the cluster changes.
  action_group:
    support: full
    membership: [triage.k8s.pods]
    description: Use C(group/triage.k8s.pods) in C(module_defaults) to set the connection options.
notes:
  - V(closed) and V(verified) make no API request.
  - Files are 0600 and directories 0700 whatever the umask.
'''

EXAMPLES = r'''
- name: Open the incident bundle
  triage.k8s.incident_bundle:
    name: web-7d9c-abcde
    namespace: shop
    evidence_dir: /var/tmp/triage-evidence
    reason: 500s after the 14:02 deploy
    ticket: INC-4711
  register: incident

- name: Collect the logs into it
  triage.k8s.pod_logs:
    name: web-7d9c-abcde
    namespace: shop
    bundle: "{{ incident.path }}"

- name: Close it
  triage.k8s.incident_bundle:
    state: closed
    path: "{{ incident.path }}"
  register: closed

- name: Say where it is
  ansible.builtin.debug:
    msg: "{{ closed.archive }} sha256 {{ closed.archive_sha256 }}"

- name: Check an archive received from someone else
  triage.k8s.incident_bundle:
    state: verified
    path: /tmp/20261201T230738Z_shop_web-7d9c-abcde.tar.gz
  register: check
  failed_when: not check.intact
'''

RETURN = r'''
path:
  description: The bundle directory (with O(state=present) in check mode, the one that would be created).
  returned: always
  type: str
  sample: /var/tmp/triage-evidence/20261201T230738Z_shop_web-7d9c-abcde
reused:
  description: O(state=present) found an open bundle of the same pod and reused it.
  returned: state=present
  type: bool
incident:
  description: The bundle's header (id, opened_at, cluster, context, who, reason, ticket, pod, containers with
    image and imageID, pod_state, record, collection_version).
  returned: state=present or state=verified
  type: dict
archive:
  description: The C(.tar.gz) next to the bundle directory; after a failed close, the archive it left (null
    when none).
  returned: state=closed
  type: str
written:
  description: After a failed close, the files it wrote before it failed (C(report.md), C(manifest.json),
    C(SHA256SUMS), ...), absolute paths.
  returned: when state=closed failed
  type: list
  elements: str
rerun_finishes:
  description: After a failed close, whether running O(state=closed) again (once there is room) finishes it.
  returned: when state=closed failed
  type: bool
temp_files_left:
  description: After a failed close, the archive temp files still beside it (none unless deleting failed).
  returned: when state=closed failed
  type: list
  elements: str
removed_temp_files:
  description: The temp files of a killed earlier close of this bundle that this close deleted.
  returned: when state=closed deleted any, or failed
  type: list
  elements: str
archive_sha256:
  description: sha256 of the archive (also in the C(.sha256) file beside it). Null in check mode.
  returned: state=closed, state=verified of an archive
  type: str
report:
  description: Path of C(report.md) in the bundle.
  returned: state=closed
  type: str
intact:
  description: Every listed file matches its size and sha256, nothing unlisted is present, SHA256SUMS and the
    archive's C(.sha256) agree.
  returned: state=closed or state=verified
  type: bool
problems:
  description: The files that differ, each with C(path), C(problem) (missing, sha256 differs, not listed in the
    manifest, ...) and the expected and found values.
  returned: state=closed or state=verified
  type: list
  elements: dict
bundle_state:
  description: V(open) or V(closed), as the manifest says (Ansible's own C(state), C(mode), C(owner) keys
    describe the file at RV(path)). After a failed close, the state the manifest was left in.
  returned: state=verified, or when state=closed failed
  type: str
failures:
  description: The collector failures the manifest records.
  returned: state=verified
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.glue.options import default_actor
from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import auth_argument_spec, resolve_auth
from ansible_collections.triage.k8s.plugins.module_utils.evidence import incident
from ansible_collections.triage.k8s.plugins.module_utils.evidence.cluster_reads import context_name
from ansible_collections.triage.k8s.plugins.module_utils.evidence.module_support import KNOWN_ERRORS, describe


# The errors this module reports as one sentence (a tuple named here: older pylint misreads a sum in except).
BUNDLE_ERRORS = (incident.BundleError,) + KNOWN_ERRORS


def main():
    spec = auth_argument_spec()
    spec.update(
        state=dict(type="str", default="present", choices=["present", "closed", "verified"]),
        name=dict(type="str"),
        namespace=dict(type="str"),
        evidence_dir=dict(type="path"),
        path=dict(type="path"),
        reason=dict(type="str"),
        ticket=dict(type="str"),
        who=dict(type="str"),
    )
    module = AnsibleModule(
        argument_spec=spec,
        required_if=[("state", "present", ("name", "namespace", "evidence_dir")),
                     ("state", "closed", ("path",)), ("state", "verified", ("path",))],
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["state"] == "present":
            api_client = get_api_client(module)
            result = incident.open_bundle(api_client, params, context_name(resolve_auth(params)),
                                          params["who"] or default_actor(params), module.check_mode)
        elif params["state"] == "closed":
            result = incident.close_bundle(params["path"], module.check_mode)
        else:
            result = incident.verify(params["path"])
    except incident.CloseFailed as exc:
        # a close that wrote before it failed says so (changed) and what it left
        module.fail_json(msg=str(exc), **exc.result)
    except BUNDLE_ERRORS as exc:
        module.fail_json(msg=describe(exc))
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
