// SPDX-License-Identifier: GPL-2.0-only
//! A QEMU TCG plugin that counts, exactly, the instructions a vCPU executes
//! between two marker instructions of the guest.
//!
//! The markers are NOPs with a magic displacement, which the benchmark in
//! the guest (tools/testing/selftests/chardev/fence_bench.c) executes around
//! each measured stretch: `nopl 0x43440001(%rax)` starts a count on the vCPU
//! that executes it, `nopl 0x43440002(%rax)` ends it, and the plugin prints
//! `insns <vcpu> <count>` (QEMU's plugin log, `-d plugin -D FILE`). Every
//! translated block adds its number of instructions to a per-vCPU counter
//! when it starts executing, as QEMU's own insn plugin does; the count is
//! exact except when a block is left early (an exception or interrupt in its
//! middle), which the benchmark's repetitions and median absorb.

use qemu_plugin_sys::*;
use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

/// The plugin API version this plugin was written against.
#[no_mangle]
pub static qemu_plugin_version: c_int = 4;

/// `nopl disp32(%rax)`: 0f 1f 80 followed by the displacement.
const NOPL_DISP32: [u8; 3] = [0x0f, 0x1f, 0x80];
const MAGIC: u32 = 0x4344_0000;
const START: u32 = 1;
const STOP: u32 = 2;

static SCORE: AtomicPtr<qemu_plugin_scoreboard> = AtomicPtr::new(std::ptr::null_mut());
/// Per vCPU: the counter's value at the start marker.
static STARTS: Mutex<Vec<Option<u64>>> = Mutex::new(Vec::new());

fn counter() -> qemu_plugin_u64 {
    qemu_plugin_u64 {
        score: SCORE.load(Ordering::Relaxed),
        offset: 0,
    }
}

fn outs(s: &str) {
    if let Ok(c) = CString::new(s) {
        // SAFETY: `c` is a valid C string for the duration of the call.
        unsafe { qemu_plugin_outs(c.as_ptr()) };
    }
}

unsafe extern "C" fn marker(vcpu: c_uint, code: *mut c_void) {
    // SAFETY: the scoreboard lives until QEMU exits and `vcpu` is a valid index.
    let now = unsafe { qemu_plugin_u64_get(counter(), vcpu) };
    let mut starts = STARTS.lock().unwrap_or_else(|e| e.into_inner());
    let v = vcpu as usize;
    if starts.len() <= v {
        starts.resize(v + 1, None);
    }
    match code as usize as u32 {
        START => starts[v] = Some(now),
        _ => match starts[v].take() {
            Some(s) => outs(&format!("insns {vcpu} {}\n", now - s)),
            None => outs(&format!("insns {vcpu} unmatched-stop\n")),
        },
    }
}

unsafe extern "C" fn tb_trans(_id: qemu_plugin_id_t, tb: *mut qemu_plugin_tb) {
    // SAFETY: QEMU passes a valid TB handle for the duration of the callback.
    let n = unsafe { qemu_plugin_tb_n_insns(tb) };
    // SAFETY: as above; the scoreboard entry is valid.
    unsafe {
        qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(
            tb,
            qemu_plugin_op::QEMU_PLUGIN_INLINE_ADD_U64,
            counter(),
            n as u64,
        )
    };
    for i in 0..n {
        // SAFETY: `i` is below the TB's instruction count.
        let insn = unsafe { qemu_plugin_tb_get_insn(tb, i) };
        let mut b = [0u8; 7];
        // SAFETY: `b` is valid for writing 7 bytes.
        let len = unsafe { qemu_plugin_insn_data(insn, b.as_mut_ptr().cast(), b.len()) };
        // SAFETY: as above.
        if len != 7 || unsafe { qemu_plugin_insn_size(insn) } != 7 || b[..3] != NOPL_DISP32 {
            continue;
        }
        let disp = u32::from_le_bytes([b[3], b[4], b[5], b[6]]);
        let code = disp.wrapping_sub(MAGIC);
        if disp & 0xffff_0000 == MAGIC && (code == START || code == STOP) {
            // SAFETY: `insn` belongs to the TB being translated; the callback
            // reads no registers.
            unsafe {
                qemu_plugin_register_vcpu_insn_exec_cb(
                    insn,
                    Some(marker),
                    qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS,
                    code as usize as *mut c_void,
                )
            };
        }
    }
}

/// # Safety
///
/// Called by QEMU when it loads the plugin.
#[no_mangle]
pub unsafe extern "C" fn qemu_plugin_install(
    id: qemu_plugin_id_t,
    _info: *const qemu_info_t,
    _argc: c_int,
    _argv: *mut *mut c_char,
) -> c_int {
    // SAFETY: a scoreboard of one u64 per vCPU, never freed.
    let sb = unsafe { qemu_plugin_scoreboard_new(std::mem::size_of::<u64>()) };
    SCORE.store(sb, Ordering::Relaxed);
    // SAFETY: `tb_trans` has the signature QEMU expects.
    unsafe { qemu_plugin_register_vcpu_tb_trans_cb(id, Some(tb_trans)) };
    outs("insns plugin loaded\n");
    0
}
