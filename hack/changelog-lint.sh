#!/usr/bin/env bash
# antsibull-changelog lint: the fragments and changelogs/config.yaml are well-formed.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
cd "${REPO_ROOT}"
antsibull-changelog lint -v
say "changelog-lint: $(find changelogs/fragments -name '*.y*ml' | wc -l) fragment(s) checked"
