//! A/B plugin slots on a NOR flash, with the test / confirm / revert model of ESP-IDF's OTA
//! and MCUboot.
//!
//! Two slots, each `slot_size` bytes (a multiple of the erase size) on any
//! [`embedded_storage::nor_flash::NorFlash`]. The first erase sector of a slot holds its
//! *metadata*: a header record (image length and sequence, with a CRC-32) and four marker
//! records; the image follows from the second sector on. An update:
//!
//! 1. [`Slots::begin_update`] refuses a `sequence` not above the running plugin's
//!    (downgrade), then erases the inactive slot (its metadata sector first, so it is
//!    invalid from the first operation on);
//! 2. [`Update::write`] takes the image in chunks of any size, from any transport;
//! 3. [`Update::finish`] checks the length, writes the header (last), reads the image back,
//!    runs the [`Verifier`] on it (signature, digest, sequence), runs the caller's self-test,
//!    and only then writes the `PENDING` marker;
//! 4. at the next [`Slots::boot`], a pending slot is tried once: `TRIAL` is written before
//!    it is returned as [`Boot::Trial`]; the application runs its health check and calls
//!    [`Slots::confirm`] (writes `CONFIRMED`); a trial found again at a later boot without
//!    `CONFIRMED` (power cut, crash, failed check, [`Slots::reject`]) is marked `BAD` and the
//!    previous slot boots.
//!
//! [`Slots::boot`] returns only an image that passes the verifier *now* (it is read and
//! verified at every boot), with the highest sequence among confirmed slots. Each marker is
//! written once into erased flash and never cleared; a torn marker write (power cut in the
//! middle) reads as "not set" for `PENDING` and `CONFIRMED` and as "set" for `TRIAL` and
//! `BAD`, so every torn state falls back to the old, confirmed plugin. A power cut at any
//! point therefore leaves a verified plugin to boot (the old one or the new one), which
//! `tests/all/slots.rs` checks by cutting power after every single operation.
//!
//! Verification is a parameter ([`Verifier`]): [`crate::SignatureVerifier`] is the real one
//! (`edgeplug-signing`: signature, component, manifest, interface, anti-rollback floor, as
//! the gateway checks). The sequence the verifier reports (from the signed manifest) must equal the
//! one the update was started with.
//!
//! **Device state** ([`Layout::state`], three erase sectors): the trusted keys
//! ([`Slots::write_trust`], [`Slots::read_trust`]; written once by factory provisioning) and
//! the persistent **anti-rollback counter**, the highest sequence this device ever confirmed
//! ([`Slots::floor`]). [`Slots::confirm`] raises it (after writing `CONFIRMED`), so does
//! [`Slots::boot`] when it returns a confirmed image above it (repairing a power cut between
//! the two writes). No image below the counter is ever booted, tried or installed, even if
//! it is still in a slot, confirmed and correctly signed. The counter is an append-only log
//! of CRC-checked records in two sectors used in turn: a value is only ever added, the
//! sector holding the highest value is never erased, and a torn record fails its CRC, so a
//! power cut while it is written leaves the old value or the new one, never a lower one.
//!
//! **In place** ([`Slots::with_mapping`]): on a memory-mapped flash the slots verify images
//! where they lie and [`Slots::image`] borrows them, instead of copying a whole image into
//! RAM.

use alloc::borrow::Cow;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind};

#[cfg(feature = "std")]
pub mod sim;

/// The `embedded-storage` NOR flash traits the slots work on, re-exported for embedders
/// that implement them for their flash.
pub use embedded_storage::nor_flash;

/// What a [`Verifier`] learned from a valid image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The image's anti-rollback sequence number (from its signed manifest).
    pub sequence: u64,
}

/// Checks an image before it may become pending and at every boot: signature against
/// trusted keys, digest, and the sequence it declares.
pub trait Verifier {
    /// Returns what the image declares if it is authentic and intact, or a short reason.
    fn verify(&self, image: &[u8]) -> Result<Verified, &'static str>;
}

impl<F: Fn(&[u8]) -> Result<Verified, &'static str>> Verifier for F {
    fn verify(&self, image: &[u8]) -> Result<Verified, &'static str> {
        self(image)
    }
}

/// Slot A or slot B.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotId {
    /// The first slot.
    A,
    /// The second slot.
    B,
}

impl SlotId {
    /// The other slot.
    pub fn other(self) -> SlotId {
        match self {
            SlotId::A => SlotId::B,
            SlotId::B => SlotId::A,
        }
    }
}

