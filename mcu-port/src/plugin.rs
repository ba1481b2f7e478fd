//! Loading a plugin into wasmi and calling its exports through the canonical ABI.

use crate::abi::Lifter;
use crate::component::{core_module, export_names};
use crate::types::byte_len;
use crate::{
    ElementType, Error, ErrorCode, Level, ModelInfo, Quantization, Tensor, TensorRef, TensorSpec,
};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use wasmi::{
    Caller, Engine, Extern, Instance, Linker, Memory, Module, Store, StoreLimits,
    StoreLimitsBuilder, TrapCode, TypedFunc,
};

/// What the embedder gives a plugin: the `edgeplug:ml/host` imports.
pub trait Host {
    /// Receives one log line of the plugin. Must not panic.
    fn log(&mut self, level: Level, message: &str);
    /// Nanoseconds of a monotonic clock (arbitrary origin). Must not panic.
    fn now_ns(&mut self) -> u64;
}

/// The error for a core module wasmi refused: [`Error::SimdNotEnabled`] when this build
/// leaves out wasmi's SIMD support and wasmi's decoder stopped at a SIMD instruction (the
/// byte at its error offset is the `0xfd` prefix) or at a `v128` type (its message names
/// SIMD: there the offset is not the type's byte), else [`Error::Compile`]. Looking at the
/// decoder's error costs no flash; decoding the code again to find SIMD would pull in a
/// second operator decoder (measured: +21 KB on Cortex-M4).
fn compile_error(core: &[u8], error: &wasmi::Error) -> Error {
    #[cfg(not(feature = "simd"))]
    if let wasmi::errors::ErrorKind::Wasm(e) = error.kind() {
        let offset = e.offset();
        if core.get(offset) == Some(&0xfd) || e.message().contains("SIMD") {
            return Error::SimdNotEnabled { offset };
        }
    }
    #[cfg(feature = "simd")]
    let _ = core;
    Error::Compile(error.to_string())
}

/// A [`Host`] that drops log lines and whose clock always reads 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullHost;

impl Host for NullHost {
    fn log(&mut self, _level: Level, _message: &str) {}
    fn now_ns(&mut self) -> u64 {
        0
    }
}

/// Optional limits. `Config::default()` sets none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Fuel (wasmi's unit: roughly one per executed instruction) granted to each call of
    /// [`Plugin::new`]'s `info` query and of [`Plugin::infer`], including the `cabi_realloc`
    /// and post-return calls that belong to it. Running out is [`Error::OutOfFuel`].
    pub fuel: Option<u64>,
    /// Most bytes the plugin's linear memory may grow to. Instantiating a plugin whose
    /// initial memory is larger fails; a `memory.grow` beyond it fails inside the guest
    /// (which then usually traps).
    pub max_memory_bytes: Option<usize>,
}

struct State<H> {
    host: H,
    limits: StoreLimits,
}

/// One instantiated plugin.
pub struct Plugin<H: Host + 'static> {
    store: Store<State<H>>,
    memory: Memory,
    realloc: TypedFunc<(i32, i32, i32, i32), i32>,
    info_fn: TypedFunc<(), i32>,
    infer_fn: TypedFunc<(i32, i32), i32>,
    post_info: Option<TypedFunc<i32, ()>>,
    post_infer: Option<TypedFunc<i32, ()>>,
    fuel: Option<u64>,
    info: ModelInfo,
    poisoned: bool,
}

/// Import module names of the `edgeplug:ml/host` interface (legacy and standard schemes).
const HOST_MODULES: [&str; 2] = ["edgeplug:ml/host@0.1.0", "cm32p2|edgeplug:ml/host@0.1"];

/// Canonical-ABI sizes and alignments of the interface's records (see the WIT file).
mod layout {
    /// `model-info`: 5 lists/strings, then 2 `u32`.
    pub(super) const MODEL_INFO_SIZE: usize = 48;
    /// `tensor-spec`: name, dtype (u8 at 8), shape (at 12), option<quantization> (at 20).
    pub(super) const TENSOR_SPEC_SIZE: usize = 32;
    /// `tensor`: shape (at 0), dtype (u8 at 8), data (at 12).
    pub(super) const TENSOR_SIZE: usize = 20;
    /// `result<list<tensor>, error>`: discriminant, payload at 4.
    pub(super) const RESULT_SIZE: usize = 16;
    /// Alignment of all of the above.
    pub(super) const ALIGN: u32 = 4;
}

