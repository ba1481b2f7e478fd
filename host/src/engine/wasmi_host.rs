//! The wasmi engine, through `edgeplug-mcu` (the microcontroller host) on this machine.

use super::{
    EngineConfig, Level, ModelInfo, PluginError, PluginErrorKind, Tensor, TensorRef,
    check_component_header, check_info, check_inputs, check_outputs,
};
use std::time::Instant;

/// The `host` imports for wasmi: log lines to stderr prefixed with the plugin's name
/// (debug and trace dropped), a monotonic clock.
struct StderrHost {
    plugin: String,
    start: Instant,
}

impl edgeplug_mcu::Host for StderrHost {
    fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug | Level::Trace => return,
        };
        eprintln!(
            "[plugin {}] {level}: {}",
            self.plugin,
            message.escape_debug()
        );
    }

    fn now_ns(&mut self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One plugin instance on wasmi.
///
/// Limits ([`EngineConfig`]): `fuel` and `max_memory_bytes` are enforced by wasmi;
/// `max_output_bytes` is checked on the output data after `edgeplug-mcu` copied it (a copy
/// bounded by the plugin's memory); `deadline` is not enforced (wasmi has no epoch
/// interruption: give a wasmi plugin a `fuel` budget to bound its time). A refused
/// `memory.grow` followed by a trap is reported as [`PluginErrorKind::Trap`] (wasmi does
/// not say a growth was refused).
pub struct WasmiInstance {
    name: String,
    plugin: edgeplug_mcu::Plugin<StderrHost>,
    fuel: Option<u64>,
    max_output_bytes: usize,
    poisoned: bool,
}

impl WasmiInstance {
    /// Loads a plugin component (called `name` in errors): extracts its core module,
    /// compiles and instantiates it with wasmi (memory capped at
    /// `config.max_memory_bytes`), and reads and checks its `model-info`.
    ///
    /// Errors: [`PluginErrorKind::NotWasm`], [`PluginErrorKind::NotAComponent`],
    /// [`PluginErrorKind::WrongWorld`], [`PluginErrorKind::Compile`],
    /// [`PluginErrorKind::Instantiate`], [`PluginErrorKind::Trap`],
    /// [`PluginErrorKind::Abi`], [`PluginErrorKind::BadInfo`].
    pub fn load(name: &str, bytes: &[u8], config: &EngineConfig) -> Result<Self, PluginError> {
        let err = |kind| PluginError::new(name, kind);
        check_component_header(bytes).map_err(err)?;
        let host = StderrHost {
            plugin: name.to_string(),
            start: Instant::now(),
        };
        let mcu_config = edgeplug_mcu::Config {
            fuel: config.fuel,
            max_memory_bytes: Some(config.max_memory_bytes),
        };
        let plugin = edgeplug_mcu::Plugin::new(bytes, host, &mcu_config)
            .map_err(|e| err(kind_of(e, true)))?;
        check_info(plugin.info()).map_err(err)?;
        Ok(WasmiInstance {
            name: name.to_string(),
            plugin,
            fuel: config.fuel,
            max_output_bytes: config.max_output_bytes,
            poisoned: false,
        })
    }

    /// The name errors use for this plugin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's `model-info`.
    pub fn info(&self) -> &ModelInfo {
        self.plugin.info()
    }

    /// Fuel the last `infer` call used, if loaded with [`EngineConfig::fuel`].
    pub fn last_fuel_used(&self) -> Option<u64> {
        let budget = self.fuel?;
        Some(budget.saturating_sub(self.plugin.fuel_left()?))
    }

    /// Whether an earlier failure made this instance unusable (every call then fails
    /// with [`PluginErrorKind::Poisoned`]).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Current size of the plugin's linear memory in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.plugin.memory_bytes()
    }

    /// Runs one inference: checks `inputs` against `info().inputs`, calls `infer`, checks
    /// the outputs against `info().outputs`. A trap, a limit hit, an ABI violation or a bad
    /// output poisons the instance.
    pub fn infer(&mut self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>, PluginError> {
        let result = self.call_infer(inputs);
        result.map_err(|kind| {
            if kind.poisons() {
                self.poisoned = true;
            }
            PluginError::new(self.name.as_str(), kind)
        })
    }

    fn call_infer(&mut self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>, PluginErrorKind> {
        if self.poisoned {
            return Err(PluginErrorKind::Poisoned);
        }
        check_inputs(&self.plugin.info().inputs, inputs)?;
        let outputs = self.plugin.infer(inputs).map_err(|e| kind_of(e, false))?;
        let total = outputs
            .iter()
            .fold(0usize, |n, t| n.saturating_add(t.data.len()));
        if total > self.max_output_bytes {
            return Err(PluginErrorKind::OutputTooLarge {
                limit: self.max_output_bytes,
            });
        }
        check_outputs(&self.plugin.info().outputs, &outputs)?;
        Ok(outputs)
    }
}

/// Maps an `edgeplug-mcu` error to the host's kinds. At load time (`loading`) a
/// `BadOutput` is about `model-info`.
fn kind_of(e: edgeplug_mcu::Error, loading: bool) -> PluginErrorKind {
    use edgeplug_mcu::Error as E;
    match e {
        E::NotWasm => PluginErrorKind::NotWasm,
        E::NotAComponent => PluginErrorKind::NotAComponent,
        E::MalformedComponent(m) => PluginErrorKind::Compile(format!("malformed component: {m}")),
        E::UnsupportedComponent(m) => {
            PluginErrorKind::Compile(format!("unsupported component layout: {m}"))
        }
        E::WrongWorld(m) => PluginErrorKind::WrongWorld(m),
        E::UnsupportedImport { module, name } => PluginErrorKind::WrongWorld(format!(
            "it imports `{module}`.`{name}`, which this host does not provide"
        )),
        E::Compile(m) => PluginErrorKind::Compile(m),
        E::Instantiate(m) => PluginErrorKind::Instantiate(m),
        E::Trap(m) => PluginErrorKind::Trap(m),
        E::OutOfFuel => PluginErrorKind::OutOfFuel,
        E::Abi(m) => PluginErrorKind::Abi(m),
        E::BadOutput(m) if loading => PluginErrorKind::BadInfo(m),
        E::BadOutput(m) => PluginErrorKind::BadOutput(m),
        E::InvalidInput(m) => PluginErrorKind::InvalidInput(m),
        E::Plugin { code, message } => PluginErrorKind::Plugin { code, message },
        E::Poisoned => PluginErrorKind::Poisoned,
        other => PluginErrorKind::Instantiate(other.to_string()),
    }
}
