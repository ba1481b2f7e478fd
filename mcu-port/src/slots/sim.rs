//! A simulated NOR flash (host-side, `std` feature) that can lose power.
//!
//! NOR semantics: erase sets a whole sector to `0xFF`; a write may only program erased
//! bytes (writing over programmed bytes without an erase is refused, which also catches a
//! slot manager that writes a location twice). Every erase or write is one *operation*;
//! [`SimFlash::cut_power_after`] makes operation number `n` (counting from 0 from the call
//! on) fail, optionally *torn* (half applied), and every later operation fail too, until
//! [`SimFlash::restore_power`].

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use std::vec;
use std::vec::Vec;

/// Write unit of [`SimFlash`] in bytes.
pub const WRITE_SIZE: usize = 4;
/// Erase sector of [`SimFlash`] in bytes.
pub const ERASE_SIZE: usize = 4096;

/// Why a [`SimFlash`] operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// Power is off (cut by [`SimFlash::cut_power_after`]).
    PowerLost,
    /// Misaligned or out-of-range offset or length.
    OutOfBounds,
    /// A write to bytes that are not erased.
    NotErased,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            SimError::PowerLost | SimError::NotErased => NorFlashErrorKind::Other,
        }
    }
}

/// A RAM-backed NOR flash with power cuts.
#[derive(Clone, Debug)]
pub struct SimFlash {
    data: Vec<u8>,
    /// Operations (erase/write) done since the last `cut_power_after`.
    ops: u64,
    cut_at: Option<u64>,
    torn: bool,
    powered: bool,
}

impl SimFlash {
    /// An erased flash of `sectors` sectors of [`ERASE_SIZE`] bytes.
    pub fn new(sectors: usize) -> Self {
        SimFlash {
            data: vec![0xFF; sectors * ERASE_SIZE],
            ops: 0,
            cut_at: None,
            torn: false,
            powered: true,
        }
    }

    /// Power fails at the `n`-th erase/write from now (0 = the next one): that operation
    /// does nothing (or, if `torn`, part of it: half of an erase, some bits of a write), it and all later operations return
    /// [`SimError::PowerLost`].
    pub fn cut_power_after(&mut self, n: u64, torn: bool) {
        self.ops = 0;
        self.cut_at = Some(n);
        self.torn = torn;
    }

    /// Power comes back: no cut is scheduled any more.
    pub fn restore_power(&mut self) {
        self.cut_at = None;
        self.powered = true;
        self.ops = 0;
    }

    /// Erase/write operations since the last [`SimFlash::cut_power_after`] or
    /// [`SimFlash::restore_power`] (the failed one included).
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Whether power is still on.
    pub fn powered(&self) -> bool {
        self.powered
    }

    /// The contents, as a memory-mapped flash would show them (for
    /// [`crate::slots::Slots::with_mapping`]).
    pub fn contents(&self) -> &[u8] {
        &self.data
    }

    /// The raw contents (to tamper with in tests).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Counts an operation; `Ok(true)` if it proceeds, `Ok(false)` if it is the one that
    /// loses power (apply half if torn, then fail).
    fn begin_op(&mut self) -> Result<bool, SimError> {
        if !self.powered {
            return Err(SimError::PowerLost);
        }
        let n = self.ops;
        self.ops += 1;
        if self.cut_at == Some(n) {
            self.powered = false;
            return Ok(false);
        }
        Ok(true)
    }

    fn range(&self, offset: u32, len: usize, align: usize) -> Result<(usize, usize), SimError> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(SimError::OutOfBounds)?;
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) || end > self.data.len() {
            return Err(SimError::OutOfBounds);
        }
        Ok((start, end))
    }
}

impl ErrorType for SimFlash {
    type Error = SimError;
}

impl ReadNorFlash for SimFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLost);
        }
        let (start, end) = self.range(offset, bytes.len(), 1)?;
        bytes.copy_from_slice(&self.data[start..end]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl NorFlash for SimFlash {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLost);
        }
        let len = (to as usize)
            .checked_sub(from as usize)
            .ok_or(SimError::OutOfBounds)?;
        let (start, end) = self.range(from, len, ERASE_SIZE)?;
        if !self.begin_op()? {
            if self.torn {
                // Half erased; the rest of the first sector keeps a garbage pattern.
                let mid = start + len / 2;
                self.data[start..mid].fill(0xFF);
                for (i, b) in self.data[mid..end.min(mid + ERASE_SIZE)]
                    .iter_mut()
                    .enumerate()
                {
                    *b &= (i as u8).wrapping_mul(37) | 0x11;
                }
            }
            return Err(SimError::PowerLost);
        }
        self.data[start..end].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLost);
        }
        let (start, end) = self.range(offset, bytes.len(), WRITE_SIZE)?;
        if self.data[start..end].iter().any(|&b| b != 0xFF) {
            return Err(SimError::NotErased);
        }
        if !self.begin_op()? {
            if self.torn {
                // Bits partly programmed: every byte gets only some of its zero bits.
                for (i, (d, s)) in self.data[start..end].iter_mut().zip(bytes).enumerate() {
                    *d &= *s | if i % 2 == 0 { 0xAA } else { 0x55 };
                }
            }
            return Err(SimError::PowerLost);
        }
        for (d, s) in self.data[start..end].iter_mut().zip(bytes) {
            *d &= *s;
        }
        Ok(())
    }
}
