//! Decides whether the kernels use the Arm DSP extension.
//!
//! Stable Rust does not expose Arm target features to `cfg(target_feature = ...)`
//! (`rustc --print cfg --target thumbv7em-none-eabihf` lists none), so the DSP path is
//! keyed on the target name instead: every ARMv7E-M core (`thumbv7em-*`: Cortex-M4/M7)
//! implements the DSP extension (SMLAD, SXTB16, ...).
//!
//! - `edgeplug_arm_dsp`: `crate::dsp` uses the real instructions (inline assembly).
//! - `edgeplug_dsp_dispatch`: the top-level CONV_2D / DEPTHWISE_CONV_2D dispatch to the DSP
//!   variants. Set with `edgeplug_arm_dsp`, and on any other target when the environment
//!   variable `EDGEPLUG_KERNELS_DSP=emulate` is set at build time (the variants then run on
//!   the portable emulation of the instructions: used to run whole models through the DSP
//!   variants on a development machine). Never set for `wasm32`.
//!
//! `EDGEPLUG_KERNELS_DSP=off` sets neither (the portable kernels everywhere, e.g. to
//! measure the DSP path's gain on the same tree).

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(edgeplug_arm_dsp)");
    println!("cargo::rustc-check-cfg=cfg(edgeplug_dsp_dispatch)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=EDGEPLUG_KERNELS_DSP");
    let target = env::var("TARGET").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let mode = env::var("EDGEPLUG_KERNELS_DSP").unwrap_or_default();
    let arm_dsp = mode != "off"
        && arch == "arm"
        && (target.starts_with("thumbv7em-") || features.split(',').any(|f| f == "dsp"));
    let emulate = arch != "wasm32" && mode == "emulate";
    if arm_dsp {
        println!("cargo::rustc-cfg=edgeplug_arm_dsp");
    }
    if arm_dsp || emulate {
        println!("cargo::rustc-cfg=edgeplug_dsp_dispatch");
    }
}
