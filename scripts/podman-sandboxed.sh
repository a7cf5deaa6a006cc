#!/usr/bin/env bash
# Run podman/buildah/skopeo with the project's sandboxed settings (scripts/lib/podman-env.sh) and the
# image store in DIR, e.g. the one scripts/build-image.sh --podman-dir DIR built into:
#   scripts/podman-sandboxed.sh /tmp/model-sync-podman podman run --rm IMAGE --help
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 DIR COMMAND [ARG...]" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/podman-env.sh
. "$here/lib/podman-env.sh"
model_sync_podman_env "$1"
shift
exec "$@"
