#!/usr/bin/env bash
# Fetches a real checkpoint into the Hugging Face folder layout, every file checked against the SHA-256 pinned in
# sample_models/models.sha256. Nothing is written under the target unless the whole model verifies.
#
#   sample_models/download.sh NAME [DEST_DIR]     (DEST_DIR defaults to sample_models/NAME)
#   sample_models/download.sh --list
#
# ATTNSCOPE_MODEL_MIRROR=DIR    take DIR/NAME/FILE instead of the network (an offline copy, e.g. ../shared/models)
# ATTNSCOPE_ALLOW_UNPINNED=1    also accept files whose hash is not pinned yet (prints the hash seen)
# ATTNSCOPE_CLI=PATH            attnscope-cli for models released in another format (default: build/app/attnscope-cli)
# ATTNSCOPE_MODEL_MANIFEST=FILE another manifest in the models.sha256 format (default: the one beside this script)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="${ATTNSCOPE_MODEL_MANIFEST:-$here/models.sha256}"

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  echo "models: $(grep -v '^#' "$manifest" | awk 'NF{print $1}' | uniq | tr '\n' ' ')"
}
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
if [[ "$1" == "--list" || "$1" == "-h" || "$1" == "--help" ]]; then usage; exit 0; fi
name="$1"
dest="${2:-$here/$name}"
all="$(grep -v '^#' "$manifest" | awk -v n="$name" '$1 == n')"
[[ -n "$all" ]] || { echo "download.sh: unknown model '$name'" >&2; usage >&2; exit 2; }
if [[ -e "$dest/config.json" ]]; then
  echo "download.sh: '$dest' already holds a model; remove it first (nothing was changed)" >&2
  exit 2
fi
mirror="${ATTNSCOPE_MODEL_MIRROR:-}"
converted="$(awk '$4 == "converted"' <<< "$all")"
convert="$(awk '$2 == ":convert"' <<< "$all")"
# A mirror that already holds the Hugging Face-layout conversion is checked file by file against it; otherwise
# the upstream release is fetched (from the mirror when it has it) and converted here.
if [[ -n "$converted" && -n "$mirror" && -f "$mirror/$name/config.json" ]]; then
  entries="$converted"; convert=""
else
  entries="$(awk '$4 != "converted" && $2 != ":convert"' <<< "$all")"
fi

stage="$(mktemp -d "${TMPDIR:-/tmp}/attnscope-download.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/files"
while read -r _ file sha url; do
  out="$stage/files/$file"
  if [[ -n "$mirror" ]]; then
    src="$mirror/$name/$file"
    [[ -f "$src" ]] || { echo "download.sh: mirror lacks '$src'" >&2; exit 1; }
    cp "$src" "$out"
  elif [[ "$url" == "mirror-only" ]]; then
    echo "download.sh: $name is released upstream in a format AttnScope does not convert (see models.sha256);" >&2
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

if [[ -n "$convert" ]]; then
  read -r _ _ kind inputs <<< "$convert"
  [[ "$kind" == "llama2c" ]] || { echo "download.sh: unknown converter '$kind' in $manifest" >&2; exit 2; }
  cli="${ATTNSCOPE_CLI:-$here/../build/app/attnscope-cli}"
  if [[ ! -x "$cli" ]]; then
    echo "download.sh: $name is released as a llama2.c checkpoint; converting it needs attnscope-cli" >&2
    echo "  ('$cli' not found: build first with ./run.sh build, or set ATTNSCOPE_CLI)" >&2
    exit 1
  fi
  "$cli" convert-llama2c --checkpoint "$stage/files/${inputs%%,*}" --tokenizer "$stage/files/${inputs#*,}" \
    --out "$stage/converted"
  rm -rf "$stage/files"; mv "$stage/converted" "$stage/files"
fi
mkdir -p "$dest"
# Each file is copied beside its final name and renamed over it: killed at any moment, every file in $dest is either
# the old one or the complete new one.
for f in "$stage"/files/*; do
  part="$dest/.$(basename "$f").partial.$$"
  cp "$f" "$part"
  mv -f "$part" "$dest/$(basename "$f")"
done
echo "$name ready in $dest"
