//! edgeplug firmware for QEMU `mps2-an386` (Cortex-M4F): see `../common/fw.rs` for what it
//! does and prints. Instructions are counted with SysTick, which under `-icount shift=0`
//! advances once per executed instruction (checked at boot against a loop of known length).
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::{SYST, syst::SystClkSource};
use cortex_m_rt::{entry, exception};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}
#[path = "../../common/fw.rs"]
mod fw;

#[global_allocator]
static HEAP: fw::PeakHeap = fw::PeakHeap::empty();

/// Instructions per SysTick count. Under `-icount shift=0` every instruction takes 1 ns of
/// virtual time, and QEMU clocks the mps2-an386 SysTick from the 25 MHz system clock: one
/// count per 40 instructions. So counts are exact in aggregate with a resolution of 40
/// instructions (the boot-time check against a loop of known length confirms the factor).
const INSTRUCTIONS_PER_TICK: u64 = 40;

/// SysTick wraps (each one is 2^24 counts).
static WRAPS: AtomicU32 = AtomicU32::new(0);
const RELOAD: u32 = 0x00FF_FFFF;

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

fn instructions() -> u64 {
    loop {
        let wraps = WRAPS.load(Ordering::Relaxed);
        let current = SYST::get_current();
        if WRAPS.load(Ordering::Relaxed) == wraps {
            let ticks = u64::from(wraps) * (u64::from(RELOAD) + 1) + u64::from(RELOAD - current);
            return ticks * INSTRUCTIONS_PER_TICK;
        }
    }
}

/// Instructions per iteration of [`counted_loop`].
const LOOP_INSTRUCTIONS_PER_ITER: u64 = 2;

/// Executes exactly `2 * n` instructions (`n` >= 1) plus the call.
#[inline(never)]
fn counted_loop(n: u32) {
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("2:", "subs {0}, #1", "bne 2b", inout(reg) n => _, options(nomem, nostack));
    }
}

unsafe extern "C" {
    static __sdata: u8;
    static __sheap: u8;
    static _stack_start: u8;
    static _fw_stack_size: u8;
    static _fw_slot_flash_start: u8;
    static _fw_slot_flash_size: u8;
}

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().expect("first take");
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(RELOAD);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();

    // Linker symbols: only their addresses are used.
    let (sdata, sheap, stack_top, stack_size) = (
        core::ptr::addr_of!(__sdata) as usize,
        core::ptr::addr_of!(__sheap) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
        core::ptr::addr_of!(_fw_stack_size) as usize,
    );
    let stack_bottom = stack_top - stack_size;
    // SAFETY: [__sheap, stack bottom) is unused RAM (memory.x), initialised once.
    unsafe { HEAP.init(sheap, stack_bottom) };
    let board = fw::Board {
        instructions,
        counter: "SysTick x40 (-icount shift=0)",
        heap_start: sheap,
        heap_end: stack_bottom,
        stack_bottom,
        stack_top,
        static_ram: sheap - sdata,
        flash_start: core::ptr::addr_of!(_fw_slot_flash_start) as usize,
        flash_len: core::ptr::addr_of!(_fw_slot_flash_size) as usize,
    };
    let status = fw::run(&board, &HEAP, embedded::PLUGIN, embedded::VECTORS);
    semihosting::process::exit(status)
}
