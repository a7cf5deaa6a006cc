#!/usr/bin/env bash
# Benchmark reference for `model-sync push`: every blob of an OCI layout uploaded monolithically,
# one after another, with curl (POST to open the upload, one PUT ?digest= with the whole body),
# then the manifests and the tag. What one plain HTTP client does against the same registry.
#   curl-push.sh LAYOUT REGISTRY_URL REPO TAG
set -euo pipefail
layout=$1 url=$2 repo=$3 tag=$4
blobs=$layout/blobs/sha256

for file in "$blobs"/*; do
  digest=sha256:$(basename "$file")
  location=$(curl -sS -f -X POST -D - -o /dev/null "$url/v2/$repo/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [[ $location == /* ]] && location=$url$location
  [[ $location == *\?* ]] && sep='&' || sep='?'
  # -T streams the file (--data-binary @file would read it into memory first).
  curl -sS -f -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T "$file" "$location${sep}digest=$digest"
done

# The index's manifests, then the index under the tag (ignoring the layout's base-only entries).
manifest=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$layout/index.json")
type=$(jq -r '.mediaType // "application/vnd.oci.image.manifest.v1+json"' "$blobs/${manifest#sha256:}")
curl -sS -f -o /dev/null -X PUT -H "Content-Type: $type" \
  --data-binary @"$blobs/${manifest#sha256:}" "$url/v2/$repo/manifests/$tag"
