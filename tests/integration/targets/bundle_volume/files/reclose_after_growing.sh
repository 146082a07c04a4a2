#!/usr/bin/env bash
# reclose_after_growing.sh VOLUME SIZE OUT COMMAND...: run inside on_volume.sh's mount namespace. COMMAND is a run
#   whose close fails on the full VOLUME. Then OUT.after-failure.txt lists what it left on the volume (paths relative
#   to VOLUME), the volume's tmpfs grows to SIZE (room freed, as when a PVC is expanded), and every bundle on it is
#   closed twice more and its archive verified; the one-line results go to OUT.reclose.txt. Exits with COMMAND's code.
set -uo pipefail
volume="$1" size="$2" out="$3"
shift 3
rc=0
"$@" || rc=$?
find "${volume}" -mindepth 1 -printf '%P\n' | sort > "${out}.after-failure.txt"
mount -o "remount,size=${size}" "${volume}"
: > "${out}.reclose.txt"
for bundle in "${volume}"/evidence/*/; do
    bundle="${bundle%/}"
    for step in "state=closed path=${bundle}" "state=closed path=${bundle}" "state=verified path=${bundle}.tar.gz"; do
        ansible localhost -o -m triage.k8s.incident_bundle -a "${step}" >> "${out}.reclose.txt" 2>/dev/null \
            || echo "rc=$? for ${step}" >> "${out}.reclose.txt"
    done
done
exit "${rc}"