/// Where the slots lie on the flash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Offset of slot A (a multiple of the erase size).
    pub slot_a: u32,
    /// Offset of slot B (a multiple of the erase size, not overlapping A).
    pub slot_b: u32,
    /// Bytes per slot, metadata sector included (a multiple of the erase size).
    pub slot_size: u32,
    /// Offset of the device-state area (a multiple of the erase size, overlapping no slot):
    /// [`STATE_SECTORS`] erase sectors, the trust record then the anti-rollback counter's
    /// two sectors.
    pub state: u32,
}

/// Erase sectors of the device-state area ([`Layout::state`]): one for the trusted keys,
/// two for the anti-rollback counter.
pub const STATE_SECTORS: u32 = 3;

/// Bytes of one trusted key in the trust record: a public key file as `edgeplug keygen`
/// writes `edgeplug.pub` (`0x01`, then the 32-byte Ed25519 key).
pub const TRUSTED_KEY_LEN: usize = 33;

/// Most keys the trust record holds.
pub const MAX_TRUST_KEYS: usize = 16;

/// Why a slot operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotError {
    /// The flash reported an error (or lost power).
    Flash(NorFlashErrorKind),
    /// The layout does not fit the flash (misaligned, overlapping, too small, or a flash
    /// whose write or read size exceeds 32 bytes or whose erase size is below 256 bytes).
    BadLayout(&'static str),
    /// The image does not fit in a slot.
    TooLarge {
        /// Bytes of the image.
        len: u32,
        /// Most image bytes a slot holds.
        max: u32,
    },
    /// The update's sequence is not above the running plugin's (or, installing into a
    /// device with nothing to boot, below the anti-rollback counter).
    Downgrade {
        /// Sequence of the refused update.
        sequence: u64,
        /// Sequence of the running plugin, or the anti-rollback counter if higher.
        current: u64,
    },
    /// More or fewer bytes arrived than the update declared.
    Length {
        /// Declared image length.
        expected: u32,
        /// Bytes received.
        received: u64,
    },
    /// The verifier refused the image.
    Verify(&'static str),
    /// The verifier accepted the image, but it declares another sequence than the update.
    SequenceMismatch {
        /// Sequence the update was started with.
        declared: u64,
        /// Sequence the verified image carries.
        verified: u64,
    },
    /// The self-test of the new image failed.
    SelfTest,
    /// A trial is running: confirm or reject it before starting an update.
    TrialInProgress,
    /// No slot holds a confirmed image that verifies.
    NoBootableImage,
    /// `confirm`/`reject` without a trial boot.
    NoTrial,
    /// The trust record is missing or corrupt (or [`Slots::write_trust`] got no keys or
    /// more than [`MAX_TRUST_KEYS`]).
    Trust(&'static str),
    /// The flash mapping ([`Slots::with_mapping`]) does not cover the image.
    Unmapped,
}

impl fmt::Display for SlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotError::Flash(kind) => write!(f, "flash error: {kind:?}"),
            SlotError::BadLayout(why) => write!(f, "bad slot layout: {why}"),
            SlotError::TooLarge { len, max } => {
                write!(
                    f,
                    "image of {len} bytes does not fit in a slot ({max} bytes)"
                )
            }
            SlotError::Downgrade { sequence, current } => write!(
                f,
                "update sequence {sequence} is not above the running plugin's or the anti-rollback counter's {current} (downgrade refused)"
            ),
            SlotError::Length { expected, received } => {
                write!(f, "update declared {expected} bytes but {received} arrived")
            }
            SlotError::Verify(why) => write!(f, "update refused by the verifier: {why}"),
            SlotError::SequenceMismatch { declared, verified } => write!(
                f,
                "update started as sequence {declared} but the image carries sequence {verified}"
            ),
            SlotError::SelfTest => f.write_str("the new plugin failed its self-test"),
            SlotError::TrialInProgress => {
                f.write_str("a trial boot is not confirmed yet: confirm or reject it first")
            }
            SlotError::NoBootableImage => {
                f.write_str("no slot holds a confirmed plugin that verifies")
            }
            SlotError::NoTrial => f.write_str("the running plugin is not on trial"),
            SlotError::Trust(why) => write!(f, "trust record: {why}"),
            SlotError::Unmapped => {
                f.write_str("the flash mapping does not cover the image (bad mapping function)")
            }
        }
    }
}

impl core::error::Error for SlotError {}

fn flash<E: NorFlashError>(e: E) -> SlotError {
    SlotError::Flash(e.kind())
}