fn trap(error: wasmi::Error) -> Error {
    if error.as_trap_code() == Some(TrapCode::OutOfFuel) {
        Error::OutOfFuel
    } else {
        Error::Trap(error.to_string())
    }
}

impl<H: Host + 'static> Plugin<H> {
    /// Loads a plugin component: finds its core module ([`core_module`]), compiles and
    /// validates it, links the host imports to `host`, instantiates it, calls its
    /// initializer if it exports one, and reads its `model-info` (which must describe at
    /// least one input and one output with sizes that fit in memory).
    ///
    /// Errors: every [`Error`] variant except [`Error::Plugin`] and [`Error::Poisoned`].
    pub fn new(component: &[u8], host: H, config: &Config) -> Result<Self, Error> {
        let core = core_module(component)?;
        let mut engine_config = wasmi::Config::default();
        engine_config.consume_fuel(config.fuel.is_some());
        let engine = Engine::new(&engine_config);
        let module = Module::new(&engine, core).map_err(|e| compile_error(core, &e))?;

        for import in module.imports() {
            let known = HOST_MODULES.contains(&import.module())
                && matches!(import.name(), "log" | "now-ns");
            if !known {
                return Err(Error::UnsupportedImport {
                    module: import.module().to_string(),
                    name: import.name().to_string(),
                });
            }
        }

        let mut limits = StoreLimitsBuilder::new();
        if let Some(max) = config.max_memory_bytes {
            limits = limits.memory_size(max);
        }
        let mut store = Store::new(
            &engine,
            State {
                host,
                limits: limits.build(),
            },
        );
        store.limiter(|state| &mut state.limits);

        let mut linker = Linker::<State<H>>::new(&engine);
        for module_name in HOST_MODULES {
            linker
                .func_wrap(module_name, "log", host_log::<H>)
                .and_then(|l| {
                    l.func_wrap(
                        module_name,
                        "now-ns",
                        |mut caller: Caller<'_, State<H>>| -> i64 {
                            caller.data_mut().host.now_ns() as i64
                        },
                    )
                })
                .map_err(|e| Error::Instantiate(e.to_string()))?;
        }
        if let Some(fuel) = config.fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| Error::Instantiate(e.to_string()))?;
        }
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| match e.as_trap_code() {
                Some(TrapCode::OutOfFuel) => Error::OutOfFuel,
                Some(_) => Error::Trap(e.to_string()),
                None => Error::Instantiate(e.to_string()),
            })?;

        let memory = ["memory", "cm32p2_memory"]
            .iter()
            .find_map(|name| instance.get_memory(&store, name))
            .ok_or_else(|| Error::WrongWorld("the core module exports no memory".into()))?;
        let realloc = typed(&instance, &store, &["cabi_realloc", "cm32p2_realloc"])?
            .ok_or_else(|| Error::WrongWorld("the core module exports no cabi_realloc".into()))?;
        let [info_names] = export_names("info");
        let [infer_names] = export_names("infer");
        let info_fn = typed(&instance, &store, &info_names)?
            .ok_or_else(|| Error::WrongWorld("the core module does not export `info`".into()))?;
        let infer_fn = typed(&instance, &store, &infer_names)?
            .ok_or_else(|| Error::WrongWorld("the core module does not export `infer`".into()))?;
        let post_info = typed(
            &instance,
            &store,
            &[
                "cabi_post_edgeplug:ml/inference@0.1.0#info",
                "cm32p2|edgeplug:ml/inference@0.1|info_post",
            ],
        )?;
        let post_infer = typed(
            &instance,
            &store,
            &[
                "cabi_post_edgeplug:ml/inference@0.1.0#infer",
                "cm32p2|edgeplug:ml/inference@0.1|infer_post",
            ],
        )?;
        let init: Option<TypedFunc<(), ()>> =
            typed(&instance, &store, &["_initialize", "cm32p2_initialize"])?;
        if let Some(init) = init {
            init.call(&mut store, ()).map_err(trap)?;
        }

        let mut plugin = Plugin {
            store,
            memory,
            realloc,
            info_fn,
            infer_fn,
            post_info,
            post_infer,
            fuel: config.fuel,
            info: ModelInfo {
                name: String::new(),
                version: String::new(),
                inputs: Vec::new(),
                outputs: Vec::new(),
                labels: Vec::new(),
                arena_bytes: 0,
                memory_bytes: 0,
            },
            poisoned: false,
        };
        plugin.info = plugin.call_info()?;
        check_info(&plugin.info)?;
        Ok(plugin)
    }

    /// The plugin's `model-info`, read once by [`Plugin::new`].
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The embedder's host state.
    pub fn host(&self) -> &H {
        &self.store.data().host
    }

    /// The embedder's host state, mutably.
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.store.data_mut().host
    }

    /// Current size of the plugin's linear memory in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    /// Fuel left after the last call, if fuel metering is on.
    pub fn fuel_left(&self) -> Option<u64> {
        self.fuel.and_then(|_| self.store.get_fuel().ok())
    }

    /// Runs the plugin on `inputs` (in `info().inputs` order).
    ///
    /// The inputs are copied into guest memory as they are; the plugin checks them (and
    /// answers [`Error::Plugin`] with [`ErrorCode::InvalidInput`] if they do not match).
    /// The outputs are checked against `info().outputs`: count, element type, shape and
    /// data size ([`Error::BadOutput`] otherwise).
    ///
    /// A trap, running out of fuel, or a canonical-ABI violation poisons the instance.
    pub fn infer(&mut self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>, Error> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        let result = self.call_infer(inputs);
        if matches!(
            result,
            Err(Error::Trap(_) | Error::OutOfFuel | Error::Abi(_) | Error::BadOutput(_))
        ) {
            self.poisoned = true;
        }
        result
    }

    fn refuel(&mut self) -> Result<(), Error> {
        if let Some(fuel) = self.fuel {
            self.store
                .set_fuel(fuel)
                .map_err(|e| Error::Trap(e.to_string()))?;
        }
        Ok(())
    }

    /// Calls `cabi_realloc(0, 0, align, size)` and checks the returned block lies inside
    /// memory and is aligned.
    fn alloc(&mut self, align: u32, size: usize) -> Result<u32, Error> {
        if size == 0 {
            // The canonical ABI allows any aligned pointer for an empty list.
            return Ok(align);
        }
        let size_i32 = i32::try_from(size)
            .map_err(|_| Error::InvalidInput(format!("{size} bytes do not fit in guest memory")))?;
        let ptr = self
            .realloc
            .call(&mut self.store, (0, 0, align as i32, size_i32))
            .map_err(trap)? as u32;
        let in_bounds = (ptr as usize)
            .checked_add(size)
            .is_some_and(|end| end <= self.memory.data_size(&self.store));
        if !ptr.is_multiple_of(align) || !in_bounds {
            return Err(Error::Abi(format!(
                "cabi_realloc returned {ptr:#x} for {size} bytes (alignment {align}), outside \
                 the plugin's {}-byte memory or misaligned",
                self.memory.data_size(&self.store)
            )));
        }
        Ok(ptr)
    }

    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Error> {
        self.memory
            .write(&mut self.store, ptr as usize, bytes)
            .map_err(|e| Error::Abi(format!("writing {} bytes at {ptr:#x}: {e}", bytes.len())))
    }

    fn call_info(&mut self) -> Result<ModelInfo, Error> {
        self.refuel()?;
        let ret = self.info_fn.call(&mut self.store, ()).map_err(trap)? as u32;
        let info = lift_model_info(&mut Lifter::new(self.memory.data(&self.store)), ret)?;
        if let Some(post) = self.post_info {
            post.call(&mut self.store, ret as i32).map_err(trap)?;
        }
        Ok(info)
    }

    fn call_infer(&mut self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>, Error> {
        self.refuel()?;
        let count = u32::try_from(inputs.len())
            .map_err(|_| Error::InvalidInput("too many inputs".into()))?;
        let mut records = Vec::with_capacity(inputs.len() * layout::TENSOR_SIZE);
        for input in inputs {
            let mut shape_bytes = Vec::with_capacity(input.shape.len() * 4);
            for d in input.shape {
                shape_bytes.extend_from_slice(&d.to_le_bytes());
            }
            let shape_ptr = self.alloc(4, shape_bytes.len())?;
            self.write(shape_ptr, &shape_bytes)?;
            let data_ptr = self.alloc(1, input.data.len())?;
            self.write(data_ptr, input.data)?;
            records.extend_from_slice(&shape_ptr.to_le_bytes());
            records.extend_from_slice(&(input.shape.len() as u32).to_le_bytes());
            records.extend_from_slice(&[input.dtype.discriminant(), 0, 0, 0]);
            records.extend_from_slice(&data_ptr.to_le_bytes());
            records.extend_from_slice(&(input.data.len() as u32).to_le_bytes());
        }
        let list_ptr = self.alloc(layout::ALIGN, records.len())?;
        self.write(list_ptr, &records)?;

        let ret = self
            .infer_fn
            .call(&mut self.store, (list_ptr as i32, count as i32))
            .map_err(trap)? as u32;
        let result = lift_infer_result(
            &mut Lifter::new(self.memory.data(&self.store)),
            ret,
            &self.info.outputs,
        )?;
        if let Some(post) = self.post_infer {
            post.call(&mut self.store, ret as i32).map_err(trap)?;
        }
        result
    }
}

