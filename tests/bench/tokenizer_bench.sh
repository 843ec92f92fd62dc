#!/usr/bin/env bash
# Installs @lenml/tokenizers (npm) into build/bench-node and runs bench_tokenizer on the Qwen tokenizer.
# usage: tests/bench/tokenizer_bench.sh [MODEL_DIR] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model=${1:-$root/../shared/golden/qwen2-tiny-random}
node_dir=$root/build/bench-node
mkdir -p "$node_dir"
[ -d "$node_dir/node_modules/@lenml/tokenizers" ] ||
  npm install --silent --no-audit --no-fund --prefix "$node_dir" @lenml/tokenizers@3.7.2
exec taskset -c 0 "$root/build/tests/bench/bench_tokenizer" "$model" "$node_dir" "${2:-3}"
