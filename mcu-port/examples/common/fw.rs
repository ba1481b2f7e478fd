//! Target-neutral part of the edgeplug QEMU firmwares (`#[path]`-included by each
//! firmware's `main.rs`): a heap with a high-water mark, stack painting, a NOR flash over a
//! region of the board's memory map, and the benchmark itself (install the plugin into an
//! A/B slot, boot it, verify it, load it, run its self-test, confirm the slot, run every
//! embedded vector, compare with TFLM's bytes, report).
//!
//! Boot sequence, through `edgeplug_mcu::slots` on the flash region (`RamNor`):
//! 1. *factory step* (only when the flash has no trust record, i.e. at every QEMU start,
//!    since the region is RAM that starts zeroed): erase the region and write the trust set
//!    (the key embedded at build time, `EDGEPLUG_TRUST_PUB`) into the flash's trust record;
//! 2. the trust set and the anti-rollback counter are read **from the flash**;
//! 3. `Slots::boot`; on an empty device the plugin embedded in the firmware (standing in for
//!    an update that arrived over some transport) is first verified in transit, written in
//!    4 KiB chunks into slot A, read back and verified again, and marked pending; then the
//!    device "resets" (new `Slots` over the same flash) and boots it as a trial;
//! 4. the booted image is verified (signature, digest, manifest, interface, sequence not
//!    below the counter) where it lies in the mapped flash, loaded **from the slot without
//!    copying it** (`--features copy-slot` copies it into RAM instead, to measure the
//!    difference), its `model-info` checked and its self-test run; only then is the slot
//!    confirmed, which raises the counter in flash (`slot: A confirmed seq=N`); a failed
//!    check, or a simd128 plugin on a firmware without `simd`, rejects the trial (exit 5);
//! 5. after the vectors, a second reset shows the confirmed slot booting as such and the
//!    same plugin refused as a reinstall (its sequence is not above the counter).
//!
//! Output lines (parsed by people and by `run-qemu.sh`'s callers):
//! `slot: A confirmed seq=N`, `verified: signer <key id hex> sequence <n>`, `self_test: ok`,
//! `result: <label> <score>` per vector, `outputs match: N/N`, `instructions: N` (the most
//! any one inference took), `heap_peak: N`, `stack_peak: N` (bytes), plus informational
//! lines. The exit status is 0 only if the plugin verified, passed its self-test and every
//! output matched.

use super::{LOOP_INSTRUCTIONS_PER_ITER, counted_loop};
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};
use edgeplug_mcu::slots::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use edgeplug_mcu::slots::{self, Boot, SlotError, Slots};
use semihosting::println;

/// What a board supplies.
pub struct Board {
    /// Instructions retired so far (exact under `-icount shift=0`).
    pub instructions: fn() -> u64,
    /// Short name of the counter, for the report.
    pub counter: &'static str,
    /// First byte of the heap region.
    pub heap_start: usize,
    /// One past the last byte of the heap region.
    pub heap_end: usize,
    /// Lowest address the stack may reach.
    pub stack_bottom: usize,
    /// Initial stack pointer (top of the stack region).
    pub stack_top: usize,
    /// Bytes of static RAM (`.data` + `.bss` + `.uninit`).
    pub static_ram: usize,
    /// First byte of the plugin flash region (`_fw_slot_flash_start` in `ld/memory.x`).
    pub flash_start: usize,
    /// Bytes of the plugin flash region (a multiple of 4 KiB, at least 2 MiB).
    pub flash_len: usize,
}

/// Erase sector of [`RamNor`] (as an ESP32's SPI NOR flash).
const SECTOR: u32 = 4096;

/// Where the slots lie in the plugin flash region: the device state (trust record and
/// anti-rollback counter, 3 sectors) at 0, slot A at 64 KiB and slot B at 1 MiB, 960 KiB
/// each (one metadata sector, then up to 956 KiB of plugin).
const LAYOUT: slots::Layout = slots::Layout {
    state: 0,
    slot_a: 64 * 1024,
    slot_b: 1024 * 1024,
    slot_size: 960 * 1024,
};

/// A NOR flash over a region of the QEMU board's memory map (RAM there, see `ld/memory.x`).
///
/// It models a memory-mapped (execute-in-place) SPI NOR flash such as an ESP32's: the CPU
/// reads it at a fixed address, 4 KiB erase sectors that erase to `0xFF`, 4-byte write
/// units, and a write may only program erased bytes (it is refused on bytes that are not
/// `0xFF`, which catches a slot manager writing a location twice). It is not persistent
/// across QEMU runs (the RAM starts zeroed), so every run starts with the factory step.
pub struct RamNor {
    base: *mut u8,
    len: usize,
}