/// Result of [`Slots::boot`]: which image to run. Get its bytes with [`Slots::image`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// A confirmed plugin.
    Confirmed {
        /// Its slot.
        slot: SlotId,
        /// Its sequence.
        sequence: u64,
        /// Bytes of the image.
        len: u32,
    },
    /// A new plugin on trial: run the health check, then [`Slots::confirm`] or
    /// [`Slots::reject`]. Until confirmed, the next boot reverts to the previous slot.
    Trial {
        /// Its slot.
        slot: SlotId,
        /// Its sequence.
        sequence: u64,
        /// Bytes of the image.
        len: u32,
    },
}

impl Boot {
    /// The booted slot.
    pub fn slot(&self) -> SlotId {
        match self {
            Boot::Confirmed { slot, .. } | Boot::Trial { slot, .. } => *slot,
        }
    }
    /// The booted image's sequence.
    pub fn sequence(&self) -> u64 {
        match self {
            Boot::Confirmed { sequence, .. } | Boot::Trial { sequence, .. } => *sequence,
        }
    }
    /// Bytes of the booted image.
    pub fn len(&self) -> u32 {
        match self {
            Boot::Confirmed { len, .. } | Boot::Trial { len, .. } => *len,
        }
    }
    /// Whether the booted image is empty (never: the verifier refuses empty images).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether the booted image is on trial.
    pub fn is_trial(&self) -> bool {
        matches!(self, Boot::Trial { .. })
    }
}

// Metadata sector layout: 32-byte records.
const RECORD: usize = 32;
const HEADER_AT: u32 = 0;
const HEADER_MAGIC: [u8; 4] = *b"EPAB";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    Pending,
    Trial,
    Confirmed,
    Bad,
}

impl Marker {
    fn offset(self) -> u32 {
        (RECORD as u32)
            * match self {
                Marker::Pending => 1,
                Marker::Trial => 2,
                Marker::Confirmed => 3,
                Marker::Bad => 4,
            }
    }
    fn magic(self) -> [u8; 8] {
        match self {
            Marker::Pending => *b"PENDING!",
            Marker::Trial => *b"TRIAL!!!",
            Marker::Confirmed => *b"CONFIRM!",
            Marker::Bad => *b"BAD!!!!!",
        }
    }
}

/// CRC-32 (IEEE, reflected), bitwise: the header is 28 bytes, speed does not matter.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn encode_header(len: u32, sequence: u64) -> [u8; RECORD] {
    let mut h = [0u8; RECORD];
    h[0..4].copy_from_slice(&HEADER_MAGIC);
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..16].copy_from_slice(&sequence.to_le_bytes());
    let crc = crc32(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

fn decode_header(h: &[u8; RECORD]) -> Option<(u32, u64)> {
    if h[0..4] != HEADER_MAGIC || crc32(&h[..28]).to_le_bytes() != h[28..32] {
        return None;
    }
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&h[8..16]);
    Some((len, u64::from_le_bytes(seq)))
}

const COUNTER_MAGIC: [u8; 4] = *b"EPRC";
const TRUST_MAGIC: [u8; 4] = *b"EPTS";

/// A counter record: magic, sequence (u64 LE), zero padding, CRC-32 of the first 28 bytes.
fn encode_counter(sequence: u64) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0..4].copy_from_slice(&COUNTER_MAGIC);
    r[4..12].copy_from_slice(&sequence.to_le_bytes());
    let crc = crc32(&r[..28]);
    r[28..32].copy_from_slice(&crc.to_le_bytes());
    r
}

fn decode_counter(r: &[u8; RECORD]) -> Option<u64> {
    if r[0..4] != COUNTER_MAGIC || crc32(&r[..28]).to_le_bytes() != r[28..32] {
        return None;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&r[4..12]);
    Some(u64::from_le_bytes(seq))
}

/// What the counter's two sectors hold.
#[derive(Clone, Copy, Debug)]
struct CounterScan {
    /// The highest valid record and the sector (0 or 1) holding it.
    max: Option<(u64, u32)>,
    /// Per sector: index of the first record after the last non-erased one.
    next_free: [u32; 2],
}

/// What a slot's metadata says (before verification of the image).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SlotState {
    header: Option<(u32, u64)>,
    pending: bool,
    trial: bool,
    confirmed: bool,
    bad: bool,
}

/// The two slots (and the device state) on a flash.
pub struct Slots<F: NorFlash> {
    flash: F,
    layout: Layout,
    /// The slot [`Slots::boot`] returned, and whether it is on trial.
    running: Option<(SlotId, u64, bool)>,
    /// [`Slots::boot`] found nothing to boot: an install may go to slot A.
    empty: bool,
    /// The flash as it appears in the address space, if it is memory-mapped.
    map: Option<fn(&F) -> &[u8]>,
}

