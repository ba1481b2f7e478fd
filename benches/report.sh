#!/usr/bin/env bash
# Writes BENCHMARKS.md and benches/plots/*.svg: every model (demo, KWS, VWW, IC, AD) on
# native, wasmtime and wasmi in one run, against LiteRT on the same inputs, plus the
# Cortex-M4 instruction counts under QEMU and the published MLPerf Tiny anchors.
# Slow (tens of minutes on 2 cores); not part of CI.
#
#   benches/report.sh [--quick] [--no-qemu] [--out FILE] [--plots DIR]
#
# --out / --plots write the report and its plots elsewhere (default BENCHMARKS.md and
# benches/plots; relative paths are taken from the workspace root), e.g. for a --quick trial
# run that must not replace the committed report.
#
# Steps:
#  1. builds two extra runner guests (plugins/runner) into $EDGEPLUG_REPORT_DIR: `scalar`
#     (the shared artifact's flags) and `simd128` (+ -C target-feature=+simd128), so the
#     report compares them with the shared artifact in the same run;
#  2. LiteRT: benches/litert_bench.py in a venv with ai-edge-litert (demo/.venv if it has it,
#     else $EDGEPLUG_REPORT_DIR/venv, created with pip);
#  3. Cortex-M4: mcu-port/run-qemu.sh (wasmi and --native) with the KWS plugin, unless
#     --no-qemu or QEMU is missing (the report then cites mcu-port/README.md's figures);
#  4. peak RSS: `report rss` in its own process;
#  5. `report` (release build, feature wasmi-simd so wasmi can run the simd128 runner); it
#     also measures the cost of one `infer` call and the gateway figures (cold start with and
#     without a compile-cache hit, hot swap, KWS requests/s over HTTP loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=""
qemu=1
out=$root/BENCHMARKS.md
plots=$root/benches/plots
usage="usage: $0 [--quick] [--no-qemu] [--out FILE] [--plots DIR]"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick="--quick" ;;
        --no-qemu) qemu=0 ;;
        --out) [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }; out=$2; shift ;;
        --plots) [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }; plots=$2; shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$plots"

shared=$root/../shared/models
if [ ! -d "$shared" ]; then
    echo "../shared/models not found: the report needs the MLPerf Tiny models" >&2
    exit 1
fi
work=${EDGEPLUG_REPORT_DIR:-$root/target/report}
mkdir -p "$work"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

echo "== 1. runner guests (scalar, simd128)"
build_runner() { # NAME RUSTFLAGS(\x1f-separated)
    env -u RUSTFLAGS -u CARGO_TARGET_DIR CARGO_ENCODED_RUSTFLAGS="$2" \
        cargo build --release --locked --target=wasm32-unknown-unknown \
        --manifest-path plugins/runner/Cargo.toml --target-dir "$work/guest-$1" >&2
    echo "$work/guest-$1/wasm32-unknown-unknown/release/edgeplug_runner.wasm"
}
stack='-Clink-arg=-zstack-size=16384'
scalar=$(build_runner scalar "$stack")
simd=$(build_runner simd128 "$stack"$'\x1f''-Ctarget-feature=+simd128')
export EDGEPLUG_RUNNERS="scalar=$scalar,simd128=$simd"

echo "== 2. LiteRT"
py=""
for cand in "$root/demo/.venv/bin/python" "$work/venv/bin/python"; do
    if [ -x "$cand" ] && "$cand" -c 'import ai_edge_litert' 2>/dev/null; then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet ai-edge-litert numpy
    py="$work/venv/bin/python"
fi
specs=(demo="$root/demo/vibration_int8.tflite:$root/demo/samples/bearing_fault.bin")
for pair in kws:kws_ds_cnn_int8 vww:vww_mobilenet_int8 ic:ic_resnet8_int8 ad:ad_autoencoder_int8; do
    name=${pair%%:*}
    stem=${pair#*:}
    v=$shared/vectors/$stem
    specs+=("$name=$shared/$stem.tflite:$v/in_0.bin:$v/out_0.bin")
done
"$py" benches/litert_bench.py "$work/litert.json" "${specs[@]}"
export EDGEPLUG_LITERT_JSON=$work/litert.json

echo "== 3. Cortex-M4 under QEMU"
# One build for the CLI and the report (same features, so nothing is compiled twice).
cargo build --release --locked -p edgeplug -p edgeplug-benches --features edgeplug-benches/wasmi-simd >&2
if [ "$qemu" = 1 ] && command -v qemu-system-arm >/dev/null; then
    keys=$work/keys
    rm -rf "$keys"
    "$CARGO_TARGET_DIR/release/edgeplug" keygen --out "$keys"
    printf '%s\n' down go left no off on right stop up yes silence unknown >"$work/kws-labels.txt"
    "$CARGO_TARGET_DIR/release/edgeplug" pack "$shared/kws_ds_cnn_int8.tflite" --name kws \
        --version 1.0.0 --sequence 1 --labels "$work/kws-labels.txt" --key "$keys/edgeplug.key" \
        -o "$work/kws.wasm"
    {
        EDGEPLUG_TRUST_PUB="$keys/edgeplug.pub" EDGEPLUG_RAM_KIB=1024 \
            mcu-port/run-qemu.sh cortex-m4 "$work/kws.wasm"
        echo "--native"
        EDGEPLUG_TRUST_PUB="$keys/edgeplug.pub" mcu-port/run-qemu.sh --native cortex-m4 "$work/kws.wasm"
    } >"$work/m4.log" 2>&1 || echo "QEMU run failed (see $work/m4.log); the report cites the README" >&2
    export EDGEPLUG_M4_LOG=$work/m4.log
fi

echo "== 4. peak RSS, 5. report"
report=$CARGO_TARGET_DIR/release/report
"$report" rss >"$work/rss.txt"
export EDGEPLUG_RSS=$work/rss.txt
"$report" --out "$out" --plots "$plots" $quick