/// The typed function exported under the first of `names` that exists; an export of the
/// wrong type is [`Error::WrongWorld`].
fn typed<P: wasmi::WasmParams, R: wasmi::WasmResults, T>(
    instance: &Instance,
    store: &Store<T>,
    names: &[&str],
) -> Result<Option<TypedFunc<P, R>>, Error> {
    for name in names {
        match instance.get_export(store, name) {
            Some(Extern::Func(func)) => {
                return func.typed::<P, R>(store).map(Some).map_err(|e| {
                    Error::WrongWorld(format!("export `{name}` has the wrong type: {e}"))
                });
            }
            Some(_) => {
                return Err(Error::WrongWorld(format!(
                    "export `{name}` is not a function"
                )));
            }
            None => {}
        }
    }
    Ok(None)
}

/// The `log` import: lifts `(level, ptr, len)` and hands the line to the host. A bad level,
/// an out-of-bounds string or invalid UTF-8 traps, as a component runtime would.
fn host_log<H: Host>(
    mut caller: Caller<'_, State<H>>,
    level: i32,
    ptr: i32,
    len: i32,
) -> Result<(), wasmi::Error> {
    let level = Level::from_discriminant(level)
        .ok_or_else(|| wasmi::Error::new(format!("log: invalid level {level}")))?;
    let memory = match caller
        .get_export("memory")
        .or_else(|| caller.get_export("cm32p2_memory"))
    {
        Some(Extern::Memory(memory)) => memory,
        _ => return Err(wasmi::Error::new("log: the plugin exports no memory")),
    };
    let (mem, state) = memory.data_and_store_mut(&mut caller);
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    let bytes = start
        .checked_add(len)
        .and_then(|end| mem.get(start..end))
        .ok_or_else(|| wasmi::Error::new("log: message outside the plugin's memory"))?;
    let message = core::str::from_utf8(bytes)
        .map_err(|_| wasmi::Error::new("log: message is not valid UTF-8"))?;
    state.host.log(level, message);
    Ok(())
}

