//! The trust commands of the CLI: `keygen`, `sign`, `verify`, `inspect`, and the trust
//! options shared by `run` (and `pack --key`).

use anyhow::{Context, Result, bail};
use clap::Args;
use edgeplug::engine::{EngineConfig, EngineKind};
use edgeplug::trust::{
    self, Policy, TRUST_DIR_ENV, TrustError, TrustStore, Verification, hex, load_plugin,
    verify_plugin,
};
use edgeplug::write_atomic;
use edgeplug_signing::{Manifest, SecretKey};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the secret key `keygen` writes.
pub(crate) const SECRET_KEY_FILE: &str = "edgeplug.key";
/// File name of the public key `keygen` writes.
pub(crate) const PUBLIC_KEY_FILE: &str = "edgeplug.pub";

/// The line `--insecure-skip-verify` prints on stderr.
pub(crate) const SKIP_WARNING: &str = "WARNING: signature verification skipped (--insecure-skip-verify): this plugin's origin is not proven";

#[derive(Args)]
pub(crate) struct TrustArgs {
    /// Trusted public key files (33 bytes each, as `edgeplug keygen` writes them):
    /// `--trust A.pub B.pub` or `--trust A.pub --trust B.pub`.
    #[arg(long = "trust", value_name = "PUBLIC_KEY", num_args = 1..)]
    pub(crate) trust: Vec<PathBuf>,
    /// A directory whose `*.pub` files are all trusted (default: $EDGEPLUG_TRUST_DIR when
    /// no --trust is given).
    #[arg(long, value_name = "DIR")]
    pub(crate) trust_dir: Option<PathBuf>,
    /// Anti-rollback: refuse a plugin whose manifest `sequence` is lower than N (the
    /// highest sequence this host has accepted).
    #[arg(long, value_name = "N")]
    pub(crate) min_sequence: Option<u64>,
}

impl TrustArgs {
    /// The trust store: every --trust file, the --trust-dir, or (neither given)
    /// $EDGEPLUG_TRUST_DIR. May be empty.
    pub(crate) fn store(&self) -> Result<TrustStore> {
        let mut store = TrustStore::new();
        for path in &self.trust {
            store.add_key_file(path)?;
        }
        if let Some(dir) = &self.trust_dir {
            store.add_dir(dir)?;
        } else if self.trust.is_empty()
            && let Some(dir) = std::env::var_os(TRUST_DIR_ENV).filter(|d| !d.is_empty())
        {
            store
                .add_dir(Path::new(&dir))
                .with_context(|| format!("from {TRUST_DIR_ENV}"))?;
        }
        Ok(store)
    }

    pub(crate) fn policy(&self) -> Policy {
        Policy {
            min_sequence: self.min_sequence,
        }
    }
}

#[derive(Args)]
pub(crate) struct KeygenArgs {
    /// Directory to write `edgeplug.key` (secret, mode 0600) and `edgeplug.pub` into
    /// (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub(crate) struct SignArgs {
    /// The plugin component to sign (.wasm).
    plugin: PathBuf,
    /// The secret key file (`edgeplug.key`).
    #[arg(long)]
    key: PathBuf,
    /// Where to write the signed plugin.
    #[arg(short, long)]
    output: PathBuf,
    /// Embed this manifest (JSON, the format `edgeplug inspect --json` prints under
    /// "manifest") before signing, replacing any manifest the plugin has.
    #[arg(long, value_name = "FILE.json")]
    manifest: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The plugin (.wasm).
    plugin: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// The plugin (.wasm); signed or not.
    plugin: PathBuf,
    /// Public keys to check the signatures against (optional; then the output says which
    /// trusted keys signed): `--trust A.pub B.pub` or repeated.
    #[arg(long = "trust", value_name = "PUBLIC_KEY", num_args = 1..)]
    trust: Vec<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} `{}`", path.display()))
}

