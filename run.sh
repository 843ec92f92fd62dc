#!/usr/bin/env bash
# AttnScope setup, build, launch and test.
#   ./run.sh          install what is missing (apt), build Release, launch the GUI
#   ./run.sh test     the same setup, then every test suite through CTest
#   ./run.sh build    setup + build only
#   ./run.sh sanitize the engine, media, CLI and core tests built with -fsanitize=address,undefined in
#                     build-sanitize (no Qt), then those tests
#   ./run.sh fuzz [TARGET...]  the tests/fuzz targets built with clang + libFuzzer (ASan, UBSan) in build-fuzz,
#                     each fuzzed for FUZZ_SECONDS (default 600); findings land in build-fuzz/findings/<target>/
# Environment: BUILD_DIR (default build), ATTNSCOPE_SHARED (folder with golden/ and models/),
#              ATTNSCOPE_BUILD_GUI=OFF to build the engine and CLI only.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
MODE=${1:-gui}

log() { printf '\033[1m[run.sh]\033[0m %s\n' "$*"; }

# --- 1. System packages (the list lives in DEVELOPERS.md, between the apt-packages markers).
packages=$(sed -n '/<!-- apt-packages:begin -->/,/<!-- apt-packages:end -->/p' DEVELOPERS.md | grep -v '^<!--' | grep -v '^```' | tr -s ' \n' ' ')
missing=()
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${#missing[@]} missing package(s): ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

CONFIGURE_ARGS=()
if command -v ninja >/dev/null 2>&1; then CONFIGURE_ARGS=(-G Ninja); fi
# ccache (in the package list) makes a rebuild, or the build of another clone on the same machine, a matter of
# minutes: paths under the clone are hashed relative to it (CCACHE_BASEDIR), so two clones share their objects.
if command -v ccache >/dev/null 2>&1; then
  CONFIGURE_ARGS+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT} CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-20G}
  export CCACHE_DIR=${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}
fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

find_shared() {
  if [ -z "${ATTNSCOPE_SHARED:-}" ]; then
    # The shared test material sits beside the clone (../shared); look up the tree for it.
    local dir=$ROOT
    while [ "$dir" != "/" ]; do
      dir=$(dirname "$dir")
      if [ -d "$dir/shared/golden" ]; then ATTNSCOPE_SHARED="$dir/shared"; break; fi
    done
    ATTNSCOPE_SHARED=${ATTNSCOPE_SHARED:-$ROOT/../shared}
  fi
  export ATTNSCOPE_SHARED
}

# --- Sanitizers: their own build folder, no GUI, then the core tests under ASan + UBSan.
if [ "$MODE" = sanitize ]; then
  SAN_DIR=${SANITIZE_BUILD_DIR:-$ROOT/build-sanitize}
  flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  find_shared
  if [ ! -f "$SAN_DIR/CMakeCache.txt" ]; then
    log "configuring $SAN_DIR (AddressSanitizer + UndefinedBehaviorSanitizer)"
    cmake -S "$ROOT" -B "$SAN_DIR" "${CONFIGURE_ARGS[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNSCOPE_BUILD_GUI=OFF \
      -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
      -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined"
  fi
  log "building $SAN_DIR"
  cmake --build "$SAN_DIR" --parallel "$(nproc)"
  find_shared
  # LibTorch (not instrumented) keeps allocations alive until exit by design: leak checking is off; every other
  # ASan/UBSan report fails the test that triggered it.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  log "running the core tests under the sanitizers (shared material: $ATTNSCOPE_SHARED)"
  cd "$SAN_DIR"
  # The SentencePiece bridge needs dlopen(RTLD_DEEPBIND), which AddressSanitizer refuses, and AddressSanitizer
  # reserves terabytes of address space for its shadow memory, so no process of it starts under `ulimit -v`:
  # those tests run in ./run.sh test only.
  ctest --output-on-failure --timeout 1800 -j "$(nproc)" -E '^SentencePieceModel\.|^MemoryBudget\.UnderUlimit'
  exit 0
fi

# --- Fuzzing: clang + libFuzzer in its own build folder; the corpus grows in build-fuzz/corpus/<target>.
if [ "$MODE" = fuzz ]; then
  command -v clang++ >/dev/null 2>&1 || { log "fuzzing needs clang and libFuzzer (apt install clang)"; exit 2; }
  FUZZ_DIR=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
  flags="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  if [ ! -f "$FUZZ_DIR/CMakeCache.txt" ]; then
    log "configuring $FUZZ_DIR (clang, libFuzzer, AddressSanitizer + UndefinedBehaviorSanitizer)"
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$FUZZ_DIR" "${CONFIGURE_ARGS[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DATTNSCOPE_BUILD_GUI=OFF -DATTNSCOPE_FUZZ=ON -DCMAKE_CXX_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined"
  fi
  find_shared
  shift
  targets=("$@")
  if [ ${#targets[@]} -eq 0 ]; then
    targets=($(sed -n 's/^  \([a-z_]*\):Fuzz.*/\1/p' tests/fuzz/CMakeLists.txt))
  fi
  log "building ${targets[*]}"
  cmake --build "$FUZZ_DIR" --parallel "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  status=0
  for t in "${targets[@]}"; do
    mkdir -p "$FUZZ_DIR/corpus/$t" "$FUZZ_DIR/findings/$t"
    log "fuzzing $t for ${FUZZ_SECONDS:-600} s"
    "$FUZZ_DIR/tests/fuzz/fuzz_$t" -max_total_time="${FUZZ_SECONDS:-600}" -timeout=5 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/findings/$t/" "$FUZZ_DIR/corpus/$t" "$ROOT/tests/fuzz/corpus/$t" \
      > "$FUZZ_DIR/fuzz-$t.log" 2>&1 || status=1
    tail -n 14 "$FUZZ_DIR/fuzz-$t.log"
  done
  exit $status
fi

# --- 2. Configure and build (Release). The shared material is found first: the fuzz replays compile its path in.
find_shared
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  log "configuring $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" "${CONFIGURE_ARGS[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DATTNSCOPE_BUILD_GUI="${ATTNSCOPE_BUILD_GUI:-ON}"
fi
log "building"
cmake --build "$BUILD_DIR" --parallel "$(nproc)"

# OpenBLAS-pthread does the GEMM threading; keep OpenMP threads from spinning against it (exported above).
case "$MODE" in
  test)
    find_shared
    export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
    log "running tests (shared material: $ATTNSCOPE_SHARED)"
    cd "$BUILD_DIR"
    ctest --output-on-failure --timeout 900 -j "$(nproc)"
    ;;
  build)
    ;;
  gui|"")
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
      log "no display found (DISPLAY / WAYLAND_DISPLAY unset); start an X server or run under xvfb-run"
      exit 1
    fi
    shift || true
    exec "$BUILD_DIR/app/attnscope" "$@"
    ;;
  *)
    echo "usage: ./run.sh [test|build|sanitize]" >&2
    exit 2
    ;;
esac
