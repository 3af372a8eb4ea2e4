//! The processor's floating-point exception flags: which of NumPy's four errors (division by
//! zero, overflow, underflow, invalid operation) the core's own arithmetic raised.
//!
//! The flags are sticky bits of a per-thread status register (MXCSR on x86-64, FPSR on
//! aarch64) that every IEEE operation sets as a side effect, SIMD lanes included: NumPy reads
//! the same bits after each ufunc loop. Reading them costs nothing per element, so the
//! kernels stay as they are; [`observe`] brackets a piece of work, on whichever thread runs
//! it, and the caller takes the union. On other architectures no flag is ever reported.
//!
//! Reading and writing the status register takes one instruction, with no safe Rust API:
//! std's `_mm_getcsr`/`_mm_setcsr` are deprecated (in favour of `asm!`) and unsafe
//! themselves, and aarch64 has no intrinsic at all. So each access is one `asm!` block,
//! unsafe by the language's rule; with [`crate::stream`]'s streaming stores and
//! [`crate::wide`]'s call of AVX2 code, this module is the pure core's only `unsafe` code (the
//! binding's `memory.rs` is the fourth module allowed it).
#![allow(unsafe_code)]

use std::ops::{BitOr, BitOrAssign};

/// A set of NumPy's floating-point errors, with NumPy's bit values (`NPY_FPE_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FpFlags(u8);

impl FpFlags {
    /// Division by zero (`NPY_FPE_DIVIDEBYZERO`).
    pub const DIVIDE: FpFlags = FpFlags(1);
    /// Overflow (`NPY_FPE_OVERFLOW`).
    pub const OVERFLOW: FpFlags = FpFlags(2);
    /// Underflow (`NPY_FPE_UNDERFLOW`).
    pub const UNDERFLOW: FpFlags = FpFlags(4);
    /// Invalid operation (`NPY_FPE_INVALID`).
    pub const INVALID: FpFlags = FpFlags(8);
    /// No error.
    pub const NONE: FpFlags = FpFlags(0);

    /// The bits, as NumPy numbers them.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The errors of NumPy's `bits` (others ignored).
    pub fn from_bits(bits: u8) -> FpFlags {
        FpFlags(bits & 0xF)
    }

