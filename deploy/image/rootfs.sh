#!/usr/bin/env bash
# The image's root file system, from Debian's packages alone: bookworm's minimal base (no shell
# tools beyond the essential set, no documentation, no locales, no apt lists) plus tini, as a tar.
# Usage: deploy/image/rootfs.sh OUT.tar   (needs mmdebstrap; runs as root or under unshare)
set -euo pipefail
out="$1"
mmdebstrap --variant=minbase --include=tini \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
  --quiet bookworm "$out"