/// Reads a secret key file.
pub(crate) fn read_secret_key(path: &Path) -> Result<SecretKey> {
    let bytes = read(path, "secret key")?;
    SecretKey::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("secret key `{}`: {e}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file created with mode 0600 (never
/// readable by others, not even briefly), fsynced and renamed into place.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("key"),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write secret key `{}`", path.display()))
}

pub(crate) fn keygen(args: &KeygenArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create `{}`", args.out.display()))?;
    let secret_path = args.out.join(SECRET_KEY_FILE);
    let public_path = args.out.join(PUBLIC_KEY_FILE);
    if !args.force {
        for p in [&secret_path, &public_path] {
            if p.exists() {
                bail!(
                    "`{}` already exists; refusing to overwrite a key (use --force)",
                    p.display()
                );
            }
        }
    }
    let key = edgeplug_signing::keygen().map_err(|e| anyhow::anyhow!("keygen: {e}"))?;
    write_private(&secret_path, &key.to_bytes())?;
    let public = key.public_key();
    write_atomic(&public_path, &public.to_bytes())?;
    println!(
        "wrote {} (secret, mode 0600: keep it private) and {} (public: give it to hosts as --trust)",
        secret_path.display(),
        public_path.display()
    );
    println!("key id {}  public key {public}", hex(&public.key_id()));
    Ok(())
}

pub(crate) fn sign(args: &SignArgs) -> Result<()> {
    let key = read_secret_key(&args.key)?;
    let bytes = read(&args.plugin, "plugin")?;
    let name = args.plugin.display().to_string();
    let unsigned =
        edgeplug_signing::strip_signatures(&bytes).map_err(|e| anyhow::anyhow!("`{name}`: {e}"))?;
    let with_manifest = match &args.manifest {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read manifest `{}`", path.display()))?;
            let manifest: Manifest = serde_json::from_str(&text)
                .with_context(|| format!("manifest `{}`", path.display()))?;
            edgeplug_signing::embed_manifest(&unsigned, &manifest)
                .map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))?
        }
        None => match edgeplug_signing::read_manifest(&unsigned) {
            Ok(Some(_)) => unsigned,
            Ok(None) => bail!(
                "`{name}` has no edgeplug-manifest section; hosts refuse plugins without one. Add one while signing with --manifest FILE.json (the format `edgeplug inspect --json` prints under \"manifest\")"
            ),
            Err(e) => bail!("`{name}`: {e}"),
        },
    };
    let signed = edgeplug_signing::sign(&with_manifest, &key)
        .map_err(|e| anyhow::anyhow!("cannot sign `{name}`: {e}"))?;
    // Refuse to sign what a host would refuse: verify, load (wasmi, or wasmtime for a
    // gateway-only plugin), check model-info and the self-test, exactly as `edgeplug run`
    // will.
    let mut store = TrustStore::new();
    store.add_key(key.public_key(), &args.key.display().to_string())?;
    let manifest = edgeplug_signing::read_manifest(&signed).ok().flatten();
    let loaded = load_plugin(
        trust::check_engine(manifest.as_ref()),
        &name,
        &signed,
        Verification::Required(&store, Policy::default()),
        &EngineConfig::default(),
    )
    .map_err(|e| anyhow::anyhow!("refusing to sign `{name}`: {e}"))?;
    write_atomic(&args.output, &signed)?;
    let m = loaded
        .manifest
        .as_ref()
        .map(|m| (m.name.as_str(), m.version.as_str(), m.sequence));
    let (n, v, s) = m.unwrap_or(("?", "?", 0));
    println!(
        "wrote {} ({} bytes): plugin `{n}` {v} sequence {s}, signed by key id {}; self-test passed",
        args.output.display(),
        signed.len(),
        hex(&key.public_key().key_id())
    );
    Ok(())
}

/// One line saying who signed and what, for `verify` and `run`.
pub(crate) fn verified_line(store: &TrustStore, v: &trust::VerifiedPlugin) -> String {
    let signers: Vec<String> = v
        .signers
        .iter()
        .map(|&i| {
            let id = store
                .set()
                .get(i)
                .map(|k| hex(k.key_id()))
                .unwrap_or_default();
            format!("{} (key id {id})", store.label(i))
        })
        .collect();
    format!(
        "signature OK: `{}` {} sequence {}, signed by {}; content sha256 {}",
        v.manifest.name,
        v.manifest.version,
        v.manifest.sequence,
        signers.join(", "),
        hex(&v.digest)
    )
}