/// Why a [`RamNor`] operation failed.
#[derive(Clone, Copy, Debug)]
pub enum RamNorError {
    /// Outside the region.
    OutOfBounds,
    /// Offset or length not a multiple of the write or erase unit.
    NotAligned,
    /// A write to bytes that are not erased.
    NotErased,
}

impl NorFlashError for RamNorError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            RamNorError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            RamNorError::NotAligned => NorFlashErrorKind::NotAligned,
            RamNorError::NotErased => NorFlashErrorKind::Other,
        }
    }
}

impl RamNor {
    /// The flash over `[base, base + len)`.
    ///
    /// # Safety
    /// The region must be memory nothing else uses, valid for reads and writes.
    pub unsafe fn new(base: usize, len: usize) -> Self {
        RamNor {
            base: base as *mut u8,
            len,
        }
    }

    /// The whole flash as the CPU sees it (for `Slots::with_mapping`).
    pub fn contents(&self) -> &[u8] {
        // SAFETY: the region given to `new`; writes only happen through `&mut self`.
        unsafe { core::slice::from_raw_parts(self.base, self.len) }
    }

    fn range(&self, offset: u32, len: usize, align: usize) -> Result<usize, RamNorError> {
        let start = offset as usize;
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(RamNorError::NotAligned);
        }
        match start.checked_add(len) {
            Some(end) if end <= self.len => Ok(start),
            _ => Err(RamNorError::OutOfBounds),
        }
    }
}

impl ErrorType for RamNor {
    type Error = RamNorError;
}

impl ReadNorFlash for RamNor {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), RamNorError> {
        let start = self.range(offset, bytes.len(), 1)?;
        bytes.copy_from_slice(&self.contents()[start..start + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.len
    }
}

impl NorFlash for RamNor {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = SECTOR as usize;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamNorError> {
        let len = (to as usize)
            .checked_sub(from as usize)
            .ok_or(RamNorError::OutOfBounds)?;
        let start = self.range(from, len, Self::ERASE_SIZE)?;
        // SAFETY: inside the region (checked above).
        unsafe { core::ptr::write_bytes(self.base.add(start), 0xFF, len) };
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), RamNorError> {
        let start = self.range(offset, bytes.len(), Self::WRITE_SIZE)?;
        if self.contents()[start..start + bytes.len()]
            .iter()
            .any(|&b| b != 0xFF)
        {
            return Err(RamNorError::NotErased);
        }
        for (i, &b) in bytes.iter().enumerate() {
            // SAFETY: inside the region (checked above). NOR programming only clears bits.
            unsafe {
                let p = self.base.add(start + i);
                p.write(p.read() & b);
            }
        }
        Ok(())
    }
}

/// The heap: a linked-list allocator that remembers the most bytes it ever had in use.
pub struct PeakHeap {
    heap: embedded_alloc::LlffHeap,
    peak: AtomicUsize,
}

impl PeakHeap {
    /// An empty heap; call [`PeakHeap::init`] before the first allocation.
    pub const fn empty() -> Self {
        PeakHeap {
            heap: embedded_alloc::LlffHeap::empty(),
            peak: AtomicUsize::new(0),
        }
    }

    /// Gives the heap the region `[start, end)`.
    ///
    /// # Safety
    /// Call once, before any allocation, with a region nothing else uses.
    pub unsafe fn init(&self, start: usize, end: usize) {
        // SAFETY: forwarded contract.
        unsafe { self.heap.init(start, end - start) }
    }