impl<F: NorFlash> Slots<F> {
    /// Takes the flash and checks the layout against its geometry.
    pub fn new(flash: F, layout: Layout) -> Result<Self, SlotError> {
        let erase = F::ERASE_SIZE as u32;
        if F::WRITE_SIZE > RECORD || F::READ_SIZE > RECORD || F::ERASE_SIZE < 256 {
            return Err(SlotError::BadLayout(
                "write/read size must be at most 32 and erase size at least 256 bytes",
            ));
        }
        if F::WRITE_SIZE == 0
            || F::READ_SIZE == 0
            || !RECORD.is_multiple_of(F::WRITE_SIZE)
            || !RECORD.is_multiple_of(F::READ_SIZE)
        {
            return Err(SlotError::BadLayout("write/read size must divide 32"));
        }
        let aligned = |x: u32| x.is_multiple_of(erase);
        if !aligned(layout.slot_a) || !aligned(layout.slot_b) || !aligned(layout.slot_size) {
            return Err(SlotError::BadLayout(
                "slot offsets and size must be multiples of the erase size",
            ));
        }
        if layout.slot_size < 2 * erase {
            return Err(SlotError::BadLayout(
                "a slot needs a metadata sector and at least one image sector",
            ));
        }
        let end = |start: u32| start.checked_add(layout.slot_size);
        let (Some(end_a), Some(end_b)) = (end(layout.slot_a), end(layout.slot_b)) else {
            return Err(SlotError::BadLayout("slot beyond 4 GiB"));
        };
        if end_a as usize > flash.capacity() || end_b as usize > flash.capacity() {
            return Err(SlotError::BadLayout("slot beyond the end of the flash"));
        }
        if layout.slot_a < end_b && layout.slot_b < end_a {
            return Err(SlotError::BadLayout("slots overlap"));
        }
        let Some(end_state) = STATE_SECTORS
            .checked_mul(erase)
            .and_then(|n| layout.state.checked_add(n))
        else {
            return Err(SlotError::BadLayout("state area beyond 4 GiB"));
        };
        if !aligned(layout.state) {
            return Err(SlotError::BadLayout(
                "the state area must start at a multiple of the erase size",
            ));
        }
        if end_state as usize > flash.capacity() {
            return Err(SlotError::BadLayout(
                "state area beyond the end of the flash",
            ));
        }
        if (layout.state < end_a && layout.slot_a < end_state)
            || (layout.state < end_b && layout.slot_b < end_state)
        {
            return Err(SlotError::BadLayout("the state area overlaps a slot"));
        }
        Ok(Slots {
            flash,
            layout,
            running: None,
            empty: false,
            map: None,
        })
    }

    /// Declares the flash memory-mapped: `map` returns the whole flash as it appears in the
    /// address space (byte `i` of the slice is flash offset `i`). Images are then verified
    /// where they lie and [`Slots::image`] borrows them, instead of copying them into RAM.
    pub fn with_mapping(mut self, map: fn(&F) -> &[u8]) -> Self {
        self.map = Some(map);
        self
    }

    /// Gives the flash back.
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// The flash, e.g. to inspect it in tests.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Most image bytes a slot holds.
    pub fn max_image_len(&self) -> u32 {
        self.layout.slot_size - F::ERASE_SIZE as u32
    }

    fn base(&self, slot: SlotId) -> u32 {
        match slot {
            SlotId::A => self.layout.slot_a,
            SlotId::B => self.layout.slot_b,
        }
    }

    fn read_record(&mut self, at: u32) -> Result<[u8; RECORD], SlotError> {
        let mut r = [0u8; RECORD];
        self.flash.read(at, &mut r).map_err(flash)?;
        Ok(r)
    }

    fn state(&mut self, slot: SlotId) -> Result<SlotState, SlotError> {
        let base = self.base(slot);
        let header = decode_header(&self.read_record(base + HEADER_AT)?);
        let mut marker = |m: Marker| -> Result<(bool, bool), SlotError> {
            let r = self.read_record(base + m.offset())?;
            let erased = r.iter().all(|&b| b == 0xFF);
            let exact = r[..8] == m.magic() && r[8..].iter().all(|&b| b == 0xFF);
            Ok((erased, exact))
        };
        let (_, pending) = marker(Marker::Pending)?;
        let (trial_erased, _) = marker(Marker::Trial)?;
        let (_, confirmed) = marker(Marker::Confirmed)?;
        let (bad_erased, _) = marker(Marker::Bad)?;
        Ok(SlotState {
            header,
            pending,
            // Torn TRIAL / BAD writes count as written: they only ever lead back to the
            // confirmed slot.
            trial: !trial_erased,
            confirmed,
            bad: !bad_erased,
        })
    }

