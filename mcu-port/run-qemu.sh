#!/usr/bin/env bash
# Builds the edgeplug QEMU firmware for TARGET with PLUGIN embedded, runs it, passes its
# output through and exits with its status.
#
#   mcu-port/run-qemu.sh [--native] TARGET PLUGIN
#
# TARGET: cortex-m4 (QEMU mps2-an386) or riscv32imac (QEMU virt). PLUGIN: a plugin
# component (.wasm), e.g. from `edgeplug pack kws_ds_cnn_int8.tflite --name kws ...`.
# --native: run the model that the plugin carries with the native executor instead of the
# plugin on wasmi (for the native-vs-wasmi comparison).
#
# EDGEPLUG_TRUST_PUB (required): the trusted public key file (`edgeplug.pub` from `edgeplug
# keygen`, 33 bytes), embedded into the firmware at build time. The firmware verifies the
# plugin against it (signature, component, manifest, interface) before parsing it, runs the
# manifest's self-test after loading it, and refuses it otherwise (exit status 5).
#
# The firmware carries KWS test vectors from ../shared/models/vectors/kws_ds_cnn_int8
# (EDGEPLUG_VECTORS to use another directory, EDGEPLUG_VECTOR_IDS to pick, default
# 11,0,6) and fails unless its outputs equal TFLM's bytes.
#
# Environment: EDGEPLUG_RAM_KIB (RAM size in KiB; default 512 as in ld/memory.x: the KWS
# plugin on wasmi needs ~0.9 MB and stops with `out of heap` there; CI uses 1024, an SRAM +
# PSRAM class part, see README "RAM"),
# EDGEPLUG_FW_FEATURES (extra cargo features of the firmware crate, comma-separated, e.g.
# `copy-slot`: copy the booted plugin out of its flash slot into RAM instead of running it
# in place, to measure the difference; see README; `simd`: wasmi with Wasm SIMD, needed for
# a plugin built with +simd128, see README "simd128 on the MCU"),
# EDGEPLUG_QEMU_TIMEOUT (seconds, default 1200), QEMU_SYSTEM_ARM / QEMU_SYSTEM_RISCV32
# (QEMU binaries; default from PATH), EDGEPLUG_REQUIRE_SHARED=1 (fail instead of skipping
# when ../shared is absent).
#
# The firmware installs the plugin into slot A of a simulated memory-mapped NOR flash
# (edgeplug_mcu::slots: trust set and anti-rollback counter in that flash), boots it as a
# trial, verifies it, runs its self-test and only then confirms the slot (`slot: A
# confirmed seq=N`); see README "The firmware's boot".
#
# Output: the firmware's lines (`result: <label> <score>` per vector, `outputs match: N/N`,
# `instructions: N` per inference, `heap_peak: N`, `stack_peak: N`, ...), then `flash: ...`
# (text + rodata of the ELF, from binutils `size -A`).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
native=0
if [ "${1:-}" = "--native" ]; then
    native=1
    shift
fi
if [ $# -ne 2 ]; then
    echo "usage: $0 [--native] cortex-m4|riscv32imac PLUGIN.wasm" >&2
    exit 2
fi
target="$1"
plugin="$2"

case "$target" in
    cortex-m4)
        crate="$here/examples/qemu-cortex-m4"
        triple="thumbv7em-none-eabihf"
        bin="edgeplug-fw-cortex-m4"
        qemu="${QEMU_SYSTEM_ARM:-qemu-system-arm}"
        machine=(-M mps2-an386)
        ;;
    riscv32imac)
        crate="$here/examples/qemu-riscv32imac"
        triple="riscv32imac-unknown-none-elf"
        bin="edgeplug-fw-riscv32imac"
        qemu="${QEMU_SYSTEM_RISCV32:-qemu-system-riscv32}"
        machine=(-M virt -bios none)
        ;;
    *)
        echo "error: unknown TARGET \`$target\` (expected cortex-m4 or riscv32imac)" >&2
        exit 2
        ;;
esac

shared="$here/../../shared/models"
if [ -z "${EDGEPLUG_VECTORS:-}" ] && [ ! -d "$shared" ]; then
    if [ "${EDGEPLUG_REQUIRE_SHARED:-}" = "1" ]; then
        echo "error: ../shared/models not found and EDGEPLUG_REQUIRE_SHARED=1" >&2
        exit 1
    fi
    echo "skipped: ../shared/models not found"
    exit 0
fi
vectors="${EDGEPLUG_VECTORS:-$shared/vectors/kws_ds_cnn_int8}"

if [ -z "${EDGEPLUG_TRUST_PUB:-}" ]; then
    echo "error: EDGEPLUG_TRUST_PUB is not set: give the trusted public key file (edgeplug.pub from \`edgeplug keygen\`) the firmware verifies the plugin with" >&2
    exit 2
fi
if [ ! -f "$EDGEPLUG_TRUST_PUB" ]; then
    echo "error: EDGEPLUG_TRUST_PUB: \`$EDGEPLUG_TRUST_PUB\` not found" >&2
    exit 2
fi
if [ ! -f "$plugin" ]; then
    echo "error: plugin \`$plugin\` not found" >&2
    exit 2
fi
if ! command -v "$qemu" >/dev/null; then
    echo "error: \`$qemu\` not found (apt-get install qemu-system-arm qemu-system-misc)" >&2
    exit 2
fi

feature_list="${EDGEPLUG_FW_FEATURES:-}"
[ "$native" = 1 ] && feature_list="native${feature_list:+,$feature_list}"
features=()
[ -n "$feature_list" ] && features=(--features "$feature_list")
(
    cd "$crate"
    EDGEPLUG_PLUGIN="$(realpath "$plugin")" EDGEPLUG_VECTORS="$(realpath "$vectors")" \
        EDGEPLUG_TRUST_PUB="$(realpath "$EDGEPLUG_TRUST_PUB")" \
        CARGO_TARGET_DIR="$crate/target" \
        cargo build --release --locked --quiet "${features[@]}"
)
elf="$crate/target/$triple/release/$bin"

status=0
timeout "${EDGEPLUG_QEMU_TIMEOUT:-1200}" "$qemu" "${machine[@]}" -nographic \
    -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf" || status=$?
if [ "$status" -eq 124 ]; then
    echo "error: QEMU timed out" >&2
fi

if command -v size >/dev/null; then
    size -A "$elf" | awk -v plugin="$(stat -c %s "$plugin")" '
        $1 == ".text" { text += $2 } $1 == ".rodata" { rodata += $2 }
        $1 ~ /^\.(vector_table|init|init\.rust|trap|eh_frame|data)$/ { other += $2 }
        $1 == ".data" || $1 == ".bss" || $1 == ".uninit" { ram += $2 }
        END { printf "flash: %d bytes (text %d + rodata %d + other %d; the plugin is %d of rodata)\n",
                     text + rodata + other, text, rodata, other, plugin
              printf "static_ram: %d bytes (.data + .bss + .uninit)\n", ram }'
fi
exit "$status"
