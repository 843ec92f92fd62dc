#!/usr/bin/env bash
# Fetches a real checkpoint into the Hugging Face folder layout, every file checked against the SHA-256 pinned in
# sample_models/models.sha256. Nothing is written under the target unless the whole model verifies.
#
#   sample_models/download.sh NAME [DEST_DIR]     (DEST_DIR defaults to sample_models/NAME)
#   sample_models/download.sh --list
#
# ATTNSCOPE_MODEL_MIRROR=DIR   take DIR/NAME/FILE instead of the network (an offline copy, e.g. ../shared/models)
# ATTNSCOPE_ALLOW_UNPINNED=1   also accept files whose hash is not pinned yet (prints the hash seen)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/models.sha256"

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  echo "models: $(grep -v '^#' "$manifest" | awk 'NF{print $1}' | uniq | tr '\n' ' ')"
}
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
if [[ "$1" == "--list" || "$1" == "-h" || "$1" == "--help" ]]; then usage; exit 0; fi
name="$1"
dest="${2:-$here/$name}"
entries="$(grep -v '^#' "$manifest" | awk -v n="$name" '$1 == n')"
[[ -n "$entries" ]] || { echo "download.sh: unknown model '$name'" >&2; usage >&2; exit 2; }
if [[ -e "$dest/config.json" ]]; then
  echo "download.sh: '$dest' already holds a model; remove it first (nothing was changed)" >&2
  exit 2
fi

stage="$(mktemp -d "${TMPDIR:-/tmp}/attnscope-download.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mirror="${ATTNSCOPE_MODEL_MIRROR:-}"
while read -r _ file sha url; do
  out="$stage/$file"
  if [[ -n "$mirror" ]]; then
    src="$mirror/$name/$file"
    [[ -f "$src" ]] || { echo "download.sh: mirror lacks '$src'" >&2; exit 1; }
    cp "$src" "$out"
  elif [[ "$url" == "mirror-only" ]]; then
    echo "download.sh: $name is released upstream in another format (see sample_models/models.sha256);" >&2
    echo "  set ATTNSCOPE_MODEL_MIRROR to a folder holding $name/ in the Hugging Face layout" >&2
    exit 1
  else
    echo "fetching $url"
    if command -v curl >/dev/null; then curl -fL --retry 3 -o "$out" "$url"
    else wget -q -O "$out" "$url"; fi
  fi
  seen="$(sha256sum "$out" | cut -d' ' -f1)"
  if [[ "$sha" == "unpinned" ]]; then
    if [[ "${ATTNSCOPE_ALLOW_UNPINNED:-0}" != "1" ]]; then
      echo "download.sh: $name/$file has no pinned SHA-256 yet; rerun with ATTNSCOPE_ALLOW_UNPINNED=1 to accept" >&2
      echo "  the file as served (hash seen: $seen)" >&2
      exit 1
    fi
    echo "  $file: accepted unpinned, sha256 $seen"
  elif [[ "$seen" != "$sha" ]]; then
    echo "download.sh: checksum mismatch for $name/$file: expected $sha, got $seen (nothing was written)" >&2
    exit 1
  else
    echo "  $file: sha256 ok"
  fi
done <<< "$entries"
mkdir -p "$dest"
cp "$stage"/* "$dest"/
echo "$name ready in $dest"
