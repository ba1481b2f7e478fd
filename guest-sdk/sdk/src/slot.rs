//! The model slot: how a packer puts a model into an already-compiled plugin.
//!
//! A plugin that declares a slot with [`model_slot!`](crate::model_slot) carries no model
//! when it is compiled. `edgeplug_plugins::pack_module` appends the payload as a data
//! segment past the initial linear memory and writes its address and length into the
//! slot, which it finds by [`SLOT_MAGIC`] (exactly one slot per module). The payload is
//! a `u32` little-endian metadata length `M`, `M` bytes of UTF-8 metadata (line 1: name,
//! empty for the model's own; line 2: version; each further line: one class label), then
//! the `.epm` file ([`Payload`]). See `plugins/README.md`.
#![allow(unsafe_code)]

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The 16 bytes that start every model slot; must equal `edgeplug_plugins::SLOT_MAGIC`.
pub const SLOT_MAGIC: [u8; 16] = *b"edgeplug:slot:v1";

/// A model slot: [`SLOT_MAGIC`], then the payload's address and length, which the packer
/// rewrites. Declare one with [`model_slot!`](crate::model_slot), never by hand twice.
#[repr(C)]
#[derive(Debug)]
pub struct Slot {
    magic: [u8; 16],
    ptr: u32,
    len: u32,
}

impl Slot {
    /// An empty slot (what the compiler writes; the packer fills it).
    pub const EMPTY: Slot = Slot {
        magic: SLOT_MAGIC,
        ptr: 0,
        len: 0,
    };

    /// The payload the packer placed, or an empty slice if the plugin was not packed or
    /// the slot points outside the initial memory. On targets other than `wasm32` (native
    /// tests) always empty.
    pub fn payload(&'static self) -> &'static [u8] {
        // SAFETY: volatile reads of two plain `u32` fields of a live static (a plain read
        // would be constant-folded to the zeros the compiler wrote).
        let (ptr, len) = unsafe {
            (
                core::ptr::read_volatile(&raw const self.ptr),
                core::ptr::read_volatile(&raw const self.len),
            )
        };
        let end = u64::from(ptr) + u64::from(len);
        #[cfg(target_arch = "wasm32")]
        let memory_end = core::arch::wasm32::memory_size(0) as u64 * 65536;
        #[cfg(not(target_arch = "wasm32"))]
        let memory_end = 0u64;
        if len == 0 || ptr == 0 || end > memory_end {
            return &[];
        }
        // SAFETY: the packer placed `len` initialized bytes at `ptr` through an active data
        // segment inside the initial memory (checked against the memory size above), and
        // nothing writes there afterwards: the stack and static data lie below it, and the
        // allocator only uses memory it obtains with `memory.grow`, above the initial size.
        unsafe { core::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
    }
}

/// Declares the plugin's model slot, a `#[used] static` named `MODEL_SLOT` of type
/// [`Slot`](crate::slot::Slot). Use it once per plugin crate; read the payload with
/// `Payload::parse(MODEL_SLOT.payload())`.
#[macro_export]
macro_rules! model_slot {
    () => {
        /// The model slot the packer fills (see `edgeplug_guest::slot`).
        #[used]
        static MODEL_SLOT: $crate::slot::Slot = $crate::slot::Slot::EMPTY;
    };
}

/// A parsed slot payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The metadata text (empty if malformed or absent).
    pub meta: &'a str,
    /// The `.epm` model bytes (empty if malformed or absent).
    pub epm: &'a [u8],
}

impl<'a> Payload<'a> {
    /// Splits payload bytes into metadata and model; a malformed payload gives empty
    /// metadata and model (the model then fails to decode with a clear error).
    pub fn parse(payload: &'a [u8]) -> Self {
        let Some((head, rest)) = payload.split_first_chunk::<4>() else {
            return Self::default();
        };
        let m = u32::from_le_bytes(*head) as usize;
        if m > rest.len() {
            return Self::default();
        }
        let (meta, epm) = rest.split_at(m);
        match core::str::from_utf8(meta) {
            Ok(meta) => Payload { meta, epm },
            Err(_) => Payload { meta: "", epm },
        }
    }

    /// Line 1 of the metadata, if not empty.
    pub fn name(&self) -> Option<&'a str> {
        self.meta.lines().next().filter(|n| !n.is_empty())
    }

    /// Line 2 of the metadata, or `0.0.0`.
    pub fn version(&self) -> String {
        self.meta.lines().nth(1).unwrap_or("0.0.0").to_string()
    }

    /// Lines 3 and later of the metadata: the class labels.
    pub fn labels(&self) -> Vec<String> {
        self.meta.lines().skip(2).map(ToString::to_string).collect()
    }
}