    /// Most bytes in use at any time (allocator bookkeeping and alignment included).
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Bytes in use now.
    pub fn used(&self) -> usize {
        self.heap.used()
    }
}

// SAFETY: forwards to LlffHeap, which is a correct allocator; only bookkeeping is added.
unsafe impl GlobalAlloc for PeakHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.heap.alloc(layout) };
        if p.is_null() {
            out_of_heap(layout.size(), self.heap.used(), self.heap.free());
        } else {
            self.peak.fetch_max(self.heap.used(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract (LlffHeap's realloc is alloc + copy + dealloc).
        let p = unsafe { self.heap.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_heap(new_size, self.heap.used(), self.heap.free());
        } else {
            self.peak.fetch_max(self.heap.used(), Ordering::Relaxed);
        }
        p
    }
}

/// Says that an allocation failed (before Rust's allocation-error panic, or wasmi's
/// error for a failed `try_reserve`). Printing does not allocate.
fn out_of_heap(size: usize, used: usize, free: usize) {
    println!(
        "error: out of heap: {size} bytes requested, {used} in use, {free} free (fragments \
         included); the plugin does not fit in this RAM (see EDGEPLUG_RAM_KIB)"
    );
}

const PAINT: u32 = 0x5AFE_C0DE;

/// Fills the unused part of the stack, from `bottom` to just below this function's frame,
/// with a pattern.
///
/// # Safety
/// `bottom` must be the (4-aligned) lowest address of the stack region, and the stack
/// must not be used below this frame by anything else.
#[inline(never)]
pub unsafe fn paint_stack(bottom: usize) {
    let marker = 0u32;
    let here = core::ptr::addr_of!(marker) as usize;
    let mut p = bottom;
    while p + 256 < here {
        // SAFETY: `p` is inside the stack region, below the live frames.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of stack used since [`paint_stack`]: from the top down to the lowest word that
/// no longer holds the pattern.
///
/// # Safety
/// Same region as given to [`paint_stack`].
pub unsafe fn stack_used(bottom: usize, top: usize) -> usize {
    let mut p = bottom;
    // SAFETY: reads inside the stack region.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

/// Index and value of the largest element (first one on ties), as TFLM's argmax.
fn argmax(data: &[u8]) -> (usize, i8) {
    let mut best = (0, i8::MIN);
    for (i, &b) in data.iter().enumerate() {
        if (b as i8) > best.1 || i == 0 {
            best = (i, b as i8);
        }
    }
    best
}

struct Report {
    matched: usize,
    max_instructions: u64,
}

fn report_sample(
    report: &mut Report,
    id: &str,
    output: &[u8],
    expected: &[u8],
    labels: &[&str],
    quant: Option<(f32, i32)>,
    instructions: u64,
) {
    let (class, q) = argmax(output);
    let score = match quant {
        Some((scale, zp)) => scale * (i32::from(q) - zp) as f32,
        None => f32::from(q),
    };
    let label = labels.get(class).copied().unwrap_or("?");
    let same = output == expected;
    if same {
        report.matched += 1;
    }
    println!(
        "vector {id}: {instructions} instructions, outputs {}",
        if same {
            "identical to TFLM"
        } else {
            "DIFFER from TFLM"
        }
    );
    if !same {
        println!("  got      {:?}", output);
        println!("  expected {:?}", expected);
    }
    println!("result: {label} {score:.4}");
    report.max_instructions = report.max_instructions.max(instructions);
}

/// Runs the benchmark and returns the exit status.
pub fn run(board: &Board, heap: &PeakHeap, plugin: &[u8], vectors: &[(&str, &[u8], &[u8])]) -> i32 {
    // SAFETY: the board's stack region; we are the only code running.
    unsafe { paint_stack(board.stack_bottom) };
    println!(
        "edgeplug firmware: {} mode, counter {}, heap {} bytes, stack {} bytes, static {} bytes",
        if cfg!(feature = "native") {
            "native"
        } else {
            "wasmi"
        },
        board.counter,
        board.heap_end - board.heap_start,
        board.stack_top - board.stack_bottom,
        board.static_ram
    );
    if !calibrate(board) {
        println!("error: the instruction counter is off by more than 0.1%");
        return 4;
    }
    let (mut slots, boot, verifier) = match boot_slot(board, plugin) {
        Ok(b) => b,
        Err(status) => return status,
    };
    // The booted image: in place in the mapped flash, or (copy-slot) copied into RAM.
    let copied: alloc::vec::Vec<u8>;
    let image: &[u8] = if cfg!(feature = "copy-slot") {
        match slots.image(&boot) {
            Ok(i) => {
                copied = i.into_owned();
                &copied
            }
            Err(e) => {
                println!("error: slots: {e}");
                return 2;
            }
        }
    } else {
        let start = board.flash_start + slots.image_offset(&boot) as usize;
        // SAFETY: inside the flash region (the slots checked the image fits its slot).
        // Nothing writes this slot while the plugin runs: an update would go to the
        // other slot, and confirm/reject write only the slot's metadata sector.
        unsafe { core::slice::from_raw_parts(start as *const u8, boot.len() as usize) }
    };
    println!(
        "image: {} bytes in slot {:?}, {}",
        image.len(),
        boot.slot(),
        if cfg!(feature = "copy-slot") {
            "copied into RAM (copy-slot)"
        } else {
            "used in place from the mapped flash (not copied)"
        }
    );
    let manifest = match verify_image(board, &verifier, image) {
        Ok(m) => m,
        Err(()) => {
            let _ = slots.reject();
            return 5;
        }
    };
    let mut report = Report {
        matched: 0,
        max_instructions: 0,
    };
    let status = {
        let mut confirm = || confirm_slot(&mut slots, &boot);
        run_mode(
            board,
            heap,
            image,
            &manifest,
            vectors,
            &mut report,
            &mut confirm,
        )
    };
    if let Err(Failure::Refused) = status
        && boot.is_trial()
    {
        match slots.reject() {
            Ok(()) => println!(
                "slot: {:?} rejected (the previous slot boots next)",
                boot.slot()
            ),
            Err(e) => println!("error: slots: cannot reject the trial: {e}"),
        }
    }
    let rebooted = status.is_err() || reboot_check(board, slots, &verifier, image.len());
    // SAFETY: same region as painted above.
    let stack_peak = unsafe { stack_used(board.stack_bottom, board.stack_top) };
    println!("outputs match: {}/{}", report.matched, vectors.len());
    println!("instructions: {}", report.max_instructions);
    if report.max_instructions > 0 {
        // KWS DS-CNN: 2,656,768 MACs (MODELS.md); other models print their own count.
        println!("heap_now: {}", heap.used());
    }
    println!("heap_peak: {}", heap.peak());
    println!("stack_peak: {stack_peak}");
    println!(
        "ram_total: {} (static + heap_peak + stack_peak)",
        board.static_ram + heap.peak() + stack_peak
    );
    if stack_peak + 64 >= board.stack_top - board.stack_bottom {
        println!("error: the stack reached the bottom of its region (overflow likely)");
        return 3;
    }
    match status {
        Ok(()) if !rebooted => 2,
        Ok(()) if report.matched == vectors.len() && !vectors.is_empty() => 0,
        Ok(()) => {
            println!("error: outputs differ from TFLM's");
            1
        }
        Err(Failure::Run) => 2,
        Err(Failure::Refused) => 5,
    }
}

/// Why [`run_mode`] stopped.
enum Failure {
    /// Load or inference error.
    Run,
    /// The plugin failed a trust check after loading (model-info or self-test), or needs a
    /// wasmi feature this firmware leaves out (SIMD).
    Refused,
}

/// The slots on the board's plugin flash region (mapped unless `copy-slot`).
fn open_slots(board: &Board, flash: Option<RamNor>) -> Result<Slots<RamNor>, i32> {
    // SAFETY: the region `_fw_slot_flash_start` / `_fw_slot_flash_size` of memory.x is
    // reserved for this flash and used by nothing else.
    let flash = flash.unwrap_or_else(|| unsafe { RamNor::new(board.flash_start, board.flash_len) });
    let slots = Slots::new(flash, LAYOUT).map_err(|e| {
        println!("error: slots: {e}");
        2
    })?;
    Ok(if cfg!(feature = "copy-slot") {
        slots
    } else {
        slots.with_mapping(RamNor::contents)
    })
}

/// Prints a slot error as a refusal (exit 5) or a flash failure (exit 2).
fn slot_failure(e: SlotError) -> i32 {
    match e {
        SlotError::Verify(_)
        | SlotError::Downgrade { .. }
        | SlotError::SequenceMismatch { .. }
        | SlotError::SelfTest => {
            println!("error: plugin refused: {e}");
            5
        }
        _ => {
            println!("error: slots: {e}");
            2
        }
    }
}

/// Steps 1-3 of the boot sequence (module documentation): factory step if needed, trust
/// set and anti-rollback counter from the flash, `Slots::boot`, and on an empty device the
/// installation of `plugin` followed by a reset into its trial.
fn boot_slot(
    board: &Board,
    plugin: &[u8],
) -> Result<(Slots<RamNor>, Boot, edgeplug_mcu::SignatureVerifier), i32> {
    use edgeplug_mcu::signing::{PublicKey, TrustSet};

    let mut slots = open_slots(board, None)?;
    if let Err(SlotError::Trust(why)) = slots.read_trust() {
        println!(
            "factory: {why}: erasing the plugin flash ({} KiB at {:#x}) and writing the trust set (the key embedded at build time)",
            board.flash_len / 1024,
            board.flash_start
        );
        let Ok(key) = <[u8; slots::TRUSTED_KEY_LEN]>::try_from(super::embedded::TRUST_PUB) else {
            println!("error: plugin refused: the embedded trusted key is not 33 bytes");
            return Err(5);
        };
        slots
            .flash_mut()
            .erase(0, board.flash_len as u32)
            .map_err(|e| {
                println!("error: flash erase: {e:?}");
                2
            })?;
        slots.write_trust(&[key]).map_err(slot_failure)?;
    }
    let keys = slots.read_trust().map_err(slot_failure)?;
    let mut trust = TrustSet::new();
    for key in &keys {
        let added = PublicKey::from_bytes(key).map(|k| trust.add(k));
        if !matches!(added, Ok(Ok(_))) {
            println!("error: plugin refused: a key of the flash's trust record is invalid");
            return Err(5);
        }
    }
    let floor = slots.floor().map_err(slot_failure)?;
    println!(
        "flash: trust set of {} key(s) and anti-rollback counter {} read from flash",
        keys.len(),
        floor.map_or("unset".into(), |f| alloc::format!("{f}"))
    );
    let verifier = edgeplug_mcu::SignatureVerifier::new(trust, floor);
    let t0 = (board.instructions)();
    let boot = match slots.boot(&verifier) {
        Ok(boot) => boot,
        Err(SlotError::NoBootableImage) => {
            println!("slot: none bootable (empty device): installing the embedded plugin");
            install(board, &mut slots, &verifier, plugin)?;
            // Reset: a new `Slots` over the same flash, as after a reboot.
            slots = open_slots(board, Some(slots.into_flash()))?;
            let t0 = (board.instructions)();
            let boot = slots.boot(&verifier).map_err(slot_failure)?;
            println!(
                "boot: {} instructions (slot metadata, the image verified {})",
                (board.instructions)() - t0,
                if cfg!(feature = "copy-slot") {
                    "from a copy in RAM"
                } else {
                    "in place"
                }
            );
            boot
        }
        Err(e) => return Err(slot_failure(e)),
    };
    if !boot.is_trial() {
        println!(
            "boot: {} instructions; slot: {:?} confirmed seq={}",
            (board.instructions)() - t0,
            boot.slot(),
            boot.sequence()
        );
    } else {
        println!(
            "slot: {:?} trial seq={} (confirmed only after its self-test)",
            boot.slot(),
            boot.sequence()
        );
    }
    Ok((slots, boot, verifier))
}

/// Installs `plugin` as an update into the empty device: verified in transit (before
/// anything is erased), written in 4 KiB chunks, read back, verified again, pending.
fn install(
    board: &Board,
    slots: &mut Slots<RamNor>,
    verifier: &edgeplug_mcu::SignatureVerifier,
    plugin: &[u8],
) -> Result<(), i32> {
    let t0 = (board.instructions)();
    // A transport would announce the sequence; here it is read from the verified manifest.
    let sequence = match verifier.verify_plugin(plugin) {
        Ok(v) => v.manifest.sequence,
        Err(e) => {
            println!("error: plugin refused: {e}");
            return Err(5);
        }
    };
    let transit = (board.instructions)() - t0;
    let mut update = slots
        .begin_update(plugin.len(), sequence)
        .map_err(slot_failure)?;
    let target = update.slot();
    let mut chunks = 0;
    for chunk in plugin.chunks(SECTOR as usize) {
        update.write(chunk).map_err(slot_failure)?;
        chunks += 1;
    }
    // The self-test runs at the trial boot, as its health check, before `confirm` (running
    // it here as well would load the plugin twice).
    update.finish(verifier, |_| true).map_err(slot_failure)?;
    println!(
        "install: {} bytes in {chunks} chunks into slot {target:?} (sequence {sequence}), verified in transit and again from the flash, pending; {} instructions ({transit} for the verification in transit)",
        plugin.len(),
        (board.instructions)() - t0
    );
    Ok(())
}

/// Confirms a trial slot (after the self-test passed); says whether that worked.
fn confirm_slot(slots: &mut Slots<RamNor>, boot: &Boot) -> bool {
    if !boot.is_trial() {
        return true;
    }
    if let Err(e) = slots.confirm() {
        println!("error: slots: cannot confirm: {e}");
        return false;
    }
    match slots.floor() {
        Ok(Some(floor)) => {
            println!(
                "slot: {:?} confirmed seq={} (anti-rollback counter in flash now {floor})",
                boot.slot(),
                boot.sequence()
            );
            true
        }
        other => {
            println!("error: slots: the anti-rollback counter reads {other:?} after confirm");
            false
        }
    }
}

/// Step 5: a reset after the confirmation boots the slot as confirmed and refuses the same
/// plugin as a reinstall (its sequence is not above the counter). Says whether it did.
fn reboot_check(
    board: &Board,
    slots: Slots<RamNor>,
    verifier: &edgeplug_mcu::SignatureVerifier,
    len: usize,
) -> bool {
    let Ok(mut slots) = open_slots(board, Some(slots.into_flash())) else {
        return false;
    };
    let floor = slots.floor().ok().flatten();
    let verifier = edgeplug_mcu::SignatureVerifier::new(verifier.trust().clone(), floor);
    let sequence = match slots.boot(&verifier) {
        Ok(Boot::Confirmed { slot, sequence, .. }) => {
            println!(
                "reboot: slot: {slot:?} confirmed seq={sequence}, anti-rollback counter {}",
                floor.unwrap_or(0)
            );
            sequence
        }
        other => {
            println!("error: reboot: expected a confirmed slot, got {other:?}");
            return false;
        }
    };
    match slots.begin_update(len, sequence) {
        Err(e @ SlotError::Downgrade { .. }) => {
            println!("reboot: reinstalling sequence {sequence} refused: {e}");
            true
        }
        Err(e) => {
            println!("error: reboot: reinstall refused for the wrong reason: {e}");
            false
        }
        Ok(_) => {
            println!("error: reboot: a reinstall of sequence {sequence} was accepted");
            false
        }
    }
}

/// Verifies the booted image (again: `Slots::boot` checked it, this gives the manifest)
/// with the trust set and the counter from the flash, **before anything parses it**
/// (signature, component layer, manifest, interface version, anti-rollback: the gateway's
/// pre-load checks) and returns its verified manifest; prints why and returns `Err` if
/// refused.
fn verify_image(
    board: &Board,
    verifier: &edgeplug_mcu::SignatureVerifier,
    plugin: &[u8],
) -> Result<edgeplug_mcu::signing::Manifest, ()> {
    use core::fmt::Write as _;

    let t0 = (board.instructions)();
    let verified = match verifier.verify_plugin(plugin) {
        Ok(v) => v,
        Err(e) => {
            println!("error: plugin refused: {e}");
            return Err(());
        }
    };
    let n = (board.instructions)() - t0;
    for i in verified.signers.iter() {
        let mut id = alloc::string::String::new();
        if let Some(k) = verifier.trust().get(i) {
            for b in k.key_id() {
                let _ = write!(id, "{b:02x}");
            }
        }
        println!(
            "verified: signer {id} sequence {}",
            verified.manifest.sequence
        );
    }
    println!(
        "verification: {n} instructions (Ed25519 + SHA-256 over {} bytes, manifest decode); plugin `{}` {}",
        plugin.len(),
        verified.manifest.name,
        verified.manifest.version
    );
    Ok(verified.manifest)
}

/// Checks the counter against a loop of known length, prints the result and says whether
/// it is within 0.1%.
fn calibrate(board: &Board) -> bool {
    const N: u32 = 100_000;
    let before = (board.instructions)();
    let after_empty = (board.instructions)();
    let overhead = after_empty - before;
    let start = (board.instructions)();
    counted_loop(N);
    let end = (board.instructions)();
    let expected = LOOP_INSTRUCTIONS_PER_ITER * u64::from(N);
    let measured = (end - start).saturating_sub(overhead);
    println!(
        "counter check: a {expected}-instruction loop measured {measured} (read overhead {overhead})"
    );
    measured.abs_diff(expected) <= expected / 1000
}

#[cfg(not(feature = "native"))]
fn run_mode(
    board: &Board,
    heap: &PeakHeap,
    plugin: &[u8],
    manifest: &edgeplug_mcu::signing::Manifest,
    vectors: &[(&str, &[u8], &[u8])],
    report: &mut Report,
    confirm: &mut dyn FnMut() -> bool,
) -> Result<(), Failure> {
    use alloc::vec::Vec;
    use edgeplug_mcu::{Config, ElementType, NullHost, Plugin, TensorRef};

    #[cfg(feature = "heap-breakdown")]
    heap_breakdown(plugin);

    // The signed manifest's limits: wasmi's fuel budget per call and the linear memory the
    // plugin was measured to need (0 means unknown: no cap).
    let fuel = manifest
        .resources
        .fuel
        .iter()
        .find(|f| f.engine == "wasmi")
        .map(|f| f.fuel_per_inference);
    let max_memory_bytes = usize::try_from(manifest.resources.memory_bytes)
        .ok()
        .filter(|&m| m > 0);
    let config = Config {
        fuel,
        max_memory_bytes,
    };
    println!(
        "limits: fuel per call {}, linear memory cap {} bytes (from the signed manifest)",
        fuel.map_or("unlimited".into(), |f| alloc::format!("{f}")),
        max_memory_bytes.map_or("none".into(), |m| alloc::format!("{m}")),
    );
    let t0 = (board.instructions)();
    let mut p = match Plugin::new(plugin, NullHost, &config) {
        Ok(p) => p,
        // A plugin this firmware can never run (built with +simd128 for a wasmi without
        // `simd`) is refused like a failed check, so its trial slot is rejected at once.
        Err(e @ edgeplug_mcu::Error::SimdNotEnabled { .. }) => {
            println!("error: plugin refused: cannot load it: {e}");
            return Err(Failure::Refused);
        }
        Err(e) => {
            println!("error: cannot load the plugin: {e}");
            return Err(Failure::Run);
        }
    };
    let load = (board.instructions)() - t0;
    let info = p.info().clone();
    println!(
        "plugin: {} {} ({} bytes), loaded in {load} instructions, linear memory {} bytes, heap used {} (peak so far {})",
        info.name,
        info.version,
        plugin.len(),
        p.memory_bytes(),
        heap.used(),
        heap.peak()
    );
    let t0 = (board.instructions)();
    match edgeplug_mcu::check_loaded(&mut p, manifest) {
        Ok(digest) => {
            let n = (board.instructions)() - t0;
            println!("self_test: ok (outputs' SHA-256 {digest}, {n} instructions)");
        }
        Err(e) => {
            println!("error: plugin refused: {e}");
            return Err(Failure::Refused);
        }
    }
    if !confirm() {
        return Err(Failure::Run);
    }
    let labels: Vec<&str> = info.labels.iter().map(|s| s.as_str()).collect();
    let quant = info.outputs[0]
        .quantization
        .map(|q| (q.scale, q.zero_point));
    let shape = info.inputs[0].shape.clone();
    for &(id, input, expected) in vectors {
        let t0 = (board.instructions)();
        let result = p.infer(&[TensorRef {
            shape: &shape,
            dtype: ElementType::Int8,
            data: input,
        }]);
        let n = (board.instructions)() - t0;
        if let (Some(budget), Some(left)) = (fuel, p.fuel_left()) {
            println!("fuel_used: {} of {budget}", budget - left);
        }
        match result {
            Ok(outputs) => report_sample(report, id, &outputs[0].data, expected, &labels, quant, n),
            Err(e) => {
                println!("error: vector {id}: {e}");
                return Err(Failure::Run);
            }
        }
    }
    println!(
        "after inference: linear memory {} bytes, heap used {}",
        p.memory_bytes(),
        heap.used()
    );
    Ok(())
}

/// Loads the plugin's core module step by step with wasmi (as `Plugin::new` does) and
/// prints the heap in use after each step.
#[cfg(feature = "heap-breakdown")]
fn heap_breakdown(plugin: &[u8]) {
    let heap = &super::HEAP;
    let core = edgeplug_mcu::core_module(plugin).expect("core module");
    println!(
        "breakdown: core module {} bytes; heap before {}",
        core.len(),
        heap.used()
    );
    for (name, mode) in [
        ("lazy-translation", wasmi::CompilationMode::LazyTranslation),
        ("lazy", wasmi::CompilationMode::Lazy),
        ("eager", wasmi::CompilationMode::Eager),
    ] {
        let mut config = wasmi::Config::default();
        config.compilation_mode(mode);
        let engine = wasmi::Engine::new(&config);
        let module = wasmi::Module::new(&engine, core).expect("module");
        let after_module = heap.used();
        let mut store = wasmi::Store::new(&engine, ());
        let mut linker = wasmi::Linker::<()>::new(&engine);
        for m in ["edgeplug:ml/host@0.1.0", "cm32p2|edgeplug:ml/host@0.1"] {
            let _ = linker.func_wrap(m, "log", |_: i32, _: i32, _: i32| {});
            let _ = linker.func_wrap(m, "now-ns", || -> i64 { 0 });
        }
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .expect("instance");
        let mem = instance
            .get_memory(&store, "memory")
            .map(|m| m.data_size(&store))
            .unwrap_or(0);
        println!(
            "breakdown {name}: after Module::new {after_module}, after instantiate {} (linear memory {mem})",
            heap.used()
        );
    }
}

/// Finds the `.epm` the packer put inside the plugin component: the first `EPM\0` header
/// whose length and CRC-32 check, with the packer's metadata (`u32` length, name, version,
/// labels) right before it.
#[cfg(feature = "native")]
fn find_epm(plugin: &[u8]) -> Option<(&[u8], &str)> {
    let u32_at = |i: usize| {
        plugin
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let mut i = 0;
    while i + 16 <= plugin.len() {
        if &plugin[i..i + 4] == b"EPM\0" {
            let len = u32_at(i + 8)?;
            if let Some(epm) = (i + 16).checked_add(len).and_then(|end| plugin.get(i..end))
                && edgeplug_model::format::decode(epm).is_ok()
            {
                // Metadata: u32 M at p, M bytes, then the .epm at p + 4 + M.
                let meta = (4..i.min(65536))
                    .map(|back| i - back)
                    .find(|&p| u32_at(p) == Some(i - p - 4))
                    .and_then(|p| core::str::from_utf8(&plugin[p + 4..i]).ok())
                    .unwrap_or("");
                return Some((epm, meta));
            }
        }
        i += 1;
    }
    None
}

#[cfg(feature = "native")]
fn run_mode(
    board: &Board,
    heap: &PeakHeap,
    plugin: &[u8],
    manifest: &edgeplug_mcu::signing::Manifest,
    vectors: &[(&str, &[u8], &[u8])],
    report: &mut Report,
    confirm: &mut dyn FnMut() -> bool,
) -> Result<(), Failure> {
    use alloc::vec;
    use alloc::vec::Vec;
    use edgeplug_model::{Interpreter, format};

    // The plugin verified (signature over every byte, so the `.epm` inside is the signed
    // one); only now is it searched.
    let Some((epm, meta)) = find_epm(plugin) else {
        println!("error: no .epm model found inside the plugin");
        return Err(Failure::Run);
    };
    let t0 = (board.instructions)();
    let model = match format::decode(epm) {
        Ok(m) => m,
        Err(e) => {
            println!("error: {e}");
            return Err(Failure::Run);
        }
    };
    let mut interp = match Interpreter::new(&model) {
        Ok(i) => i,
        Err(e) => {
            println!("error: {e}");
            return Err(Failure::Run);
        }
    };
    let load = (board.instructions)() - t0;
    println!(
        "heap after prepare: used {} (peak so far {})",
        heap.used(),
        heap.peak()
    );
    let labels: Vec<&str> = meta.lines().skip(2).collect();
    println!(
        "model: {} ({} bytes of .epm inside the plugin), prepared in {load} instructions, arena {} bytes",
        model.name,
        epm.len(),
        interp.arena_bytes()
    );
    let out_tensor = interp.output(0).expect("validated model has an output");
    let quant = out_tensor
        .quantization
        .as_ref()
        .and_then(|q| Some((*q.scales.first()?, *q.zero_points.first()?)));
    let out_len: usize = out_tensor.shape.iter().map(|&d| d as usize).product();
    let mut out = vec![0u8; out_len];
    // The manifest's self-test on the native executor (one input, one output here).
    let self_inputs: Vec<&[u8]> = manifest
        .self_test
        .inputs
        .iter()
        .map(|b| b.0.as_slice())
        .collect();
    if let Err(e) = interp.invoke(&self_inputs, &mut [&mut out]) {
        println!("error: plugin refused: self-test failed: {e}");
        return Err(Failure::Refused);
    }
    let digest = edgeplug_mcu::signing::SelfTest::output_digest([out.as_slice()]);
    if digest != manifest.self_test.output_sha256 {
        println!(
            "error: plugin refused: self-test failed: the outputs' SHA-256 is {digest}, the manifest expects {}",
            manifest.self_test.output_sha256
        );
        return Err(Failure::Refused);
    }
    println!("self_test: ok (outputs' SHA-256 {digest}, native executor)");
    if !confirm() {
        return Err(Failure::Run);
    }
    for &(id, input, expected) in vectors {
        let t0 = (board.instructions)();
        let result = interp.invoke(&[input], &mut [&mut out]);
        let n = (board.instructions)() - t0;
        if let Err(e) = result {
            println!("error: vector {id}: {e}");
            return Err(Failure::Run);
        }
        report_sample(report, id, &out, expected, &labels, quant, n);
    }
    Ok(())
}