    /// Whether every error of `other` is in `self`.
    pub fn contains(self, other: FpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for FpFlags {
    type Output = FpFlags;
    fn bitor(self, rhs: FpFlags) -> FpFlags {
        FpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for FpFlags {
    fn bitor_assign(&mut self, rhs: FpFlags) {
        self.0 |= rhs.0;
    }
}

/// Raises `errors` in this thread's flags, as the arithmetic would: for what NumPy signals
/// outside IEEE arithmetic (its float16 conversion, in software) or through an operation the
/// compiler does not emit the same way (an ordered comparison of a NaN, which C compiles to a
/// signalling compare and Rust to a quiet one).
#[inline(never)]
pub fn signal(errors: FpFlags) {
    use std::hint::black_box;
    if errors.contains(FpFlags::DIVIDE) {
        black_box(black_box(1.0_f64) / black_box(0.0));
    }
    if errors.contains(FpFlags::OVERFLOW) {
        black_box(black_box(f64::MAX) * black_box(2.0));
    }
    if errors.contains(FpFlags::UNDERFLOW) {
        black_box(black_box(f64::MIN_POSITIVE) * black_box(1e-10));
    }
    if errors.contains(FpFlags::INVALID) {
        black_box(black_box(f64::INFINITY) - black_box(f64::INFINITY));
    }
}

/// Runs `work` on this thread and returns the errors its arithmetic raised. Nestable: the
/// flags raised before are restored as they were, without these ones, which only the caller
/// gets (and passes on).
///
/// Not passed on to an enclosing `observe` by the register: a pool thread waiting for the
/// other half of a `rayon::join` runs whatever work is queued, another call's included, and
/// that call's errors would be reported to both.
pub fn observe<R>(work: impl FnOnce() -> R) -> (R, FpFlags) {
    let saved = register::read();
    register::write(saved & !register::FLAGS);
    let result = work();
    let after = register::read();
    register::write(saved);
    (result, register::errors(after))
}

#[cfg(target_arch = "x86_64")]
mod register {
    use super::FpFlags;
    use std::arch::asm;

    /// MXCSR's six exception flags (invalid, denormal, divide, overflow, underflow, precision).
    pub const FLAGS: u32 = 0x3F;

    pub fn read() -> u32 {
        let mut csr: u32 = 0;
        // SAFETY: `stmxcsr` stores the 32-bit MXCSR into the 4 bytes at the given address,
        // which is `csr`, a live, aligned, writable u32; it has no other effect. Unsafe only
        // because inline assembly is; no safe API reads MXCSR.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags)) };
        csr
    }

    pub fn write(csr: u32) {
        // SAFETY: `ldmxcsr` loads MXCSR from the 4 bytes at the given address, a live u32.
        // Callers pass a value read by `read` with only exception-flag bits changed, so the
        // rounding mode, masks and reserved bits stay as they were (a reserved bit set would
        // fault). Unsafe only because inline assembly is; no safe API writes MXCSR.
        unsafe { asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags)) };
    }

    pub fn errors(csr: u32) -> FpFlags {
        let mut flags = FpFlags::NONE;
        for (bit, error) in [
            (0x01, FpFlags::INVALID),
            (0x04, FpFlags::DIVIDE),
            (0x08, FpFlags::OVERFLOW),
            (0x10, FpFlags::UNDERFLOW),
        ] {
            if csr & bit != 0 {
                flags |= error;
            }
        }
        flags
    }
}

#[cfg(target_arch = "aarch64")]
mod register {
    use super::FpFlags;
    use std::arch::asm;

    /// FPSR's cumulative exception flags (IOC, DZC, OFC, UFC, IXC, IDC).
    pub const FLAGS: u64 = 0x9F;

    pub fn read() -> u64 {
        let fpsr: u64;
        // SAFETY: reading FPSR into a general register has no other effect. Unsafe only
        // because inline assembly is; Rust has no FPSR intrinsic.
        unsafe { asm!("mrs {}, fpsr", out(reg) fpsr, options(nostack, preserves_flags)) };
        fpsr
    }

    pub fn write(fpsr: u64) {
        // SAFETY: FPSR holds only status bits (no control); callers pass a value read by
        // `read` with only exception-flag bits changed. Unsafe only because inline assembly
        // is; Rust has no FPSR intrinsic.
        unsafe { asm!("msr fpsr, {}", in(reg) fpsr, options(nostack, preserves_flags)) };
    }

    pub fn errors(fpsr: u64) -> FpFlags {
        let mut flags = FpFlags::NONE;
        for (bit, error) in [
            (0x01, FpFlags::INVALID),
            (0x02, FpFlags::DIVIDE),
            (0x04, FpFlags::OVERFLOW),
            (0x08, FpFlags::UNDERFLOW),
        ] {
            if fpsr & bit != 0 {
                flags |= error;
            }
        }
        flags
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod register {
    use super::FpFlags;

    pub const FLAGS: u32 = 0;

    pub fn read() -> u32 {
        0
    }

    pub fn write(_: u32) {}

    pub fn errors(_: u32) -> FpFlags {
        FpFlags::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    fn raised(x: f64, y: f64, op: fn(f64, f64) -> f64) -> FpFlags {
        observe(|| black_box(op(black_box(x), black_box(y)))).1
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn each_error_is_seen() {
        let div = |a: f64, b: f64| a / b;
        let mul = |a: f64, b: f64| a * b;
        let sub = |a: f64, b: f64| a - b;
        assert_eq!(raised(1.0, 0.0, div), FpFlags::DIVIDE);
        assert_eq!(raised(0.0, 0.0, div), FpFlags::INVALID);
        assert_eq!(raised(1e308, 10.0, mul), FpFlags::OVERFLOW);
        assert!(raised(1e-308, 1e-10, mul).contains(FpFlags::UNDERFLOW));
        assert_eq!(raised(f64::INFINITY, f64::INFINITY, sub), FpFlags::INVALID);
        assert_eq!(raised(1.0, 3.0, div), FpFlags::NONE); // inexact only
        assert_eq!(raised(f64::NAN, 1.0, sub), FpFlags::NONE); // a quiet NaN raises nothing
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn signalled_errors_are_seen() {
        for errors in [
            FpFlags::DIVIDE,
            FpFlags::OVERFLOW,
            FpFlags::UNDERFLOW,
            FpFlags::INVALID,
        ] {
            assert_eq!(observe(|| signal(errors)).1, errors);
        }
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn observations_nest() {
        let (inner, outer) = observe(|| {
            black_box(black_box(1.0_f64) / black_box(0.0));
            let ((), inner) = observe(|| {
                black_box(black_box(1e308_f64) * black_box(10.0));
            });
            inner
        });
        assert_eq!(inner, FpFlags::OVERFLOW);
        assert_eq!(outer, FpFlags::DIVIDE); // the inner errors are the caller's to pass on
                                            // Nothing is left raised for the next observation on this thread to see.
        assert_eq!(observe(|| ()).1, FpFlags::NONE);
    }
}