fn lift_spec(l: &mut Lifter<'_>, at: u32) -> Result<TensorSpec, Error> {
    let name = l.string("tensor-spec.name", at)?;
    let dtype = l.u8_at("tensor-spec.dtype", at + 8)?;
    let dtype = ElementType::from_discriminant(dtype)
        .ok_or_else(|| Error::Abi(format!("tensor-spec.dtype: invalid element type {dtype}")))?;
    let shape = l.u32_list("tensor-spec.shape", at + 12)?;
    let quantization = match l.u8_at("tensor-spec.quantization", at + 20)? {
        0 => None,
        1 => Some(Quantization {
            scale: f32::from_bits(l.u32_at("quantization.scale", at + 24)?),
            zero_point: l.u32_at("quantization.zero-point", at + 28)? as i32,
        }),
        d => {
            return Err(Error::Abi(format!(
                "tensor-spec.quantization: invalid option discriminant {d}"
            )));
        }
    };
    Ok(TensorSpec {
        name,
        dtype,
        shape,
        quantization,
    })
}

fn lift_specs(l: &mut Lifter<'_>, what: &str, at: u32) -> Result<Vec<TensorSpec>, Error> {
    let (ptr, count) = l.ptr_len(what, at)?;
    l.list(what, ptr, count, layout::TENSOR_SPEC_SIZE, layout::ALIGN)?;
    (0..count)
        .map(|i| lift_spec(l, ptr + i * layout::TENSOR_SPEC_SIZE as u32))
        .collect()
}

