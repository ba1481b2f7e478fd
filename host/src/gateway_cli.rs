//! CLI of the gateway: `edgeplug install`, `edgeplug store list|rollback|check`,
//! `edgeplug serve`.

use crate::trust_cli::TrustArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use edgeplug::store::{InstallOptions, Installed, ModelEntry, Store};
use edgeplug::trust::TrustError;
use std::path::PathBuf;

/// The gateway's subcommands (flattened into the top-level command list).
#[derive(Subcommand)]
pub(crate) enum GatewayCommand {
    /// Install a signed plugin into a plugin store and make it the active version of its
    /// model (verified, self-tested on wasmtime, anti-rollback checked against the store).
    Install(InstallArgs),
    /// Inspect or change a plugin store offline.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run the gateway daemon: serve the store's models over HTTP and hot-swap signed
    /// updates (see host/GATEWAY.md).
    Serve(edgeplug::serve::ServeArgs),
}

#[derive(Args)]
pub(crate) struct InstallArgs {
    /// The signed plugin component (.wasm).
    plugin: PathBuf,
    /// The store directory (created if missing).
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
}

#[derive(Subcommand)]
pub(crate) enum StoreCommand {
    /// List the models of a store: active and previous version, anti-rollback floor, and
    /// every installed version.
    List {
        /// The store directory.
        #[arg(long, value_name = "DIR")]
        store: PathBuf,
        /// Print one JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make the previous version of a model active again; the version rolled back from is
    /// marked bad (never installed or promoted again). The anti-rollback floor stays.
    Rollback {
        /// The model name.
        name: String,
        /// The store directory.
        #[arg(long, value_name = "DIR")]
        store: PathBuf,
    },
    /// Hash every stored plugin file against its digest.
    Check {
        /// The store directory.
        #[arg(long, value_name = "DIR")]
        store: PathBuf,
    },
}

/// Runs one gateway subcommand.
pub(crate) fn run(command: GatewayCommand) -> Result<()> {
    match command {
        GatewayCommand::Serve(args) => Ok(edgeplug::serve::run_cli(&args)?),
        GatewayCommand::Install(args) => install(&args),
        GatewayCommand::Store(StoreCommand::List { store, json }) => {
            list(&Store::open(&store)?, json)
        }
        GatewayCommand::Store(StoreCommand::Rollback { name, store }) => {
            let store = Store::open(&store)?;
            let now = store.rollback(&name)?;
            println!(
                "rolled back `{name}` in {}: active {}",
                store.path().display(),
                describe(&now)
            );
            Ok(())
        }
        GatewayCommand::Store(StoreCommand::Check { store }) => {
            let store = Store::open(&store)?;
            let n = store.check()?;
            println!("{}: {n} plugin file(s) intact", store.path().display());
            Ok(())
        }
    }
}

fn describe(i: &Installed) -> String {
    format!(
        "{} (sequence {}, sha256 {})",
        i.version, i.sequence, i.digest
    )
}

fn install(args: &InstallArgs) -> Result<()> {
    let trust = args.trust.store()?;
    if trust.is_empty() {
        bail!(TrustError::NoTrustAnchor);
    }
    let bytes = std::fs::read(&args.plugin)
        .with_context(|| format!("cannot read plugin `{}`", args.plugin.display()))?;
    let store = Store::open(&args.store)?;
    let options = InstallOptions {
        min_sequence: args.trust.policy().min_sequence,
        ..InstallOptions::default()
    };
    let installed = store
        .install_with(&bytes, &trust, &options)
        .with_context(|| format!("cannot install `{}`", args.plugin.display()))?;
    let entry = store.list()?.into_iter().find(|m| m.name == installed.name);
    let previous = entry
        .as_ref()
        .and_then(|m| m.previous.as_ref())
        .map_or("none".to_string(), describe);
    println!(
        "installed `{}` {} into {}: active; previous {previous}; self-test passed on wasmtime",
        installed.name,
        describe(&installed),
        store.path().display()
    );
    Ok(())
}

fn list(store: &Store, json: bool) -> Result<()> {
    let models = store.list()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&models)?);
        return Ok(());
    }
    if models.is_empty() {
        println!("{}: no model installed", store.path().display());
    }
    for m in &models {
        print_model(m)?;
    }
    Ok(())
}

fn print_model(m: &ModelEntry) -> Result<()> {
    let short = |i: &Option<Installed>| {
        i.as_ref().map_or("none".to_string(), |i| {
            format!("{} (sequence {})", i.version, i.sequence)
        })
    };
    println!(
        "{}: active {}, previous {}, highest sequence {}",
        m.name,
        short(&m.active),
        short(&m.previous),
        m.highest_sequence
    );
    for v in &m.versions {
        let role = if m.active.as_ref().is_some_and(|a| a.digest == v.digest) {
            " active"
        } else if m.previous.as_ref().is_some_and(|p| p.digest == v.digest) {
            " previous"
        } else {
            ""
        };
        println!(
            "  {} sequence {} sha256 {} {} bytes{role}{}",
            v.version,
            v.sequence,
            v.digest,
            v.size,
            if v.bad { " bad (rolled back from)" } else { "" }
        );
    }
    Ok(())
}
