#!/usr/bin/env bash
# Captures every main view of the GUI under Xvfb, as a user sees it, for the README:
#   tests/gui/screenshots.sh [BUILD_DIR] [OUT_DIR]      (defaults: build, resources/screenshots)
# Uses the locally trained demo (sample_models/copy-demo) and the real models and inputs under ../shared
# (or $ATTNSCOPE_SHARED). Needs Xvfb and ImageMagick's `import` (both installed by ./run.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build}"
out="${2:-$root/resources/screenshots}"
shared="${ATTNSCOPE_SHARED:-$root/../shared}"
app="$build/app/attnscope"
[[ -x "$app" ]] || { echo "screenshots.sh: build the GUI first ($app missing)" >&2; exit 2; }
command -v Xvfb >/dev/null && command -v import >/dev/null || { echo "screenshots.sh: needs Xvfb and ImageMagick" >&2; exit 2; }
mkdir -p "$out"
display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1400x900x24 >/dev/null 2>&1 &
xvfb=$!
config="$(mktemp -d)"
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$config"' EXIT
sleep 1
story="Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends."

# shot NAME SECONDS ARGS...: starts the app with ARGS, waits, captures the screen, closes the app.
shot() {
  local name="$1" wait="$2"
  shift 2
  rm -rf "$config"/*  # each shot starts from default settings
  DISPLAY="$display" XDG_CONFIG_HOME="$config" "$app" "$@" -geometry 1400x900+0+0 >/dev/null 2>&1 &
  local pid=$!
  sleep "$wait"
  DISPLAY="$display" import -window root "$out/$name.png"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "  $out/$name.png"
}

echo "screenshots into $out"
shot gui-first-run-copy-demo 10
shot gui-token-lines-copy-demo 10 "$root/sample_models/copy-demo" --text "kqvzmtbxhwlrpgcfkqvzmtbxhwlrpgcf" --tab lines
shot head-view-stories260k 10 "$shared/models/stories260K" --text "$story" --scale log
shot gui-overview-stories260k 14 "$shared/models/stories260K" --text "$story" --tab overview --frame importance
shot gui-aggregates-stories260k 10 "$shared/models/stories260K" --text "$story" --tab aggregates
shot gui-metrics-stories260k 12 "$shared/models/stories260K" --text "$story" --tab metrics
shot gui-logit-lens-stories260k 14 "$shared/models/stories260K" --text "$story" --tab lens
shot gui-logit-attribution-stories260k 14 "$shared/models/stories260K" --text "$story" --tab dla
shot gui-logit-attribution-whisper 16 "$shared/golden/whisper-tiny-random" --input "$shared/golden/whisper-tiny-random/jfk_2s.wav" --tab dla
shot gui-information-flow-stories260k 14 "$shared/models/stories260K" --text "$story" --tab flow
shot gui-faithfulness-stories260k 14 "$shared/models/stories260K" --text "$story" --tab deletion
shot gui-generation-kl-stories260k 14 "$shared/models/stories260K" --text "Once upon a time, there was a little girl named Lily" --variant window:w=3 --generate 16
shot gui-words-stories260k 12 "$shared/models/stories260K" --text "$story" --words --tab lines
shot gui-attribution-stories260k 14 "$shared/models/stories260K" --text "$story" --tab attribution
shot gui-attribution-kwt1 16 "$shared/models/kwt1" --input "$shared/golden/whisper-tiny-random/jfk_2s.wav" --tab attribution
shot gui-generate-stories260k 12 "$shared/models/stories260K" --text "Once upon a time" --generate 24 --tab lines
shot gui-compare-stories260k 20 "$shared/models/stories260K" --text "$story" --compare "window:w=8;topk:k=4;linear"
shot gui-prune-compare-stories260k 18 "$shared/models/stories260K" --text "$story" --compare "prune:ratio=0.3;window:w=8"
shot gui-pruning-sweep-stories260k 18 "$shared/models/stories260K" --text "$story" --sweep "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"
shot gui-qwen2-tokenizer 12 "$shared/golden/qwen2-tiny-random" --text "Qwen2 reads 12,345 cafés: don't you think THEY'LL notice?"
shot gui-image-overlay-vit 12 "$shared/golden/vit-tiny-random" --input "$shared/golden/vit-tiny-random/input.png" --tab overlay
shot gui-audio-overlay-kwt1 14 "$shared/models/kwt1" --input "$shared/golden/whisper-tiny-random/jfk_2s.wav" --tab overlay
shot gui-faithfulness-kwt1 75 "$shared/models/kwt1" --input "$shared/golden/whisper-tiny-random/jfk_2s.wav" --tab deletion
shot gui-overview-words-stories260k 12 "$shared/models/stories260K" --text "$story" --tab overview --words
shot gui-whisper-cross 14 "$shared/golden/whisper-tiny-random" --input "$shared/golden/whisper-tiny-random/jfk_2s.wav" --generate 8
# A long input: the golden GQA Llama (RoPE: any length) with 8,192 positions and a ~4,000-token text, kept as queries
# and keys; the head view computes each window on demand, the overview samples 48 query rows per head.
longParent="$(mktemp -d)"
long="$longParent/long-llama-8k"
mkdir -p "$long"
cp "$shared/golden/llama-gqa-random/"{model.safetensors,tokenizer.json,tokenizer_config.json,special_tokens_map.json} "$long/"
sed 's/"max_position_embeddings": *[0-9]*/"max_position_embeddings": 8192/' "$shared/golden/llama-gqa-random/config.json" > "$long/config.json"
longText="$(for i in $(seq 120); do printf '%s ' "$story"; done)"
shot gui-long-input-head 16 "$long" --text "$longText" --store qk
shot gui-long-input-overview 16 "$long" --text "$longText" --store qk --tab overview
shot gui-long-input-aggregates 20 "$long" --text "$longText" --store qk --tab aggregates
rm -rf "$longParent"
echo "done: look at every picture before publishing it"
