# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The connection options shared by every triage.k8s module. The names, aliases and
# K8S_AUTH_* variables follow kubernetes.core so its users can reuse their module_defaults.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig content as a dictionary.
      - If not set, the value of the environment variable E(K8S_AUTH_KUBECONFIG) is used.
      - When neither this, O(context) nor O(host) is given, the module first tries the in-cluster service
        account and then the default kubeconfig (E(KUBECONFIG) or C(~/.kube/config)), as C(kubectl) does.
    type: raw
  context:
    description:
      - The name of a context in the kubeconfig to use instead of its current context.
      - If not set, the value of the environment variable E(K8S_AUTH_CONTEXT) is used.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example C(https://k8s.example.com:6443).
      - Overrides the server of the kubeconfig when both are given.
      - If not set, the value of the environment variable E(K8S_AUTH_HOST) is used.
    type: str
  api_key:
    description:
      - A bearer token to authenticate with.
      - Overrides the credentials of the kubeconfig when both are given.
      - If not set, the value of the environment variable E(K8S_AUTH_API_KEY) is used.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - If not set, the value of the environment variable E(K8S_AUTH_VALIDATE_CERTS) or E(K8S_AUTH_VERIFY_SSL)
        is used (V(false), V(no) and V(0) mean false).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA certificate file used to verify the API server.
      - If not set, the value of the environment variable E(K8S_AUTH_CA_CERT) or E(K8S_AUTH_SSL_CA_CERT) is used.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate file for TLS client authentication.
      - If not set, the value of the environment variable E(K8S_AUTH_CLIENT_CERT) or E(K8S_AUTH_CERT_FILE) is used.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the private key file of O(client_cert).
      - If not set, the value of the environment variable E(K8S_AUTH_CLIENT_KEY) or E(K8S_AUTH_KEY_FILE) is used.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server through.
      - The usual E(HTTP_PROXY) and E(HTTPS_PROXY) variables are B(not) used.
      - If not set, the value of the environment variable E(K8S_AUTH_PROXY) is used.
    type: str
  no_proxy:
    description:
      - Comma-separated hosts and domains that must not go through O(proxy).
      - If not set, the value of the environment variable E(K8S_AUTH_NO_PROXY) is used.
    type: str
  impersonate_user:
    description:
      - Act as this user (C(Impersonate-User) header). Your own identity needs the RBAC C(impersonate) verb.
      - If not set, the value of the environment variable E(K8S_AUTH_IMPERSONATE_USER) is used.
    type: str
  impersonate_groups:
    description:
      - Act as a member of these groups (one C(Impersonate-Group) header each).
      - If not set, the value of the environment variable E(K8S_AUTH_IMPERSONATE_GROUPS) is used, as a
        comma-separated list.
    type: list
    elements: str
notes:
  - The connection options can be set once for all modules of the collection with
    C(module_defaults) and the action group C(group/triage.k8s.pods).
requirements:
  - kubernetes >= 24.2.0 (but not 36.0.0 or 36.0.1, which drop the bearer token)
'''
