#!/bin/sh
# A lying sha256sum: any path (or working directory) with "liar" in it gets a hash of zeros; everything else the real one.
case "$PWD/$*" in
  *liar*) for f in "$@"; do printf '%064d  %s\n' 0 "$f"; done ;;
  *) exec /usr/bin/sha256sum "$@" ;;
esac
