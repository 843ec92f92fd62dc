#!/usr/bin/env bash
# AttnScope setup, build, launch and test.
#   ./run.sh          install what is missing (apt), build Release, launch the GUI
#   ./run.sh test     the same setup, then every test suite through CTest
#   ./run.sh build    setup + build only
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

# --- 2. Configure and build (Release).
GENERATOR=()
if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  log "configuring $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DATTNSCOPE_BUILD_GUI="${ATTNSCOPE_BUILD_GUI:-ON}"
fi
log "building"
cmake --build "$BUILD_DIR" --parallel "$(nproc)"

# OpenBLAS-pthread does the GEMM threading; keep OpenMP threads from spinning against it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

case "$MODE" in
  test)
    if [ -z "${ATTNSCOPE_SHARED:-}" ]; then
      # The shared test material sits beside the clone (../shared); look up the tree for it.
      dir=$ROOT
      while [ "$dir" != "/" ]; do
        dir=$(dirname "$dir")
        if [ -d "$dir/shared/golden" ]; then ATTNSCOPE_SHARED="$dir/shared"; break; fi
      done
      ATTNSCOPE_SHARED=${ATTNSCOPE_SHARED:-$ROOT/../shared}
    fi
    export ATTNSCOPE_SHARED
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
    echo "usage: ./run.sh [test|build]" >&2
    exit 2
    ;;
esac
