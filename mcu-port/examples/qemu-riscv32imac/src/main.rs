//! edgeplug firmware for QEMU `virt` (RV32IMAC): see `../common/fw.rs` for what it does and
//! prints. Instructions are read from `minstret`, which QEMU counts exactly under
//! `-icount shift=0` (checked at boot against a loop of known length).
#![no_std]
#![no_main]

extern crate alloc;

use riscv_rt::entry;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}
#[path = "../../common/fw.rs"]
mod fw;

#[global_allocator]
static HEAP: fw::PeakHeap = fw::PeakHeap::empty();

fn instructions() -> u64 {
    riscv::register::minstret::read64()
}

/// Instructions per iteration of [`counted_loop`].
const LOOP_INSTRUCTIONS_PER_ITER: u64 = 2;

/// Executes exactly `2 * n` instructions (`n` >= 1) plus the call.
#[inline(never)]
fn counted_loop(n: u32) {
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("2:", "addi {0}, {0}, -1", "bnez {0}, 2b", inout(reg) n => _, options(nomem, nostack));
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
        counter: "minstret (-icount shift=0)",
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
