//! `edgeplug new NAME`: scaffolds a plugin crate (front end + model + post-processing) that
//! builds for `wasm32-unknown-unknown` and passes its own `cargo test` as generated.
//!
//! The crate depends on this checkout's guest SDK by path ([`default_sdk_dir`], found from
//! where this crate was compiled; override it with [`ScaffoldOptions::sdk`]) and carries a
//! small working model (`model.epm`, [`template_model`]) for its example front end, so that
//! everything runs before the author brings their own model.
//!
//! ```
//! use edgeplug::scaffold::check_crate_name;
//!
//! assert!(check_crate_name("door-sensor").is_ok());
//! assert!(check_crate_name("2fast").is_err());
//! ```

use edgeplug_model::{
    Activation, DType, FullyConnectedOptions, Model, OpKind, Operator, Quantization, Tensor,
};
use std::path::{Path, PathBuf};

const CARGO_TOML: &str = include_str!("../templates/plugin/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("../templates/plugin/lib.rs.tmpl");
const CONFIG_TOML: &str = include_str!("../templates/plugin/config.toml.tmpl");
const README_MD: &str = include_str!("../templates/plugin/README.md.tmpl");
const GITIGNORE: &str = include_str!("../templates/plugin/gitignore.tmpl");

/// Why a plugin crate could not be scaffolded. Displays as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScaffoldError {
    /// The name is not a valid crate name.
    #[error("invalid plugin name `{name}`: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The target directory exists and is not empty.
    #[error("`{0}` already exists and is not empty; choose another --path or remove it")]
    NotEmpty(PathBuf),
    /// The target path exists and is not a directory.
    #[error("`{0}` exists and is not a directory")]
    NotADirectory(PathBuf),
    /// The guest SDK was not found where expected.
    #[error(
        "the edgeplug guest SDK was not found at `{0}` (expected guest-sdk/sdk/Cargo.toml of an edgeplug checkout); give its location with --sdk DIR"
    )]
    SdkNotFound(PathBuf),
    /// A path cannot be written into Cargo.toml.
    #[error("`{0}` cannot be used as a path in Cargo.toml (not valid UTF-8)")]
    BadPath(PathBuf),
    /// A file could not be written.
    #[error("cannot write `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What to scaffold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaffoldOptions {
    /// The crate's (and plugin's) name: see [`check_crate_name`].
    pub name: String,
    /// The crate's directory: created if missing; must be empty if it exists.
    pub dir: PathBuf,
    /// The guest SDK: an edgeplug checkout's `guest-sdk` directory, or its `guest-sdk/sdk`
    /// crate directory.
    pub sdk: PathBuf,
}

/// This checkout's `guest-sdk` directory, as compiled into this library.
pub fn default_sdk_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk"))
}

/// Names Cargo refuses or that would shadow crates a plugin needs.
const RESERVED: &[&str] = &[
    "std",
    "core",
    "alloc",
    "test",
    "proc_macro",
    "proc-macro",
    "edgeplug",
    "edgeplug-guest",
    "edgeplug_guest",
    "edgeplug-model",
    "edgeplug_model",
    "wit-bindgen",
    "wit_bindgen",
    "build",
    "deps",
    "examples",
    "incremental",
];

