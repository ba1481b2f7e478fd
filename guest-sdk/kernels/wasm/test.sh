#!/usr/bin/env bash
# Runs this crate's tests on wasm32, so that the kernels a plugin dispatches to pass the same
# suites as on the host under real Wasm semantics:
#
#   guest-sdk/kernels/wasm/test.sh            with simd128: the Wasm SIMD paths (src/simd.rs)
#   guest-sdk/kernels/wasm/test.sh --scalar   without: the shared artifact's scalar-Wasm
#                                             paths (src/swar.rs, offset4)
#
# Builds the test binaries for wasm32-wasip1 and runs each under Node's WASI
# (run-wasi.mjs); further arguments go to the test binaries. Needs `rustup target add
# wasm32-wasip1` and Node 20+. Tests that read ../shared print their skip line (no file
# system access under WASI).
set -euo pipefail
cd "$(dirname "$0")/../../.."
flavour=simd128
if [ "${1:-}" = "--scalar" ]; then
    flavour=scalar
    shift
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}/wasm32-$flavour-tests
if [ "$flavour" = simd128 ]; then
    export RUSTFLAGS="-C target-feature=+simd128"
else
    export RUSTFLAGS=""
fi
mapfile -t bins < <(cargo test -p edgeplug-kernels --target wasm32-wasip1 --no-run \
    --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')
[ "${#bins[@]}" -gt 0 ] || { echo "no test binaries built" >&2; exit 1; }
for bin in "${bins[@]}"; do
    echo "== $bin"
    node --no-warnings guest-sdk/kernels/wasm/run-wasi.mjs "$bin" "$@"
done
