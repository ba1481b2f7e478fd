//! Builds the guest plugins (`plugins/runner`, `plugins/kws`, `plugins/anomaly`,
//! `plugins/image`) for `wasm32-unknown-unknown` with a nested `cargo build`, and the runner
//! once more with `+simd128` (`edgeplug_runner_simd128.wasm`, for gateway-only plugins),
//! copies their core modules into `OUT_DIR`, and makes the **signed plugins** under
//! `<cargo target dir>/plugins/`:
//!
//! - `kws.wasm`, `anomaly.wasm`, `ic.wasm`, `vww.wasm` (the MLPerf Tiny models from
//!   `../shared/models`, skipped with a warning when that directory is absent, a build
//!   error when `EDGEPLUG_REQUIRE_SHARED=1`) and `demo.wasm` (the KWS guest with
//!   `demo/kws/*.tflite`, when that file exists);
//! - each is made by `plugins/signer` (a tool built here, optimized, like the guests): the
//!   guest core with the model packed into its slot, componentized, run once on wasmi (the
//!   self-test: its output digest, fuel and memory go into the manifest), given its
//!   manifest and signed with the development key `dev.key` (generated from OS randomness
//!   on the first build, mode 0600; `dev.pub` is its public half). The tool skips a plugin
//!   whose inputs did not change (`NAME.stamp`).
//!
//! The guests form their own workspaces (each guest's manifest has a `[workspace]` table),
//! are built in their own target directory (a nested build in the outer target directory
//! would wait forever on the lock the outer build holds) and with a clean environment (the
//! outer build's `RUSTFLAGS`, wrappers such as clippy-driver and profile settings must not
//! leak into the guest build). See `plugins/README.md`.
use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest crates: (directory under `plugins/`, name of the produced `.wasm`).
const GUESTS: &[(&str, &str)] = &[
    ("runner", "edgeplug_runner"),
    ("kws", "edgeplug_kws"),
    ("anomaly", "edgeplug_anomaly"),
    ("image", "edgeplug_image"),
];

/// Linker flags of every guest: a 16 KiB stack gives a 1-page plugin instead of 17 pages.
const GUEST_RUSTFLAGS: &[&str] = &["-Clink-arg=-zstack-size=16384"];

/// The same, plus Wasm SIMD: the runner of gateway-only plugins.
const GUEST_SIMD128_RUSTFLAGS: &[&str] =
    &["-Clink-arg=-zstack-size=16384", "-Ctarget-feature=+simd128"];

