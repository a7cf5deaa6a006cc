# shellcheck shell=bash
# Sourced by scripts/build-image.sh --local-base: where no base image can be pulled (offline
# machines, this project's CI), assemble a stand-in for the Dockerfile's Node base from this host.
#
#   model_sync_local_node_base ENGINE IMAGE_NAME
#
# The stand-in holds what the Dockerfile uses from node:20-bookworm-slim: node at
# /usr/local/bin/node with the shared libraries `ldd` lists (at the same paths), npm, a POSIX shell
# and basic tools (a statically linked busybox: sh, env, mkdir, chmod, ln, ...), /etc/passwd and
# /etc/group, /tmp. It is tagged IMAGE_NAME so that `FROM IMAGE_NAME` resolves to it with
# --pull=never. Images built on it carry the label io.model-sync.base=local-stand-in.
model_sync_local_node_base() {
  local engine=${1:?engine} image=${2:?image name}
  local node_bin npm_dir busybox_bin node_version
  node_bin=$(command -v node) || { echo "local base: node is not on PATH" >&2; return 1; }
  node_bin=$(readlink -f "$node_bin")
  node_version=$("$node_bin" --version)
  case $node_version in
    v20.*) ;;
    *) echo "local base: host node is $node_version; the Dockerfile's base is Node 20" >&2; return 1 ;;
  esac
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  [ -f "$npm_dir/package.json" ] || { echo "local base: npm not found next to node ($npm_dir)" >&2; return 1; }
  busybox_bin=$(command -v busybox || true)
  if [ -z "$busybox_bin" ] || ldd "$busybox_bin" >/dev/null 2>&1; then
    echo "local base: needs a statically linked busybox (apt-get install busybox-static)" >&2
    return 1
  fi

  # Reuse a stand-in already assembled from this same node (keeps later build caches valid).
  if [ "$engine" != buildah ] &&
     [ "$("$engine" image inspect --format '{{index .Config.Labels "io.model-sync.base.node"}}' "$image" 2>/dev/null)" = "$node_version" ]; then
    echo "local base: reusing $image (host node $node_version)" >&2
    return 0
  fi

  local ctx
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/model-sync-base.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'; trap - RETURN" RETURN
  local root=$ctx/rootfs
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/lib/node_modules,etc,tmp,root,home/node,proc,dev,sys,run}
  chmod 1777 "$root/tmp"

  cp "$busybox_bin" "$root/bin/busybox"
  local applet
  for applet in $("$busybox_bin" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  ln -s /bin/busybox "$root/usr/bin/env" # shebangs say #!/usr/bin/env node

  cp "$node_bin" "$root/usr/local/bin/node"
  # Every shared library node links, copied (symlinks resolved) to the path the loader looks up.
  local lib
  for lib in $(ldd "$node_bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'node:x:1000:1000::/home/node:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' > "$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'node:x:1000:' 'nogroup:x:65534:' > "$root/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' > "$root/etc/nsswitch.conf"

  cat > "$ctx/Containerfile" <<CONTAINERFILE
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NODE_VERSION=${node_version#v}
LABEL io.model-sync.base=local-stand-in io.model-sync.base.node=${node_version}
CMD ["node"]
CONTAINERFILE
  echo "local base: assembling $image from host node $node_version" >&2
  case $engine in
    docker) docker build -t "$image" -f "$ctx/Containerfile" "$ctx" >&2 ;;
    *) "$engine" build --pull=never --network=host -t "$image" -f "$ctx/Containerfile" "$ctx" >&2 ;;
  esac
}