pub(crate) fn verify(args: &VerifyArgs) -> Result<()> {
    let store = args.trust.store()?;
    let bytes = read(&args.plugin, "plugin")?;
    let name = args.plugin.display().to_string();
    let policy = args.trust.policy();
    let v = verify_plugin(&bytes, &store, &policy).map_err(|e| anyhow::anyhow!("`{name}`: {e}"))?;
    // Then what a host does next: load (wasmi, or wasmtime for a gateway-only plugin),
    // model-info against the manifest, self-test.
    load_plugin(
        trust::check_engine(Some(&v.manifest)),
        &name,
        &bytes,
        Verification::Required(&store, policy),
        &EngineConfig::default(),
    )
    .map_err(|e| anyhow::anyhow!("`{name}`: {e}"))?;
    if args.json {
        let signers: Vec<_> = v
            .signers
            .iter()
            .map(|&i| {
                json!({
                    "trusted_key": store.label(i),
                    "key_id": store.set().get(i).map(|k| hex(k.key_id())),
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "plugin": name,
                "verified": true,
                "name": v.manifest.name,
                "version": v.manifest.version,
                "sequence": v.manifest.sequence,
                "signers": signers,
                "content_sha256": hex(&v.digest),
                "self_test": "passed",
            })
        );
    } else {
        println!("{name}: {}", verified_line(&store, &v));
        println!(
            "{name}: manifest valid (interface {}), model-info matches, self-test passed on wasmi",
            v.manifest.interface
        );
    }
    Ok(())
}

pub(crate) fn inspect(args: &InspectArgs) -> Result<()> {
    let bytes = read(&args.plugin, "plugin")?;
    let name = args.plugin.display().to_string();
    let mut store = TrustStore::new();
    for p in &args.trust {
        store.add_key_file(p)?;
    }
    let report = edgeplug_signing::inspect_signatures(&bytes);
    let manifest =
        edgeplug_signing::read_manifest(&bytes).map_err(|e| anyhow::anyhow!("`{name}`: {e}"))?;
    let content_sha256 = match &report {
        Ok(r) => hex(&r.digest),
        Err(_) => {
            use edgeplug_signing::SelfTest;
            // Unsigned: the digest a signature would cover (every byte after the preamble).
            hex(&SelfTest::output_digest([bytes.get(8..).unwrap_or(&[])]).0)
        }
    };
    let verification = if store.is_empty() {
        None
    } else {
        Some(verify_plugin(&bytes, &store, &Policy::default()))
    };
    let signatures: Vec<serde_json::Value> = match &report {
        Ok(r) => r
            .entries
            .iter()
            .map(|e| {
                let trusted = store
                    .set()
                    .iter()
                    .position(|k| k.key_id() == e.key_id.as_slice())
                    .map(|i| store.label(i).to_string());
                json!({
                    "key_id": hex(&e.key_id),
                    "algorithm": if e.algorithm == 1 { "ed25519".to_string() } else { format!("0x{:02x}", e.algorithm) },
                    "covers_content": e.covers_content,
                    "trusted_key": trusted,
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let signed = report.is_ok();
    let verified = verification.as_ref().map(|r| match r {
        Ok(v) => json!({ "ok": true, "signers": v.signers.iter().map(|&i| store.label(i)).collect::<Vec<_>>() }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    });
    let layer = match bytes.get(4..8) {
        Some([_, _, 1, 0]) => "component",
        Some([_, _, 0, 0]) => "module",
        _ => "unknown",
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "plugin": name,
                "file_bytes": bytes.len(),
                "layer": layer,
                "signed": signed,
                "content_sha256": content_sha256,
                "signatures": signatures,
                "verification": verified,
                "manifest": manifest,
            }))?
        );
        return Ok(());
    }
    println!("plugin:    {name} ({} bytes, {layer})", bytes.len());
    println!("content:   sha256 {content_sha256}");
    if signed {
        for s in &signatures {
            println!(
                "signature: {} key id {}{}{}",
                s["algorithm"].as_str().unwrap_or("?"),
                s["key_id"].as_str().unwrap_or(""),
                match s["trusted_key"].as_str() {
                    Some(k) => format!(" (trusted: {k})"),
                    None => String::new(),
                },
                if s["covers_content"] == json!(true) {
                    ""
                } else {
                    " [covers other content]"
                }
            );
        }
    } else {
        println!("signature: none (unsigned: hosts refuse it without --insecure-skip-verify)");
    }
    match &verification {
        None => println!("verified:  not checked (give --trust PUBLIC_KEY)"),
        Some(Ok(_)) => println!("verified:  yes, by a trusted key"),
        Some(Err(e)) => println!("verified:  NO: {e}"),
    }
    let Some(m) = manifest else {
        println!("manifest:  none");
        return Ok(());
    };
    println!(
        "manifest:  `{}` {} sequence {} ({})",
        m.name, m.version, m.sequence, m.interface
    );
    let spec = |s: &edgeplug_signing::TensorSpec| {
        let q = s
            .quantization
            .map(|q| format!(" (scale {} zp {})", q.scale, q.zero_point))
            .unwrap_or_default();
        format!(
            "{} {} {:?}{q}",
            s.name,
            trust::manifest_dtype_name(s.dtype),
            s.shape
        )
    };
    for s in &m.inputs {
        println!("input:     {}", spec(s));
    }
    for s in &m.outputs {
        println!("output:    {}", spec(s));
    }
    if !m.labels.is_empty() {
        println!("labels:    {}", m.labels.join(", "));
    }
    let fuel: Vec<String> = m
        .resources
        .fuel
        .iter()
        .map(|f| format!("{} {}", f.engine, f.fuel_per_inference))
        .collect();
    println!(
        "resources: memory {} bytes; fuel per inference: {}",
        m.resources.memory_bytes,
        if fuel.is_empty() {
            "-".to_string()
        } else {
            fuel.join(", ")
        }
    );
    println!("targets:   {}", m.targets.join(", "));
    println!(
        "self-test: {} input(s), expected output sha256 {}",
        m.self_test.inputs.len(),
        m.self_test.output_sha256
    );
    let c = &m.card;
    println!("model card:");
    println!("  intended use:  {}", c.intended_use);
    println!("  training data: {}", c.training_data);
    for metric in &c.metrics {
        println!(
            "  metric:        {} = {} on {}",
            metric.name, metric.value, metric.dataset
        );
    }
    println!("  limitations:   {}", c.limitations);
    println!("  license:       {}", c.license);
    println!("  authors:       {}", c.authors.join(", "));
    Ok(())
}

/// Loads a plugin for `run`: verified with the trust store (or, with `skip`, unverified
/// after printing [`SKIP_WARNING`]), model-info checked, self-test run.
pub(crate) fn load_for_run(
    engine: EngineKind,
    path: &Path,
    trust_args: &TrustArgs,
    skip: bool,
) -> Result<trust::LoadedPlugin> {
    let name = path.display().to_string();
    let bytes = read(path, "plugin")?;
    let policy = trust_args.policy();
    if skip {
        eprintln!("{SKIP_WARNING}");
        let loaded = load_plugin(
            engine,
            &name,
            &bytes,
            Verification::Skip(policy),
            &EngineConfig::default(),
        )?;
        if loaded.manifest.is_none() {
            eprintln!("WARNING: `{name}` has no manifest: no self-test was run");
        }
        return Ok(loaded);
    }
    let store = trust_args.store()?;
    if store.is_empty() {
        return Err(TrustError::NoTrustAnchor.into());
    }
    let loaded = load_plugin(
        engine,
        &name,
        &bytes,
        Verification::Required(&store, policy),
        &EngineConfig::default(),
    )
    .map_err(|e| anyhow::anyhow!("refusing `{name}`: {e}"))?;
    if let Some(v) = &loaded.verified {
        eprintln!("{}; self-test passed", verified_line(&store, v));
    }
    Ok(loaded)
}