    fn write_marker(&mut self, slot: SlotId, m: Marker) -> Result<(), SlotError> {
        let mut r = [0xFFu8; RECORD];
        r[..8].copy_from_slice(&m.magic());
        let at = self.base(slot) + m.offset();
        self.flash.write(at, &r).map_err(flash)
    }

    /// Reads a slot's image (`len` bytes) into RAM.
    fn read_image(&mut self, slot: SlotId, len: u32) -> Result<Vec<u8>, SlotError> {
        let read = F::READ_SIZE as u32;
        let padded = len.div_ceil(read) * read;
        let mut image = vec![0u8; padded as usize];
        let start = self.base(slot) + F::ERASE_SIZE as u32;
        self.flash.read(start, &mut image).map_err(flash)?;
        image.truncate(len as usize);
        Ok(image)
    }

    /// A slot's image (`len` bytes): borrowed in place if the flash is mapped, else read
    /// into RAM.
    fn slot_image(&mut self, slot: SlotId, len: u32) -> Result<Cow<'_, [u8]>, SlotError> {
        match self.map {
            Some(map) => {
                let start = (self.base(slot) + F::ERASE_SIZE as u32) as usize;
                map(&self.flash)
                    .get(start..start + len as usize)
                    .map(Cow::Borrowed)
                    .ok_or(SlotError::Unmapped)
            }
            None => self.read_image(slot, len).map(Cow::Owned),
        }
    }

    /// Flash offset of the first byte of the image [`Slots::boot`] returned (for an
    /// embedder that reaches its memory-mapped flash at a fixed address). The image stays
    /// there until an update erases that slot, which only an update started while the
    /// *other* slot runs does.
    pub fn image_offset(&self, boot: &Boot) -> u32 {
        self.base(boot.slot()) + F::ERASE_SIZE as u32
    }

    /// The bytes of the image [`Slots::boot`] returned: borrowed from the flash if it is
    /// mapped ([`Slots::with_mapping`]: nothing is copied), else read into RAM. They were
    /// verified by `boot`; a caller that parses them should still check them (the gateway
    /// order: verify, then parse), as a copy is read again from the flash.
    pub fn image(&mut self, boot: &Boot) -> Result<Cow<'_, [u8]>, SlotError> {
        self.slot_image(boot.slot(), boot.len())
    }

    /// Checks a slot's image: its header's length fits, the verifier accepts it, the
    /// verified sequence equals the header's and is not below the anti-rollback counter.
    /// Returns the sequence and length.
    fn verified_image(
        &mut self,
        slot: SlotId,
        state: &SlotState,
        verifier: &impl Verifier,
        floor: Option<u64>,
    ) -> Result<Option<(u64, u32)>, SlotError> {
        let Some((len, sequence)) = state.header else {
            return Ok(None);
        };
        if len > self.max_image_len() || floor.is_some_and(|f| sequence < f) {
            return Ok(None);
        }
        let image = self.slot_image(slot, len)?;
        match verifier.verify(&image) {
            Ok(v) if v.sequence == sequence => Ok(Some((sequence, len))),
            _ => Ok(None),
        }
    }

    fn counter_base(&self) -> u32 {
        self.layout.state + F::ERASE_SIZE as u32
    }

    fn scan_counter(&mut self) -> Result<CounterScan, SlotError> {
        let per_sector = (F::ERASE_SIZE / RECORD) as u32;
        let mut scan = CounterScan {
            max: None,
            next_free: [0; 2],
        };
        for sector in 0..2u32 {
            let base = self.counter_base() + sector * F::ERASE_SIZE as u32;
            for i in 0..per_sector {
                let r = self.read_record(base + i * RECORD as u32)?;
                if r.iter().all(|&b| b == 0xFF) {
                    continue;
                }
                scan.next_free[sector as usize] = i + 1;
                if let Some(v) = decode_counter(&r)
                    && scan.max.is_none_or(|(m, _)| m < v)
                {
                    scan.max = Some((v, sector));
                }
            }
        }
        Ok(scan)
    }

    /// The anti-rollback counter: the highest sequence this device has confirmed (`None`
    /// on a device that never confirmed one). Read from the flash at every call.
    pub fn floor(&mut self) -> Result<Option<u64>, SlotError> {
        Ok(self.scan_counter()?.max.map(|(v, _)| v))
    }

    /// Raises the anti-rollback counter to `sequence` (nothing happens if it is already
    /// there or higher). From then on no image with a lower sequence boots, is tried or is
    /// installed. One record write (plus one sector erase every `erase size / 32` raises);
    /// a power cut leaves the old value or the new one.
    pub fn raise_floor(&mut self, sequence: u64) -> Result<(), SlotError> {
        let scan = self.scan_counter()?;
        if scan.max.is_some_and(|(m, _)| m >= sequence) {
            return Ok(());
        }
        let per_sector = (F::ERASE_SIZE / RECORD) as u32;
        let active = scan.max.map_or(0, |(_, s)| s);
        let erase = F::ERASE_SIZE as u32;
        let (sector, index) = if scan.next_free[active as usize] < per_sector {
            (active, scan.next_free[active as usize])
        } else {
            // The active sector is full: erase the other one (it holds only lower values)
            // and continue there.
            let other = 1 - active;
            let base = self.counter_base() + other * erase;
            self.flash.erase(base, base + erase).map_err(flash)?;
            (other, 0)
        };
        let at = self.counter_base() + sector * erase + index * RECORD as u32;
        self.flash
            .write(at, &encode_counter(sequence))
            .map_err(flash)
    }

    /// Writes the trust record: the keys (each [`TRUSTED_KEY_LEN`] bytes, `edgeplug.pub`
    /// format) images must be signed by. Erases the trust sector first: a factory step, not
    /// power-safe (a cut leaves no trust record, and [`Slots::read_trust`] fails until it is
    /// written again). Between 1 and [`MAX_TRUST_KEYS`] keys.
    pub fn write_trust(&mut self, keys: &[[u8; TRUSTED_KEY_LEN]]) -> Result<(), SlotError> {
        if keys.is_empty() || keys.len() > MAX_TRUST_KEYS {
            return Err(SlotError::Trust("between 1 and 16 keys are needed"));
        }
        let mut record = Vec::with_capacity(8 + keys.len() * TRUSTED_KEY_LEN + 4 + RECORD);
        record.extend_from_slice(&TRUST_MAGIC);
        record.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        for key in keys {
            record.extend_from_slice(key);
        }
        let crc = crc32(&record);
        record.extend_from_slice(&crc.to_le_bytes());
        record.resize(record.len().div_ceil(RECORD) * RECORD, 0xFF);
        let base = self.layout.state;
        self.flash
            .erase(base, base + F::ERASE_SIZE as u32)
            .map_err(flash)?;
        self.flash.write(base, &record).map_err(flash)
    }

    /// Reads the trust record written by [`Slots::write_trust`]; [`SlotError::Trust`] if
    /// it is missing or corrupt (CRC).
    pub fn read_trust(&mut self) -> Result<Vec<[u8; TRUSTED_KEY_LEN]>, SlotError> {
        let base = self.layout.state;
        let first = self.read_record(base)?;
        if first[0..4] != TRUST_MAGIC {
            return Err(SlotError::Trust("no trust record (device not provisioned)"));
        }
        let count = u32::from_le_bytes([first[4], first[5], first[6], first[7]]) as usize;
        if count == 0 || count > MAX_TRUST_KEYS {
            return Err(SlotError::Trust("corrupt trust record (key count)"));
        }
        let len = 8 + count * TRUSTED_KEY_LEN;
        let mut record = vec![0u8; (len + 4).div_ceil(RECORD) * RECORD];
        self.flash.read(base, &mut record).map_err(flash)?;
        if crc32(&record[..len]).to_le_bytes() != record[len..len + 4] {
            return Err(SlotError::Trust("corrupt trust record (CRC)"));
        }
        Ok(record[8..len]
            .chunks_exact(TRUSTED_KEY_LEN)
            .map(|k| {
                let mut key = [0u8; TRUSTED_KEY_LEN];
                key.copy_from_slice(k);
                key
            })
            .collect())
    }

    /// Decides what to run, as a bootloader does at every reset (it writes `TRIAL` or
    /// `BAD` markers as described in the module documentation).
    ///
    /// Returns a pending slot as [`Boot::Trial`] the first time it is seen (if it verifies
    /// and its sequence is above every confirmed slot's), otherwise the confirmed slot with
    /// the highest sequence that verifies. Images below the anti-rollback counter
    /// ([`Slots::floor`]) are never returned; a confirmed image above it raises it.
    /// [`SlotError::NoBootableImage`] if there is nothing to boot (an install may follow:
    /// [`Slots::begin_update`]).
    pub fn boot(&mut self, verifier: &impl Verifier) -> Result<Boot, SlotError> {
        self.running = None;
        self.empty = false;
        let floor = self.floor()?;
        let states = [self.state(SlotId::A)?, self.state(SlotId::B)?];
        let mut confirmed: Option<(SlotId, u64, u32)> = None;
        for (slot, state) in [SlotId::A, SlotId::B].into_iter().zip(&states) {
            if state.confirmed
                && !state.bad
                && let Some((sequence, len)) = self.verified_image(slot, state, verifier, floor)?
                && confirmed.is_none_or(|c| c.1 < sequence)
            {
                confirmed = Some((slot, sequence, len));
            }
        }
        for (slot, state) in [SlotId::A, SlotId::B].into_iter().zip(&states) {
            if !state.pending || state.confirmed || state.bad {
                continue;
            }
            if state.trial {
                // Tried before and never confirmed: revert for good.
                self.write_marker(slot, Marker::Bad)?;
                continue;
            }
            let Some((sequence, len)) = self.verified_image(slot, state, verifier, floor)? else {
                self.write_marker(slot, Marker::Bad)?;
                continue;
            };
            if confirmed.is_some_and(|c| c.1 >= sequence) {
                self.write_marker(slot, Marker::Bad)?;
                continue;
            }
            self.write_marker(slot, Marker::Trial)?;
            self.running = Some((slot, sequence, true));
            return Ok(Boot::Trial {
                slot,
                sequence,
                len,
            });
        }
        let Some((slot, sequence, len)) = confirmed else {
            self.empty = true;
            return Err(SlotError::NoBootableImage);
        };
        if floor.is_none_or(|f| f < sequence) {
            // Confirmed but the counter was not raised yet (power cut after CONFIRMED).
            self.raise_floor(sequence)?;
        }
        self.running = Some((slot, sequence, false));
        Ok(Boot::Confirmed {
            slot,
            sequence,
            len,
        })
    }

    /// Marks the plugin on trial as good (after its health check passed): it stays active
    /// at later boots. Writes `CONFIRMED`, then raises the anti-rollback counter to its
    /// sequence.
    pub fn confirm(&mut self) -> Result<(), SlotError> {
        let Some((slot, sequence, true)) = self.running else {
            return Err(SlotError::NoTrial);
        };
        self.write_marker(slot, Marker::Confirmed)?;
        self.running = Some((slot, sequence, false));
        self.raise_floor(sequence)
    }

    /// Marks the plugin on trial as bad (its health check failed). The caller should reset;
    /// the next [`Slots::boot`] returns the previous confirmed slot.
    pub fn reject(&mut self) -> Result<(), SlotError> {
        let Some((slot, _, true)) = self.running else {
            return Err(SlotError::NoTrial);
        };
        self.write_marker(slot, Marker::Bad)?;
        self.running = None;
        Ok(())
    }

    /// Writes a first image straight into slot A and confirms it (factory provisioning of an
    /// empty device, without a trial). Erases both slots (not the device state). The image
    /// must pass `verifier` and not be below the anti-rollback counter; the counter is
    /// raised to it. Not power-safe.
    pub fn provision(&mut self, image: &[u8], verifier: &impl Verifier) -> Result<(), SlotError> {
        let verified = verifier.verify(image).map_err(SlotError::Verify)?;
        if let Some(floor) = self.floor()?
            && verified.sequence < floor
        {
            return Err(SlotError::Downgrade {
                sequence: verified.sequence,
                current: floor,
            });
        }
        for slot in [SlotId::A, SlotId::B] {
            let base = self.base(slot);
            self.flash
                .erase(base, base + self.layout.slot_size)
                .map_err(flash)?;
        }
        self.running = None;
        self.empty = false;
        let mut update = Update::start(self, SlotId::A, image.len(), verified.sequence)?;
        update.write(image)?;
        update.finish(verifier, |_| true)?;
        self.write_marker(SlotId::A, Marker::Confirmed)?;
        self.raise_floor(verified.sequence)
    }

    /// Starts an update into the slot that is not running: refuses a downgrade (a
    /// `sequence` not above the running plugin's nor the anti-rollback counter) and erases
    /// the target slot.
    ///
    /// Must follow a [`Slots::boot`] that returned a confirmed plugin (or a trial that was
    /// confirmed since), or one that found nothing to boot: then the image is installed
    /// into slot A and must not be below the anti-rollback counter. It becomes a trial at
    /// the next boot, as any update.
    pub fn begin_update(&mut self, len: usize, sequence: u64) -> Result<Update<'_, F>, SlotError> {
        let floor = self.floor()?;
        let Some((running, current, trial)) = self.running else {
            if !self.empty {
                return Err(SlotError::NoBootableImage);
            }
            if let Some(floor) = floor
                && sequence < floor
            {
                return Err(SlotError::Downgrade {
                    sequence,
                    current: floor,
                });
            }
            return Update::start(self, SlotId::A, len, sequence);
        };
        if trial {
            return Err(SlotError::TrialInProgress);
        }
        let current = current.max(floor.unwrap_or(0));
        if sequence <= current {
            return Err(SlotError::Downgrade { sequence, current });
        }
        Update::start(self, running.other(), len, sequence)
    }
}