/// The CIFAR-10 classes in output order.
const CIFAR10: &[&str] = &[
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The KWS classes in output order (FRONTENDS.md, `kws_model_settings.cc`).
const KWS_LABELS: &[&str] = &[
    "down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown",
];

/// One signed plugin to make.
struct SignedPlugin {
    name: &'static str,
    guest: &'static str,
    model: PathBuf,
    labels: Vec<String>,
    intended_use: &'static str,
    training_data: &'static str,
    limitations: &'static str,
    license: &'static str,
    authors: &'static [&'static str],
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let root = manifest_dir
        .parent()
        .expect("plugins/ has a parent")
        .to_path_buf();
    for dir in [
        "plugins/runner/src",
        "plugins/runner/Cargo.toml",
        "plugins/kws/src",
        "plugins/kws/Cargo.toml",
        "plugins/anomaly/src",
        "plugins/anomaly/Cargo.toml",
        "plugins/image/src",
        "plugins/image/Cargo.toml",
        "guest-sdk/sdk",
        "guest-sdk/dsp/src",
        "guest-sdk/dsp/Cargo.toml",
        "guest-sdk/model/src",
        "guest-sdk/model/Cargo.toml",
        "guest-sdk/kernels/src",
        "guest-sdk/kernels/Cargo.toml",
        "plugins/signer/src",
        "plugins/signer/Cargo.toml",
        "plugins/src/pack.rs",
        "guest-sdk/signing/src",
        "guest-sdk/tflite/src",
        "mcu-port/src",
        "wit",
        "Cargo.toml",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo::rerun-if-env-changed=EDGEPLUG_GUEST_TARGET_DIR");
    println!("cargo::rerun-if-env-changed=EDGEPLUG_REQUIRE_SHARED");

    let guest_dir = env::var_os("EDGEPLUG_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| guest_target_dir(&out_dir));
    for (dir, artifact) in GUESTS {
        build_guest(&manifest_dir.join(dir), artifact, &guest_dir, &out_dir);
    }
    // The runner once more with Wasm SIMD, for gateway-only plugins (`edgeplug pack
    // --simd128`); its own target directory, so the two builds do not invalidate each other.
    let simd_dir = guest_dir.join("simd128");
    nested_build(
        &manifest_dir.join("runner"),
        &simd_dir,
        Some(GUEST_SIMD128_RUSTFLAGS),
    );
    copy_guest(
        &simd_dir,
        "edgeplug_runner",
        &out_dir,
        "edgeplug_runner_simd128",
    );
    let plugins = signed_plugins(&root);

    let plugins_dir = cargo_target_dir(&out_dir).join("plugins");
    fs::create_dir_all(&plugins_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", plugins_dir.display()));
    println!(
        "cargo::rustc-env=EDGEPLUG_SIGNED_PLUGINS_DIR={}",
        plugins_dir.display()
    );
    let signer = if plugins.is_empty() {
        None
    } else {
        Some(build_signer(&manifest_dir.join("signer"), &guest_dir))
    };
    let mut built = Vec::new();
    for plugin in &plugins {
        let Some(signer) = &signer else { break };
        let status = Command::new(signer)
            .arg(&plugins_dir)
            .arg(out_dir.join(format!("{}.wasm", plugin.guest)))
            .arg(&plugin.model)
            .arg(plugins_dir.join(format!("{}.wasm", plugin.name)))
            .arg(plugin.name)
            .arg(env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "0.1.0".into()))
            .arg(plugin.labels.join("\n"))
            .arg(plugin.intended_use)
            .arg(plugin.training_data)
            .arg(plugin.limitations)
            .arg(plugin.license)
            .arg(plugin.authors.join("\n"))
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", signer.display()));
        if !status.success() {
            panic!("making the signed plugin {} failed ({status})", plugin.name);
        }
        built.push(plugin.name);
    }
    let list: Vec<String> = built.iter().map(|n| format!("{n:?}")).collect();
    fs::write(
        out_dir.join("signed_plugins.rs"),
        format!("&[{}]", list.join(", ")),
    )
    .expect("write signed_plugins.rs");
}

/// The plugins to sign: the MLPerf ones if `../shared/models` exists, the demo if
/// `demo/kws/*.tflite` exists.
fn signed_plugins(root: &Path) -> Vec<SignedPlugin> {
    let mut plugins = Vec::new();
    let shared = root.join("../shared/models");
    if shared.is_dir() {
        let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        for (name, guest, file, labels, intended_use, training_data, limitations) in [
            (
                "kws",
                "edgeplug_kws",
                "kws_ds_cnn_int8.tflite",
                labels(KWS_LABELS),
                "Keyword spotting: one second of 16 kHz mono speech, 10 words plus silence and unknown.",
                "Speech Commands v2 (MLPerf Tiny KWS reference model, DS-CNN).",
                "Reference benchmark model; recognizes only its 10 words; synthetic speech is often misread.",
            ),
            (
                "anomaly",
                "edgeplug_anomaly",
                "ad_autoencoder_int8.tflite",
                Vec::new(),
                "Machine-sound anomaly score of a 10 s 16 kHz clip (higher = more anomalous).",
                "ToyADMOS ToyCar via DCASE2020 Task 2 (MLPerf Tiny AD reference autoencoder).",
                "No threshold: calibrate one on normal recordings of the machine at hand.",
            ),
            (
                "ic",
                "edgeplug_image",
                "ic_resnet8_int8.tflite",
                labels(CIFAR10),
                "Image classification into the 10 CIFAR-10 classes; any image size (resized to 32x32).",
                "CIFAR-10 (MLPerf Tiny IC reference model, ResNet-8).",
                "32x32 input: small, centered objects of the 10 classes only.",
            ),
            (
                "vww",
                "edgeplug_image",
                "vww_mobilenet_int8.tflite",
                labels(&["no_person", "person"]),
                "Visual wake words: is there a person in the image? Any image size (resized to 96x96).",
                "Visual Wake Words from COCO (MLPerf Tiny VWW reference model, MobileNetV1 0.25x).",
                "96x96 input; small or distant people are missed.",
            ),
        ] {
            let model = shared.join(file);
            println!("cargo::rerun-if-changed={}", model.display());
            plugins.push(SignedPlugin {
                name,
                guest,
                model,
                labels,
                intended_use,
                training_data,
                limitations,
                license: "Apache-2.0",
                authors: if name == "anomaly" {
                    &[
                        "MLCommons MLPerf Tiny",
                        "Hitachi, Ltd. (DCASE2020 baseline, MIT)",
                    ]
                } else {
                    &["MLCommons MLPerf Tiny (github.com/mlcommons/tiny)"]
                },
            });
        }
    } else if env::var_os("EDGEPLUG_REQUIRE_SHARED").is_some_and(|v| v == "1") {
        panic!(
            "EDGEPLUG_REQUIRE_SHARED=1 but {} does not exist: cannot build the MLPerf plugins",
            shared.display()
        );
    } else {
        println!(
            "cargo::warning=../shared/models not found: the kws, anomaly, ic and vww plugins are \
             not built"
        );
    }
    let demo = root.join("demo");
    if demo.is_dir() {
        // A directory is scanned recursively, so a model appearing in demo/kws reruns this.
        println!("cargo::rerun-if-changed={}", demo.display());
    }
    let demo_kws = demo.join("kws");
    let mut models: Vec<PathBuf> = fs::read_dir(&demo_kws)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tflite"))
        .collect();
    models.sort();
    if let Some(model) = models.into_iter().next() {
        let labels = fs::read_to_string(demo_kws.join("labels.txt"))
            .map(|t| {
                t.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        plugins.push(SignedPlugin {
            name: "demo",
            guest: "edgeplug_kws",
            model,
            labels,
            intended_use: "The project's demo keyword-spotting model (see demo/kws).",
            training_data: "Generated by demo/kws's training script (see its model card).",
            limitations: "A small demo model trained on synthetic data.",
            license: "Apache-2.0",
            authors: &["edgeplug"],
        });
    }
    plugins
}

/// Builds one guest crate and copies its core module to `out_dir/<artifact>.wasm`.
fn build_guest(manifest_dir: &Path, artifact: &str, target_dir: &Path, out_dir: &Path) {
    nested_build(manifest_dir, target_dir, Some(GUEST_RUSTFLAGS));
    copy_guest(target_dir, artifact, out_dir, artifact);
}

/// Copies the core module `<artifact>.wasm` a guest build left in `target_dir` to
/// `out_dir/<name>.wasm`.
fn copy_guest(target_dir: &Path, artifact: &str, out_dir: &Path, name: &str) {
    let built = target_dir
        .join("wasm32-unknown-unknown/release")
        .join(format!("{artifact}.wasm"));
    let dest = out_dir.join(format!("{name}.wasm"));
    fs::copy(&built, &dest)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", built.display(), dest.display()));
}

/// Builds `plugins/signer` (optimized: it runs the self-tests on wasmi) for the build
/// machine and returns its path.
fn build_signer(manifest_dir: &Path, target_dir: &Path) -> PathBuf {
    nested_build(manifest_dir, target_dir, None);
    target_dir
        .join("release")
        .join(format!("edgeplug-plugin-signer{}", env::consts::EXE_SUFFIX))
}

/// `cargo build --release` of the crate at `manifest_dir` (its own workspace) in
/// `target_dir`, for `wasm32-unknown-unknown` with the guest flags `wasm` or (`None`) for
/// the build machine, with the outer build's environment removed.
fn nested_build(manifest_dir: &Path, target_dir: &Path, wasm: Option<&[&str]>) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let manifest = manifest_dir.join("Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    if wasm.is_some() {
        cmd.arg("--target=wasm32-unknown-unknown");
    }
    for (key, _) in env::vars_os() {
        let key_str = key.to_string_lossy();
        let keep = matches!(
            key_str.as_ref(),
            "CARGO_HOME" | "CARGO_MAKEFLAGS" | "CARGO_NET_OFFLINE" | "CARGO_HTTP_TIMEOUT"
        ) || key_str.starts_with("CARGO_REGISTRIES_")
            || key_str.starts_with("CARGO_NET_");
        let drop = (key_str.starts_with("CARGO_") && !keep)
            || matches!(
                key_str.as_ref(),
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "TARGET"
                    | "HOST"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "OUT_DIR"
                    | "NUM_JOBS"
            );
        if drop {
            cmd.env_remove(&key);
        }
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", wasm.unwrap_or(&[]).join("\x1f"));
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cargo.to_string_lossy()));
    if !status.success() {
        panic!(
            "building {} failed ({status}); is the wasm32 target installed? \
             (`rustup target add wasm32-unknown-unknown`)",
            manifest_dir.display()
        );
    }
}

/// `<outer target dir>/<profile>/edgeplug-guests`: outside `OUT_DIR` (which changes with every
/// change of this crate's fingerprint) so guest builds stay incremental.
fn guest_target_dir(out_dir: &Path) -> PathBuf {
    profile_dir(out_dir)
        .map(|profile_dir| profile_dir.join("edgeplug-guests"))
        .unwrap_or_else(|| out_dir.join("edgeplug-guests"))
}

/// `OUT_DIR = <target>/[<triple>/]<profile>/build/edgeplug-plugins-<hash>/out`: the
/// profile directory.
fn profile_dir(out_dir: &Path) -> Option<&Path> {
    out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
}

/// The cargo target directory: the directory above the profile directory (and above the
/// target triple's directory in a cross build), which holds `CACHEDIR.TAG`.
fn cargo_target_dir(out_dir: &Path) -> PathBuf {
    let Some(above_profile) = profile_dir(out_dir).and_then(Path::parent) else {
        return out_dir.to_path_buf();
    };
    let triple = env::var("TARGET").unwrap_or_default();
    match above_profile.parent() {
        Some(up)
            if above_profile
                .file_name()
                .is_some_and(|n| n == triple.as_str())
                && up.join("CACHEDIR.TAG").is_file() =>
        {
            up.to_path_buf()
        }
        _ => above_profile.to_path_buf(),
    }
}