/// Rust keywords (strict and reserved), which cannot be crate names.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Checks that `name` can be the plugin crate's name: 1 to 64 ASCII letters, digits, `-`
/// and `_`, starting with a letter, not a Rust keyword nor a reserved name (`std`, `test`,
/// `edgeplug-guest`, ...).
pub fn check_crate_name(name: &str) -> Result<(), ScaffoldError> {
    let invalid = |reason| {
        Err(ScaffoldError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > 64 {
        return invalid("it is longer than 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return invalid("a crate name must start with an ASCII letter");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return invalid("a crate name may only contain ASCII letters, digits, `-` and `_`");
    }
    let lower = name.to_ascii_lowercase();
    if KEYWORDS.contains(&lower.replace('-', "_").as_str()) {
        return invalid("it is a Rust keyword");
    }
    if RESERVED.contains(&lower.as_str()) {
        return invalid("it is reserved (a standard or edgeplug crate, or a Cargo directory)");
    }
    Ok(())
}

/// `door-sensor` -> `DoorSensor` (the plugin type's name).
fn camel_case(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The `guest-sdk/sdk` crate directory for `sdk` (either that directory or its parent).
fn sdk_crate_dir(sdk: &Path) -> Result<PathBuf, ScaffoldError> {
    for candidate in [sdk.join("sdk"), sdk.to_path_buf()] {
        let manifest = candidate.join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest)
            && text.contains("name = \"edgeplug-guest\"")
        {
            return candidate
                .canonicalize()
                .map_err(|source| ScaffoldError::Io {
                    path: candidate.clone(),
                    source,
                });
        }
    }
    Err(ScaffoldError::SdkNotFound(sdk.to_path_buf()))
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The example model the scaffold carries (`model.epm`): int8 features [1, 4] (scale 1/255,
/// zero point -128: levels 0..1) -> FULLY_CONNECTED with weights -1, 0, +1 per class and
/// biases +2, 0, -2 -> logits [1, 3] (scale 1/32) -> SOFTMAX -> int8 [1, 3] (scale 1/256,
/// zero point -128). Mean level 0 gives class 0 (`quiet`), 1 gives class 2 (`loud`).
pub fn template_model() -> Vec<u8> {
    let in_scale = 1.0f32 / 255.0;
    let w_scale = 1.0f32 / 64.0;
    let weights: Vec<u8> = [-64i8, 0, 64].iter().flat_map(|&w| [w as u8; 4]).collect();
    // Bias scale = input scale * weight scale; real biases +2, 0, -2.
    let bias_q = (2.0 / (f64::from(in_scale) * f64::from(w_scale))).round() as i32;
    let bias: Vec<u8> = [bias_q, 0, -bias_q]
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .collect();
    let model = Model {
        name: "scaffold-example".into(),
        description: "edgeplug new: example model (signal level -> quiet/medium/loud)".into(),
        tensors: vec![
            Tensor::activation(
                "features",
                DType::I8,
                &[1, 4],
                Some(Quantization::per_tensor(in_scale, -128)),
            ),
            Tensor {
                name: "weights".into(),
                dtype: DType::I8,
                shape: vec![3, 4],
                quantization: Some(Quantization::per_tensor(w_scale, 0)),
                data: Some(&weights),
            },
            Tensor {
                name: "bias".into(),
                dtype: DType::I32,
                shape: vec![3],
                quantization: Some(Quantization::per_tensor(in_scale * w_scale, 0)),
                data: Some(&bias),
            },
            Tensor::activation(
                "logits",
                DType::I8,
                &[1, 3],
                Some(Quantization::per_tensor(1.0 / 32.0, 0)),
            ),
            Tensor::activation(
                "scores",
                DType::I8,
                &[1, 3],
                Some(Quantization::per_tensor(1.0 / 256.0, -128)),
            ),
        ],
        operators: vec![
            Operator {
                kind: OpKind::FullyConnected(FullyConnectedOptions {
                    activation: Activation::None,
                    keep_num_dims: false,
                }),
                inputs: vec![0, 1, 2],
                outputs: vec![3],
            },
            Operator {
                kind: OpKind::Softmax { beta: 1.0 },
                inputs: vec![3],
                outputs: vec![4],
            },
        ],
        inputs: vec![0],
        outputs: vec![4],
    };
    // The model is fixed and valid: encoding cannot fail.
    edgeplug_model::format::encode(&model).unwrap_or_default()
}

/// Writes the plugin crate: `Cargo.toml`, `.cargo/config.toml` (the wasm32 stack size),
/// `src/lib.rs` (the plugin and its tests), `model.epm`, `README.md`, `.gitignore`.
/// Returns the files written. Refuses an invalid name, a non-empty existing directory and a
/// missing SDK before writing anything.
pub fn scaffold(options: &ScaffoldOptions) -> Result<Vec<PathBuf>, ScaffoldError> {
    check_crate_name(&options.name)?;
    let dir = &options.dir;
    if dir.exists() {
        if !dir.is_dir() {
            return Err(ScaffoldError::NotADirectory(dir.clone()));
        }
        let mut entries = std::fs::read_dir(dir).map_err(|source| ScaffoldError::Io {
            path: dir.clone(),
            source,
        })?;
        if entries.next().is_some() {
            return Err(ScaffoldError::NotEmpty(dir.clone()));
        }
    }
    let sdk = sdk_crate_dir(&options.sdk)?;
    let sdk_str = sdk
        .to_str()
        .ok_or_else(|| ScaffoldError::BadPath(sdk.clone()))?;
    let fill = |template: &str| {
        template
            .replace("{{name}}", &options.name)
            .replace("{{Name}}", &camel_case(&options.name))
            .replace("{{crate_ident}}", &options.name.replace('-', "_"))
            .replace("{{sdk}}", &toml_string(sdk_str))
    };
    let files: [(&str, Vec<u8>); 6] = [
        ("Cargo.toml", fill(CARGO_TOML).into_bytes()),
        (".cargo/config.toml", fill(CONFIG_TOML).into_bytes()),
        ("src/lib.rs", fill(LIB_RS).into_bytes()),
        ("model.epm", template_model()),
        ("README.md", fill(README_MD).into_bytes()),
        (".gitignore", fill(GITIGNORE).into_bytes()),
    ];
    let mut written = Vec::with_capacity(files.len());
    for (rel, bytes) in files {
        let path = dir.join(rel);
        let io = |source| ScaffoldError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, bytes).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_of_crate_names() {
        assert_eq!(camel_case("door-sensor"), "DoorSensor");
        assert_eq!(camel_case("kws_v2"), "KwsV2");
        assert_eq!(camel_case("a"), "A");
    }

    #[test]
    fn toml_strings_escape_quotes_and_backslashes() {
        assert_eq!(toml_string(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
    }
}