/// An update being received into the inactive slot ([`Slots::begin_update`]).
pub struct Update<'s, F: NorFlash> {
    slots: &'s mut Slots<F>,
    slot: SlotId,
    len: u32,
    sequence: u64,
    /// Bytes written to flash so far.
    written: u32,
    /// Bytes received past `written`, fewer than one write unit.
    buffer: [u8; RECORD],
    buffered: usize,
    received: u64,
}

impl<'s, F: NorFlash> Update<'s, F> {
    fn start(
        slots: &'s mut Slots<F>,
        slot: SlotId,
        len: usize,
        sequence: u64,
    ) -> Result<Self, SlotError> {
        let max = slots.max_image_len();
        let len = u32::try_from(len)
            .ok()
            .filter(|&l| l <= max)
            .ok_or(SlotError::TooLarge {
                len: u32::try_from(len).unwrap_or(u32::MAX),
                max,
            })?;
        let base = slots.base(slot);
        let erase = F::ERASE_SIZE as u32;
        // Metadata sector first: from this operation on the slot is invalid.
        slots.flash.erase(base, base + erase).map_err(flash)?;
        let end = base + erase + len.div_ceil(erase) * erase;
        if len > 0 {
            slots.flash.erase(base + erase, end).map_err(flash)?;
        }
        Ok(Update {
            slots,
            slot,
            len,
            sequence,
            written: 0,
            buffer: [0xFF; RECORD],
            buffered: 0,
            received: 0,
        })
    }

