//! `edgeplug new`: the scaffolded plugin crate passes its own `cargo test` as generated;
//! bad names and non-empty directories are refused.

use crate::cli::{assert_one_line_error, edgeplug, p, tmpdir};
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn invalid_names_existing_directories_and_a_missing_sdk_are_refused() {
    let dir = tmpdir("new-bad");
    for (name, needle) in [
        ("2fast", "must start with an ASCII letter"),
        ("my plugin", "may only contain"),
        ("émoji", "must start with an ASCII letter"),
        ("fn", "Rust keyword"),
        ("test", "reserved"),
        ("edgeplug-guest", "reserved"),
        ("", "empty"),
    ] {
        let out = edgeplug(&["new", name, "--path", p(&dir.join("x"))]);
        assert_one_line_error(&out, &["invalid plugin name", needle]);
    }
    assert!(!dir.join("x").exists(), "nothing written for a bad name");
    let taken = dir.join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("keep.txt"), "mine").unwrap();
    let out = edgeplug(&["new", "sensor", "--path", p(&taken)]);
    assert_one_line_error(&out, &["already exists and is not empty"]);
    assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 1, "untouched");
    let file = dir.join("file");
    std::fs::write(&file, "x").unwrap();
    assert_one_line_error(
        &edgeplug(&["new", "sensor", "--path", p(&file)]),
        &["is not a directory"],
    );
    assert_one_line_error(
        &edgeplug(&[
            "new",
            "sensor",
            "--path",
            p(&dir.join("s")),
            "--sdk",
            p(&dir),
        ]),
        &["guest SDK was not found", "--sdk"],
    );
    // An existing empty directory is fine.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = edgeplug(&["new", "sensor", "--path", p(&empty)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(empty.join("src/lib.rs").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Where the scaffolded crate is built: a directory of the host's target dir kept between
/// runs, so that a rerun is incremental (the first run compiles the SDK's dependencies).
fn scaffold_target_dir() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_edgeplug"));
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("scaffold-test")
}

/// One build: `edgeplug new`, then `cargo test --offline` in the new crate.
#[test]
fn the_scaffolded_crate_passes_its_own_cargo_test() {
    let dir = tmpdir("new-ok");
    let krate = dir.join("door-sensor");
    let out = edgeplug(&["new", "door-sensor", "--path", p(&krate)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("created plugin crate `door-sensor`"),
        "{text}"
    );
    for file in [
        "Cargo.toml",
        ".cargo/config.toml",
        "src/lib.rs",
        "model.epm",
        "README.md",
    ] {
        assert!(krate.join(file).is_file(), "{file} missing");
    }
    // The model is a valid .epm the executor accepts.
    let epm = std::fs::read(krate.join("model.epm")).unwrap();
    let model = edgeplug_model::format::decode(&epm).unwrap();
    edgeplug_model::Interpreter::new(&model).unwrap();
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"door-sensor\""), "{manifest}");
    assert!(manifest.contains("guest-sdk/sdk\""), "{manifest}");

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--offline"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", scaffold_target_dir());
    // Nothing of the outer cargo's environment may leak into the nested build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME" && !key.starts_with("CARGO_NET_"))
            || matches!(
                key.as_str(),
                "RUSTFLAGS" | "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER"
            )
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("CARGO_TARGET_DIR", scaffold_target_dir());
    let out = cmd.output().expect("run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo test failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("test result: ok. 3 passed"),
        "the template's 3 tests did not all run: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
