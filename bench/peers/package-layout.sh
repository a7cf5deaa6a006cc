#!/usr/bin/env bash
# Benchmark peer for `model-sync package`: the same modelcar built with standard tools.
# Pulls BASE into an OCI layout with skopeo, then one uncompressed tar layer (models/<path>,
# uid/gid 0, mode 0664, mtime 0) digested with sha256sum per file of 16 MiB or more, and one per
# folder for the smaller files in it (as model-sync packs small files into shared layers: one blob
# per 100 KiB file would make skopeo's push of 2,000 files take most of an hour); then a new
# config, manifest and index written with jq.
#   package-layout.sh MODEL_DIR BASE_REF OUT_LAYOUT TAG
set -euo pipefail
model=$1 base=$2 out=$3 tag=$4

skopeo copy --quiet --src-tls-verify=false --dest-oci-accept-uncompressed-layers \
  "docker://$base" "oci:$out:base"
blobs=$out/blobs/sha256
blob() { cat "$blobs/${1#sha256:}"; }
manifest_digest=$(jq -r '.manifests[0].digest' "$out/index.json")
base_manifest=$(blob "$manifest_digest")
base_config=$(blob "$(jq -r '.config.digest' <<<"$base_manifest")")

# One line per layer (digest, size, path) during the loop; the JSON arrays are built once at the end
# (jq over a growing array per file would make thousands of files quadratic).
list=$out/layers.tsv
: > "$list"
SMALL=$((16 * 1024 * 1024))
layer() { # layer TITLE FILE_LIST(NUL-separated paths relative to the model) -> blob + a line in $list
  local title=$1 files=$2 tmp=$out/layer.tmp digest size
  digest=sha256:$(tar --create --file=- --no-recursion --format=posix \
      --owner=0 --group=0 --numeric-owner --mode=0664 --mtime=@0 \
      --pax-option=delete=atime,delete=ctime \
      --transform "s|^|models/|" -C "$model" --null --verbatim-files-from -T "$files" | tee "$tmp" | sha256sum | cut -d' ' -f1)
  size=$(stat -c %s "$tmp")
  mv "$tmp" "$blobs/${digest#sha256:}"
  printf '%s\t%s\t%s\n' "$digest" "$size" "$title" >> "$list"
}
groups=$out/groups
mkdir -p "$groups"
one=$out/one.lst
while IFS= read -r -d '' entry; do
  size=${entry%% *} rel=${entry#* } rel=${rel#./}
  if (( size >= SMALL )); then
    printf '%s\0' "$rel" > "$one"
    layer "$rel" "$one"
  else
    dir=$(dirname "$rel")
    printf '%s\0' "$rel" >> "$groups/$(printf '%s' "$dir" | sha256sum | cut -c1-16)"
    printf '%s' "$dir" > "$groups/$(printf '%s' "$dir" | sha256sum | cut -c1-16).name"
  fi
done < <(cd "$model" && find . -type f -printf '%s %p\0' | sort -z -k2)
for g in "$groups"/*.name; do
  [[ -e $g ]] || continue
  layer "small files in $(cat "$g")" "${g%.name}"
done
rm -rf "$groups" "$one"
# Files, not arguments: thousands of layers exceed the 128 KiB limit of one argument.
rows=$out/layers.json
jq -R -s -c 'split("\n") | map(select(length > 0) | split("\t") | {d: .[0], s: (.[1] | tonumber), t: .[2]})' "$list" > "$rows"
rm "$list"

write_blob() { # stdin -> blob; prints "digest size" once the blob is in place
  local tmp d size
  tmp=$(mktemp "$out/blob.XXXXXX")
  cat > "$tmp"
  d=$(sha256sum "$tmp" | cut -d' ' -f1)
  size=$(stat -c %s "$tmp")
  mv "$tmp" "$blobs/$d"
  echo "sha256:$d $size"
}
read -r config_digest config_size < <(jq -c --slurpfile r "$rows" \
  '.rootfs.diff_ids += ($r[0] | map(.d))
   | .history = ((.history // []) + ($r[0] | map({created: "1970-01-01T00:00:00Z", created_by: ("model file " + .t)})))' <<<"$base_config" | write_blob)
read -r manifest_digest manifest_size < <(jq -c --slurpfile r "$rows" --arg cd "$config_digest" --argjson cs "$config_size" \
  '.config.digest = $cd | .config.size = $cs
   | .layers += ($r[0] | map({mediaType: "application/vnd.oci.image.layer.v1.tar", digest: .d, size: .s,
                               annotations: {"org.opencontainers.image.title": .t}}))' <<<"$base_manifest" | write_blob)
rm "$rows"
jq -n --arg d "$manifest_digest" --argjson s "$manifest_size" --arg t "$tag" '{schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
               annotations: {"org.opencontainers.image.ref.name": $t}}]}' > "$out/index.json"