    /// The slot being written.
    pub fn slot(&self) -> SlotId {
        self.slot
    }

    /// Writes the next chunk (any size). More bytes than declared is
    /// [`SlotError::Length`].
    pub fn write(&mut self, mut chunk: &[u8]) -> Result<(), SlotError> {
        self.received += chunk.len() as u64;
        if self.received > u64::from(self.len) {
            return Err(SlotError::Length {
                expected: self.len,
                received: self.received,
            });
        }
        let unit = F::WRITE_SIZE;
        let start = self.slots.base(self.slot) + F::ERASE_SIZE as u32;
        while !chunk.is_empty() {
            if self.buffered == 0 && chunk.len() >= unit {
                // Whole write units straight from the chunk.
                let n = chunk.len() / unit * unit;
                self.slots
                    .flash
                    .write(start + self.written, &chunk[..n])
                    .map_err(flash)?;
                self.written += n as u32;
                chunk = &chunk[n..];
                continue;
            }
            let take = (unit - self.buffered).min(chunk.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&chunk[..take]);
            self.buffered += take;
            chunk = &chunk[take..];
            if self.buffered == unit {
                self.slots
                    .flash
                    .write(start + self.written, &self.buffer[..unit])
                    .map_err(flash)?;
                self.written += unit as u32;
                self.buffered = 0;
                self.buffer = [0xFF; RECORD];
            }
        }
        Ok(())
    }

