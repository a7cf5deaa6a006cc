#!/usr/bin/env bash
# Benchmark peer for `model-sync all`: the chain of standard tools, one after another:
# rclone copy (S3 -> model/), package-layout.sh (model/ -> layout/), skopeo copy (layout/ -> registry).
# rclone takes its remote `bench:` from RCLONE_CONFIG_BENCH_* in the environment.
#   chain.sh S3_PATH WORK_DIR BASE_REF DEST_REF
set -euo pipefail
src=$1 work=$2 base=$3 dest=$4
here=$(dirname "$0")
rclone copy "bench:$src" "$work/model"
"$here/package-layout.sh" "$work/model" "$base" "$work/layout" bench
skopeo copy --quiet --all --preserve-digests --dest-tls-verify=false "oci:$work/layout:bench" "docker://$dest"
