# shellcheck shell=bash
# Sourced by scripts/build-image.sh and scripts/podman-sandboxed.sh: points podman/buildah at a
# self-contained state directory with settings that work on hosts without systemd, without
# CAP_SYS_RESOURCE and with cgroups in "hybrid" mode (CI containers, this project's test machines).
#
#   model_sync_podman_env DIR [vfs|overlay]
#                                write DIR/containers.conf + DIR/storage.conf and export the
#                                variables podman and buildah read; images built this way live
#                                only in DIR (`podman system reset -f` to clean up: with overlay it
#                                also unmounts what is still mounted under DIR, then remove DIR).
#                                The storage driver defaults to vfs (image builds); a store keeps
#                                the driver it was made with, so use one DIR per driver.
#
# Why each setting:
#   runtime runc        crun refuses to start containers when cgroups are in hybrid mode.
#   default_ulimits     podman's default RLIMIT_NOFILE/NPROC cannot be raised without
#                       CAP_SYS_RESOURCE ("setrlimit: Operation not permitted"); ask for 1024.
#   netns host          the default bridge network edits the host firewall (iptables NAT) and
#                       ip_forward; host networking avoids that and still reaches 127.0.0.1 servers
#                       (the npm registry during the build, local S3/registry in the tests).
#   driver vfs          (default, for image builds) needs no overlay mounts (every layer is a full
#                       copy: disk-heavy, but works everywhere).
#   driver overlay      (for running images the way a cluster does) the driver of CRI-O/OpenShift
#                       (containers/storage) and, in effect, Docker's overlay2: it stacks one lower
#                       dir per layer and refuses images of more than about 128 layers at mount time
#                       ("max depth exceeded"). vfs copies layers and has no such limit, so a check
#                       that a modelcar starts is only meaningful under overlay
#                       (test/modelcar-runtime.test.ts). Needs root and a graphroot on a file system
#                       that can be an overlay lower/upper dir (ext4, xfs; not overlayfs itself).
#   tmp_dir             podman's transient state (exit codes of containers, events, locks) defaults to
#                       /run/libpod for root, shared by every store; `podman system reset` deletes it.
#                       Kept in DIR, two stores in use at once (parallel test files) stay apart: a
#                       reset of one no longer loses the exit code of a container running in the other
#                       ("getting exit code of container …: no such exit code").
#   BUILDAH_ISOLATION   chroot: RUN steps need no user namespaces or cgroup setup.
model_sync_podman_env() {
  local dir=${1:?model_sync_podman_env needs a state directory}
  local driver=${2:-vfs}
  case $driver in
    vfs|overlay) ;;
    *) echo "model_sync_podman_env: storage driver must be vfs or overlay, got '$driver'" >&2; return 2 ;;
  esac
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  cat > "$dir/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "host"

[engine]
runtime = "runc"
tmp_dir = "$dir/tmp"
CONF
  cat > "$dir/storage.conf" <<CONF
[storage]
driver = "$driver"
runroot = "$dir/run"
graphroot = "$dir/storage"
CONF
  export CONTAINERS_CONF="$dir/containers.conf"
  export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
  export BUILDAH_ISOLATION=chroot
}