    /// Completes the update: checks the length, writes the header, reads the image back
    /// and verifies it (the verified sequence must equal the declared one), runs
    /// `self_test` on it, and marks the slot `PENDING`. On any error the slot stays
    /// invalid and the running plugin stays as it is.
    pub fn finish(
        self,
        verifier: &impl Verifier,
        self_test: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(), SlotError> {
        if self.received != u64::from(self.len) {
            return Err(SlotError::Length {
                expected: self.len,
                received: self.received,
            });
        }
        if self.buffered > 0 {
            let unit = F::WRITE_SIZE;
            let start = self.slots.base(self.slot) + F::ERASE_SIZE as u32;
            // The rest of the unit stays 0xFF (erased).
            self.slots
                .flash
                .write(start + self.written, &self.buffer[..unit])
                .map_err(flash)?;
        }
        let base = self.slots.base(self.slot);
        let header = encode_header(self.len, self.sequence);
        self.slots
            .flash
            .write(base + HEADER_AT, &header)
            .map_err(flash)?;
        // Read back (in place if the flash is mapped) and check what the flash now holds.
        let image = self.slots.slot_image(self.slot, self.len)?;
        let verified = verifier.verify(&image).map_err(SlotError::Verify)?;
        if verified.sequence != self.sequence {
            return Err(SlotError::SequenceMismatch {
                declared: self.sequence,
                verified: verified.sequence,
            });
        }
        if !self_test(&image) {
            return Err(SlotError::SelfTest);
        }
        drop(image);
        self.slots.write_marker(self.slot, Marker::Pending)
    }
}
