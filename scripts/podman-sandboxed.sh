#!/usr/bin/env bash
# Run podman/buildah/skopeo with the project's sandboxed settings (scripts/lib/podman-env.sh) and the
# image store in DIR, e.g. the one scripts/build-image.sh --podman-dir DIR built into:
#   scripts/podman-sandboxed.sh /tmp/model-sync-podman podman run --rm IMAGE --help
# --storage-driver overlay runs images the way CRI-O and Docker mount them (layer limit included);
# the default, vfs, is the one image builds use. One DIR per driver.
#   scripts/podman-sandboxed.sh --storage-driver overlay /tmp/ms-overlay podman run --rm IMAGE ls /models
set -euo pipefail
driver=vfs
if [ "${1:-}" = --storage-driver ]; then
  driver=${2:-}
  shift 2 || true
fi
if [ $# -lt 2 ]; then
  echo "usage: $0 [--storage-driver vfs|overlay] DIR COMMAND [ARG...]" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/podman-env.sh
. "$here/lib/podman-env.sh"
model_sync_podman_env "$1" "$driver"
shift
exec "$@"
