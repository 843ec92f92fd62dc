#!/usr/bin/env bash
# download.sh through a mirror: a good copy verifies and lands in the HF layout; a corrupted copy is refused and
# nothing is written; an existing model folder is never overwritten; unknown names and unpinned files are refused.
set -euo pipefail
root="$1"; shared="${ATTNSCOPE_SHARED:-$2}"
script="$root/sample_models/download.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

ATTNSCOPE_MODEL_MIRROR="$shared/models" "$script" stories260K "$work/s" >/dev/null
cmp -s "$work/s/model.safetensors" "$shared/models/stories260K/model.safetensors" || fail "weights differ"
[[ -f "$work/s/tokenizer.json" && -f "$work/s/config.json" ]] || fail "layout incomplete"
ATTNSCOPE_MODEL_MIRROR="$shared/models" "$script" kwt1 "$work/k" >/dev/null || fail "kwt1"

mkdir -p "$work/bad/stories260K"; cp "$shared/models/stories260K/"* "$work/bad/stories260K/"
chmod u+w "$work/bad/stories260K/model.safetensors"; printf 'x' >> "$work/bad/stories260K/model.safetensors"
if ATTNSCOPE_MODEL_MIRROR="$work/bad" "$script" stories260K "$work/t" 2>"$work/err"; then fail "corrupt copy accepted"; fi
grep -q "checksum mismatch for stories260K/model.safetensors" "$work/err" || fail "no mismatch message: $(cat "$work/err")"
[[ ! -e "$work/t" ]] || fail "something was written after a mismatch"

if ATTNSCOPE_MODEL_MIRROR="$shared/models" "$script" stories260K "$work/s" 2>"$work/err"; then fail "overwrote a model"; fi
grep -q "already holds a model" "$work/err" || fail "no overwrite message"
if "$script" no-such-model 2>/dev/null; then fail "unknown name accepted"; fi
# Every file of the project's manifest is pinned; a manifest with an unpinned file (a new model being added) is
# refused by default, and accepting the unpinned file does not waive the pinned ones.
grep -q ' unpinned ' <(grep -v '^#' "$root/sample_models/models.sha256") && fail "the project's manifest has unpinned files"
mkdir -p "$work/m/vit-base-patch16-224"
for f in $(awk '$1 == "vit-base-patch16-224" {print $2}' "$root/sample_models/models.sha256"); do echo x > "$work/m/vit-base-patch16-224/$f"; done
if ATTNSCOPE_MODEL_MIRROR="$work/m" "$script" vit-base-patch16-224 "$work/w" 2>"$work/err"; then fail "wrong ViT files accepted"; fi
grep -q "checksum mismatch for vit-base-patch16-224/config.json" "$work/err" || fail "ViT not checked: $(cat "$work/err")"
awk '$1 == "vit-base-patch16-224" && $2 == "config.json" {$3 = "unpinned"} {print}' "$root/sample_models/models.sha256" >"$work/manifest"
if ATTNSCOPE_MODEL_MANIFEST="$work/manifest" ATTNSCOPE_MODEL_MIRROR="$work/m" "$script" vit-base-patch16-224 "$work/w" 2>"$work/err"; then
  fail "unpinned accepted"; fi
grep -q "no pinned SHA-256" "$work/err" || fail "no unpinned message"
if ATTNSCOPE_MODEL_MANIFEST="$work/manifest" ATTNSCOPE_ALLOW_UNPINNED=1 ATTNSCOPE_MODEL_MIRROR="$work/m" "$script" vit-base-patch16-224 \
  "$work/w" >/dev/null 2>"$work/err"; then fail "unpinned mode accepted wrong weights"; fi
grep -q "checksum mismatch for vit-base-patch16-224/model.safetensors" "$work/err" || fail "weights not checked: $(cat "$work/err")"
[[ ! -e "$work/w" ]] || fail "something was written after a mismatch"
echo "download.sh: mirror, checksum, no-overwrite and refusal cases pass"
