#!/usr/bin/env bash
# Build the model-sync container image from ./Dockerfile. Prints the image name as the last line.
#
#   scripts/build-image.sh                         # Docker (BuildKit) or podman; pulls the pinned base
#   scripts/build-image.sh --local-base --podman-dir /tmp/model-sync-podman
#                                                  # offline: base assembled from the host's Node 20,
#                                                  # podman in a sandboxed store (this project's CI)
# Options:
#   --engine docker|podman|buildah  builder (default: docker when `docker info` works, else podman)
#   --local-base       no pull: assemble the Dockerfile's base locally (scripts/lib/local-node-base.sh)
#                      under the base's name without its digest, then build with --pull=never
#   --podman-dir DIR   podman/buildah with the settings of scripts/lib/podman-env.sh, store in DIR
#   --tag TAG          image tag (default: package.json version)
#   --npm-ca FILE      CA bundle for npm behind a TLS-intercepting proxy (default: $NODE_EXTRA_CA_CERTS
#                      when set); passed as the build secret `npm-ca`, never stored in the image
#   --cache            podman/buildah: keep a layer per instruction to reuse in later builds (with
#                      the vfs driver of --podman-dir every layer is a full copy: slower first build)
#   --print-name       print the image name and exit
#   --print-platforms  print the platforms steps/image.yaml lists (the image is built for the
#                      machine's own, which must be one of them) and exit
# The image name is steps/image.yaml `repository` + ":" + the tag.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

engine=''
local_base=false
podman_dir=''
tag=''
npm_ca=${NODE_EXTRA_CA_CERTS:-}
print_name=false
print_platforms=false
layers=false
while [ $# -gt 0 ]; do
  case $1 in
    --engine) engine=${2:?--engine needs a value}; shift 2 ;;
    --local-base) local_base=true; shift ;;
    --podman-dir) podman_dir=${2:?--podman-dir needs a directory}; shift 2 ;;
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --npm-ca) npm_ca=${2:?--npm-ca needs a file}; shift 2 ;;
    --cache) layers=true; shift ;;
    --print-name) print_name=true; shift ;;
    --print-platforms) print_platforms=true; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

repository=$(sed -n 's/^repository:[[:space:]]*\([^[:space:]#]*\).*/\1/p' steps/image.yaml)
[ -n "$repository" ] || { echo "build-image: no 'repository:' in steps/image.yaml" >&2; exit 1; }
version=$(node -p 'require("./package.json").version')
image="$repository:${tag:-$version}"
if $print_name; then echo "$image"; exit 0; fi
platforms=$(sed -n 's/^platforms:[[:space:]]*\[\(.*\)\].*/\1/p' steps/image.yaml | tr -d ' ')
[ -n "$platforms" ] || { echo "build-image: no 'platforms: [...]' in steps/image.yaml" >&2; exit 1; }
if $print_platforms; then echo "$platforms"; exit 0; fi
case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
case ",$platforms," in
  *",linux/$arch,"*) ;;
  *) echo "build-image: this machine builds linux/$arch, which steps/image.yaml platforms ($platforms) does not list (the Tekton annotation claims those)" >&2; exit 2 ;;
esac

if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker
  elif command -v podman >/dev/null 2>&1; then engine=podman
  elif command -v buildah >/dev/null 2>&1; then engine=buildah
  else echo "build-image: no docker, podman or buildah on PATH" >&2; exit 1
  fi
fi
if [ -n "$podman_dir" ]; then
  [ "$engine" != docker ] || { echo "build-image: --podman-dir is for podman/buildah" >&2; exit 2; }
  # shellcheck source=lib/podman-env.sh
  . "$repo_root/scripts/lib/podman-env.sh"
  model_sync_podman_env "$podman_dir"
fi

# The base named by the Dockerfile's NODE_IMAGE default, e.g. docker.io/library/node:20-bookworm-slim@sha256:…
pinned_base=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)
build_args=(
  --build-arg "VERSION=$version"
  --build-arg "VCS_REF=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  # SOURCE_DATE_EPOCH (reproducible builds) wins over the wall clock.
  --build-arg "BUILD_DATE=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ)"
)
engine_args=()
if $local_base; then
  base=${pinned_base%@*}
  # shellcheck source=lib/local-node-base.sh
  . "$repo_root/scripts/lib/local-node-base.sh"
  model_sync_local_node_base "$engine" "$base"
  build_args+=(--build-arg "NODE_IMAGE=$base")
  [ "$engine" = docker ] || engine_args+=(--pull=never)
fi
[ "$engine" = docker ] || engine_args+=(--network=host "--layers=$layers")
if [ -n "$npm_ca" ] && [ -s "$npm_ca" ]; then
  engine_args+=(--secret "id=npm-ca,src=$npm_ca")
fi

echo "build-image: $engine building $image" >&2
case $engine in
  docker) DOCKER_BUILDKIT=1 docker build "${engine_args[@]}" "${build_args[@]}" -t "$image" -f Dockerfile . >&2 ;;
  podman) podman build "${engine_args[@]}" "${build_args[@]}" -t "$image" -f Dockerfile . >&2 ;;
  buildah) buildah build "${engine_args[@]}" "${build_args[@]}" -t "$image" -f Dockerfile . >&2 ;;
  *) echo "build-image: unknown engine $engine" >&2; exit 2 ;;
esac
echo "$image"
