#!/usr/bin/env bash
# Runs this crate's tests on wasm32 with the simd128 target feature, so that the Wasm SIMD
# paths of the blocked variants (src/simd.rs) pass the same suites as on the host: builds the
# test binaries for wasm32-wasip1 with `-C target-feature=+simd128` and runs each under
# Node's WASI (run-wasi.mjs). Needs `rustup target add wasm32-wasip1` and Node 20+.
# Tests that read ../shared print their skip line (no file system access under WASI).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}/wasm32-simd128-tests
export RUSTFLAGS="-C target-feature=+simd128"
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