fn lift_model_info(l: &mut Lifter<'_>, ret: u32) -> Result<ModelInfo, Error> {
    l.bytes("model-info", ret, layout::MODEL_INFO_SIZE, layout::ALIGN)?;
    let name = l.string("model-info.name", ret)?;
    let version = l.string("model-info.version", ret + 8)?;
    let inputs = lift_specs(l, "model-info.inputs", ret + 16)?;
    let outputs = lift_specs(l, "model-info.outputs", ret + 24)?;
    let (ptr, count) = l.ptr_len("model-info.labels", ret + 32)?;
    l.list("model-info.labels", ptr, count, 8, layout::ALIGN)?;
    let labels = (0..count)
        .map(|i| l.string("model-info.labels", ptr + i * 8))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ModelInfo {
        name,
        version,
        inputs,
        outputs,
        labels,
        arena_bytes: l.u32_at("model-info.arena-bytes", ret + 40)?,
        memory_bytes: l.u32_at("model-info.memory-bytes", ret + 44)?,
    })
}

/// A plugin must describe at least one input and one output, each of a size that fits in
/// a 32-bit memory.
fn check_info(info: &ModelInfo) -> Result<(), Error> {
    if info.inputs.is_empty() || info.outputs.is_empty() {
        return Err(Error::BadOutput(format!(
            "model-info of `{}` declares {} inputs and {} outputs (version field: {})",
            info.name,
            info.inputs.len(),
            info.outputs.len(),
            info.version
        )));
    }
    for spec in info.inputs.iter().chain(&info.outputs) {
        if spec.byte_len().is_none_or(|n| u32::try_from(n).is_err()) {
            return Err(Error::BadOutput(format!(
                "tensor `{}` is larger than 4 GiB",
                spec.name
            )));
        }
    }
    Ok(())
}

/// Lifts `result<list<tensor>, error>` at `ret`, checking each output against `expected`
/// before copying it. `Ok(Err(..))` is the plugin's own error.
fn lift_infer_result(
    l: &mut Lifter<'_>,
    ret: u32,
    expected: &[TensorSpec],
) -> Result<Result<Vec<Tensor>, Error>, Error> {
    l.bytes("infer result", ret, layout::RESULT_SIZE, layout::ALIGN)?;
    match l.u8_at("infer result", ret)? {
        0 => {}
        1 => {
            let code = l.u8_at("error.code", ret + 4)?;
            let code = ErrorCode::from_discriminant(code)
                .ok_or_else(|| Error::Abi(format!("error.code: invalid error code {code}")))?;
            let message = l.string("error.message", ret + 8)?;
            return Ok(Err(Error::Plugin { code, message }));
        }
        d => {
            return Err(Error::Abi(format!(
                "infer result: invalid result discriminant {d}"
            )));
        }
    }
    let (ptr, count) = l.ptr_len("outputs", ret + 4)?;
    if count as usize != expected.len() {
        return Err(Error::BadOutput(format!(
            "{count} outputs, model-info declares {}",
            expected.len()
        )));
    }
    l.list("outputs", ptr, count, layout::TENSOR_SIZE, layout::ALIGN)?;
    let mut outputs = Vec::with_capacity(expected.len());
    for (i, spec) in expected.iter().enumerate() {
        let at = ptr + (i * layout::TENSOR_SIZE) as u32;
        let (_, rank) = l.ptr_len("output shape", at)?;
        if rank as usize != spec.shape.len() {
            return Err(Error::BadOutput(format!(
                "output {i} ({}) has rank {rank}, expected {}",
                spec.name,
                spec.shape.len()
            )));
        }
        let shape = l.u32_list("output shape", at)?;
        let dtype = l.u8_at("output dtype", at + 8)?;
        let dtype = ElementType::from_discriminant(dtype)
            .ok_or_else(|| Error::Abi(format!("output dtype: invalid element type {dtype}")))?;
        if !spec.accepts_shape(&shape) || dtype != spec.dtype {
            return Err(Error::BadOutput(format!(
                "output {i} ({}) is {dtype:?} {shape:?}, model-info declares {:?} {:?}",
                spec.name, spec.dtype, spec.shape
            )));
        }
        let (data_ptr, data_len) = l.ptr_len("output data", at + 12)?;
        let expected_len = byte_len(&shape, spec.dtype).unwrap_or(usize::MAX);
        if data_len as usize != expected_len {
            return Err(Error::BadOutput(format!(
                "output {i} ({}) has {data_len} bytes, expected {expected_len}",
                spec.name
            )));
        }
        let data = l.list("output data", data_ptr, data_len, 1, 1)?.to_vec();
        outputs.push(Tensor { shape, dtype, data });
    }
    Ok(Ok(outputs))
}
