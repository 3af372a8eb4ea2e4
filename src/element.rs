//! Element types and the exact arithmetic NumPy performs on them.
//!
//! `numpy.gradient` is a handful of ufunc calls; to reproduce its bits we perform each ufunc's
//! operation in the same type, in the same order, with the same algorithm. Three roles appear:
//!
//! * the *storage* type `S` of the input (any integer width, `f16`, `f32`, `f64`, complex);
//! * the *data* type `A` NumPy differences in (`f64` for integer input, which NumPy converts
//!   first; otherwise `S`), which is also the output type;
//! * the *compute* type `T` of the division or weighted sum, NumPy's promotion of `A` with the
//!   spacing's type (for instance `f64` for `f32` data with a `np.float64` spacing).

use crate::fp_status::{self, FpFlags};
use half::f16;
use ndarray::ArrayView1;
use num_complex::Complex;
use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// A real IEEE type in which NumPy computes: [`Half`] (NumPy's float16), `f32` or `f64`.
pub trait Real:
    Copy
    + Debug
    + Default
    + PartialEq
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Rounds an `f64` to this type (round to nearest even, directly from `f64`).
    fn from_f64(value: f64) -> Self;
    /// Widens to `f64`; exact.
    fn to_f64(self) -> f64;
    /// `self * a + b` with a single rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// This value in another real type: exact when widening, one correct rounding when
    /// narrowing (through `f64`, which holds every `f16` and `f32` exactly).
    fn convert<R: Real>(self) -> R {
        R::from_f64(self.to_f64())
    }
    /// A view of this type as a [`RealView`].
    fn view(x: ArrayView1<'_, Self>) -> RealView<'_>;
    /// Whether this is a NaN.
    fn is_nan(self) -> bool;
    /// This NaN with its quiet bit set, as an arithmetic operation returns it (sign and
    /// payload kept).
    fn quieted(self) -> Self;
    /// Whose NaN NumPy's `+` and `*` on this type return when both operands are NaN, in its
    /// array loops and in its scalar math (see [`NanOrder`]).
    fn nan_order(loops: Loops) -> NanOrder;
    /// The same for NumPy's `+` on complex numbers of this type: the left operand's in its
    /// loops, and in its scalar math the left one's for `complex128` but the right one's for
    /// `complex64`.
    fn complex_nan_order(loops: Loops) -> NanOrder {
        match loops {
            Loops::Arrays => NanOrder::Left,
            Loops::Scalars => Self::COMPLEX_SCALAR_NAN_ORDER,
        }
    }
    /// [`complex_nan_order`](Real::complex_nan_order) in NumPy's scalar math.
    const COMPLEX_SCALAR_NAN_ORDER: NanOrder = NanOrder::Left;
    /// This type's slot among NumPy's registered remainder-loop rules (`crate::tails`):
    /// None for `f16`, whose loops have no vector part.
    const TAILS: Option<usize>;
}

/// Where NumPy performs an operation; its NaN rule can differ between the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loops {
    /// Its ufunc loops over arrays.
    Arrays,
    /// Its scalar math, on NumPy scalars: the edge points of a 1-D array, where each
    /// `f[0]` NumPy reads is a scalar.
    Scalars,
}

/// Which operand's NaN a commutative operation returns when both operands are NaN.
///
/// x86 returns the first source operand's NaN, quieted; which operand is first is the
/// compiler's choice for a commutative operation, so it is fixed by how a loop was compiled.
/// These are the orders of NumPy 2's x86-64 builds, as `tests/test_nan_propagation.py`
/// checks them: its SIMD loops for `float32`/`float64` return the left operand's NaN (`a` of
/// `a * f` or of `t0 + t1`), its scalar math and its `float16` loops (C, computed in
/// `float`) the right operand's. Its scalar remainder loops (the last elements of a
/// contiguous add after its whole vectors) return the right operand's too: `crate::tails`
/// follows them, with a rule measured from the running NumPy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanOrder {
    /// The left operand's, as written in NumPy's expression.
    Left,
    /// The right operand's.
    Right,
}

/// `result`, the value of `left op right` for a commutative `op`, unless an operand is a
/// NaN: then the NaN `order` picks, quieted. The one place NaN propagation is decided: as a
/// select (no branch), so that no kernel's result depends on how the compiler ordered its
/// operands. Only the preferred operand needs a test: if it is not a NaN, the other operand
/// is the only NaN the operation can return, quieted.
#[inline(always)]
pub fn propagate_nan<R: Real>(order: NanOrder, left: R, right: R, result: R) -> R {
    let preferred = match order {
        NanOrder::Left => left,
        NanOrder::Right => right,
    };
    if preferred.is_nan() {
        preferred.quieted()
    } else {
        result
    }
}

/// `result`, the value of the fused `a * b ± c`, unless an operand is NaN: then the first NaN
/// of `a`, `b`, `c` (unnegated), quieted, as x86's FMA instructions in the operand order of
/// NumPy's complex multiply return it.
#[inline(always)]
fn propagate_nan_fused<R: Real>(a: R, b: R, c: R, result: R) -> R {
    // `c` is tested too: the result of `a * b - c` would carry its NaN negated.
    let rest = propagate_nan(NanOrder::Left, c, result, result);
    let rest = propagate_nan(NanOrder::Left, b, rest, rest);
    propagate_nan(NanOrder::Left, a, rest, rest)
}

/// A 1-D view of one of the real types, the type known at run time: a coordinate array in
/// the type NumPy computes its steps in.
#[derive(Clone, Copy, Debug)]
pub enum RealView<'x> {
    F64(ArrayView1<'x, f64>),
    F32(ArrayView1<'x, f32>),
    F16(ArrayView1<'x, Half>),
}

impl RealView<'_> {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            RealView::F64(x) => x.len(),
            RealView::F32(x) => x.len(),
            RealView::F16(x) => x.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Real for f64 {
    fn view(x: ArrayView1<'_, Self>) -> RealView<'_> {
        RealView::F64(x)
    }
    fn from_f64(value: f64) -> Self {
        value
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn quieted(self) -> Self {
        f64::from_bits(self.to_bits() | 1 << 51)
    }
    const TAILS: Option<usize> = Some(0);
    fn nan_order(loops: Loops) -> NanOrder {
        match loops {
            Loops::Arrays => NanOrder::Left,
            Loops::Scalars => NanOrder::Right,
        }
    }
}

impl Real for f32 {
    fn view(x: ArrayView1<'_, Self>) -> RealView<'_> {
        RealView::F32(x)
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn quieted(self) -> Self {
        f32::from_bits(self.to_bits() | 1 << 22)
    }
    const TAILS: Option<usize> = Some(1);
    const COMPLEX_SCALAR_NAN_ORDER: NanOrder = NanOrder::Right;
    fn nan_order(loops: Loops) -> NanOrder {
        f64::nan_order(loops)
    }
}

/// NumPy's float16 as the core computes in it: each operation in `f32` and rounded once to
/// `f16`, as NumPy's float16 loops do, with conversions of its own in both directions
/// ([`f64_to_f16`] signals overflow and underflow as NumPy's does).
///
/// `half::f16`'s arithmetic is not used: where the processor has F16C, it converts with
/// instructions of four lanes whose other three the compiler may leave holding any bits, and
/// a conversion of those raises floating-point errors no operation of the call raised
/// (`crate::fp_status`). `f16` remains the type of stored values, converted to and from this
/// one by their bits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(transparent)]
pub struct Half(pub f16);

impl Half {
    /// This value in `f32`: exact.
    #[inline]
    fn to_f32(self) -> f32 {
        f16_to_f64(self.0) as f32 // exact in f32, so the narrowing raises nothing
    }

    /// `value` rounded to the nearest `f16` (ties to even).
    #[inline]
    fn from_f32(value: f32) -> Half {
        Half(f64_to_f16(f64::from(value)))
    }
}

macro_rules! half_arithmetic {
    ($($trait:ident $method:ident $op:tt),*) => {$(
        impl $trait for Half {
            type Output = Half;
            #[inline]
            fn $method(self, rhs: Half) -> Half {
                Half::from_f32(self.to_f32() $op rhs.to_f32())
            }
        }
    )*};
}
half_arithmetic!(Add add +, Sub sub -, Mul mul *, Div div /);

impl Neg for Half {
    type Output = Half;
    fn neg(self) -> Half {
        Half(-self.0) // the sign bit alone
    }
}

impl Real for Half {
    fn view(x: ArrayView1<'_, Self>) -> RealView<'_> {
        RealView::F16(x)
    }
    fn from_f64(value: f64) -> Self {
        Half(f64_to_f16(value))
    }
    fn to_f64(self) -> f64 {
        f16_to_f64(self.0)
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        // The exact product of two f16 values fits in f64, so one f64 fma rounds once to f64
        // and the final rounding to f16 is innocuous (53 >= 2 * 11 + 2).
        Half::from_f64(self.to_f64().mul_add(a.to_f64(), b.to_f64()))
    }
    fn is_nan(self) -> bool {
        self.0.is_nan()
    }
    fn quieted(self) -> Self {
        Half(f16::from_bits(self.0.to_bits() | 1 << 9))
    }
    const TAILS: Option<usize> = None;
    fn nan_order(_: Loops) -> NanOrder {
        NanOrder::Right
    }
}

/// The `f64` of the same value: exact, by its bits (NaN payloads kept, signalling ones too,
/// as NumPy's `npy_half_to_double` keeps them).
pub fn f16_to_f64(value: f16) -> f64 {
    let bits = value.to_bits();
    let sign = u64::from(bits >> 15) << 63;
    let exponent = u64::from((bits >> 10) & 0x1F);
    let fraction = u64::from(bits & 0x3FF);
    let magnitude = match exponent {
        // Zero or subnormal: a whole number of 2^-24 steps (an exact product).
        0 => (fraction as f64 * f64::powi(2.0, -24)).to_bits(),
        0x1F => 0x7FF0_0000_0000_0000 | fraction << 42,
        _ => (exponent + 1023 - 15) << 52 | fraction << 42,
    };
    f64::from_bits(sign | magnitude)
}

/// Rounds an `f64` to the nearest `f16` (ties to even), as NumPy's `npy_double_to_half` does.
///
/// `half::f16::from_f64` is not used: without hardware support it drops the low 32 bits of
/// the significand before rounding, which misrounds values just above a tie. A NaN keeps the
/// top bits of its payload without being quieted, again as NumPy does, and overflow and an
/// inexact tiny result raise the processor's overflow and underflow flags, as NumPy signals
/// them.
pub fn f64_to_f16(value: f64) -> f16 {
    let bits = value.to_bits();
    let sign = ((bits >> 48) & 0x8000) as u16;
    let magnitude = value.abs();
    if value.is_nan() {
        let payload = ((bits & 0x000F_FFFF_FFFF_FFFF) >> 42) as u16;
        return f16::from_bits(sign | 0x7C00 | payload.max(1));
    }
    let rounded = if magnitude >= 65520.0 {
        // 65504 is the largest f16; 65520 lies halfway to the next binade and ties to inf.
        if magnitude.is_finite() {
            fp_status::signal(FpFlags::OVERFLOW); // as NumPy's conversion signals it
        }
        0x7C00
    } else if magnitude < f64::powi(2.0, -14) {
        // Subnormal (or zero): a whole number of 2^-24 steps. The scaling is exact.
        let steps = magnitude * f64::powi(2.0, 24);
        let rounded = steps.round_ties_even();
        if rounded != steps {
            fp_status::signal(FpFlags::UNDERFLOW); // inexact and tiny, as NumPy signals it
        }
        rounded as u16
    } else {
        let exponent = ((magnitude.to_bits() >> 52) as i32) - 1023;
        let steps = (magnitude * f64::powi(2.0, 10 - exponent)).round_ties_even() as u16;
        // `steps` is in 1024..=2048; 2048 carries into the exponent field, as it should.
        (((exponent + 15) as u16) << 10) + (steps - 1024)
    };
    f16::from_bits(sign | rounded)
}

/// A type NumPy computes a gradient in: a [`Real`] or a complex number of one.
///
/// Coefficients and spacings are always real; NumPy promotes them to the compute type, which
/// for complex `T` means a zero imaginary part that still takes part in the arithmetic.
pub trait Field: Copy + Default + Send + Sync + 'static {
    /// The real type of spacings and coefficients.
    type Real: Real;
    /// `self - rhs`, NumPy's `subtract`. A NaN `self` wins over a NaN `rhs`: x86's rule,
    /// which a compiler cannot reorder for a subtraction (nor for a division).
    fn sub(self, rhs: Self) -> Self;
    /// `self + rhs`, NumPy's `add` in `loops`, with its NaN rule.
    fn add(self, rhs: Self, loops: Loops) -> Self;
    /// `self + rhs` with the NaN of the operand `order` picks.
    fn add_ordered(self, rhs: Self, order: NanOrder) -> Self;
    /// `self / divisor`, NumPy's `divide` with the real divisor promoted to `Self`.
    fn div_real(self, divisor: Self::Real) -> Self;
    /// `coefficient * self`, NumPy's `multiply` in `loops` with the real coefficient promoted
    /// to `Self` and written first, as in NumPy's `a * f[...]`.
    fn mul_real(self, coefficient: Self::Real, loops: Loops) -> Self;
    /// `coefficient` times each part: the plain scaling ndgradient's own stencils use (unlike
    /// NumPy's promoted complex multiply, it makes no NaN from `0 * inf` in the other part).
    /// A NaN coefficient wins over a NaN part.
    fn scale(self, coefficient: Self::Real) -> Self;
    /// [`add`](Field::add) and [`mul_real`](Field::mul_real) with the NaN the compiled code
    /// happens to give: for loops that check their results with [`is_nan`](Field::is_nan)
    /// and compute again, in order, where one is NaN (a result without a NaN had no NaN
    /// operand anywhere, so its bits are the same).
    fn add_unordered(self, rhs: Self) -> Self;
    /// See [`add_unordered`](Field::add_unordered).
    fn mul_real_unordered(self, coefficient: Self::Real) -> Self;
    /// Whether any part is NaN.
    fn is_nan(self) -> bool;
    /// [`scale`](Field::scale) by a coefficient that is not NaN, so that at most one operand
    /// of each product is, and no NaN rule is needed.
    fn scale_by_number(self, coefficient: Self::Real) -> Self;
    /// Whether [`div_real`](Field::div_real) by a divisor with an [`exact_reciprocal`] gives
    /// the bits of [`scale_by_number`](Field::scale_by_number) by that reciprocal: true for
    /// real types (both are the correctly rounded value of the same number), false for
    /// complex ones (NumPy's division makes a NaN from `inf * 0` in the other part).
    const DIVIDES_AS_RECIPROCAL_MULTIPLIES: bool;
    /// This type's slot among NumPy's registered remainder-loop rules (`crate::tails`).
    const TAILS: Option<usize>;
}

/// `1 / divisor` when it is exact: the divisor a normal power of two whose reciprocal `R`
/// holds exactly. Dividing a real value by the divisor then gives the same bits as
/// multiplying it by the reciprocal, NaN, inf, -0.0 and subnormal results included.
pub fn exact_reciprocal<R: Real>(divisor: R) -> Option<R> {
    const MANTISSA: u64 = (1 << 52) - 1;
    let divisor = divisor.to_f64();
    let exponent = (divisor.to_bits() >> 52) & 0x7FF;
    if divisor.to_bits() & MANTISSA != 0 || exponent == 0 || exponent == 0x7FF {
        return None;
    }
    let reciprocal = 1.0 / divisor; // a power of two in f64's range (perhaps subnormal): exact
    let narrowed = R::from_f64(reciprocal);
    (narrowed.to_f64() == reciprocal).then_some(narrowed)
}

impl<R: Real> Field for R {
    type Real = R;
    fn sub(self, rhs: Self) -> Self {
        self - rhs
    }
    fn add(self, rhs: Self, loops: Loops) -> Self {
        self.add_ordered(rhs, R::nan_order(loops))
    }
    fn add_ordered(self, rhs: Self, order: NanOrder) -> Self {
        propagate_nan(order, self, rhs, self + rhs)
    }
    fn div_real(self, divisor: R) -> Self {
        self / divisor
    }
    fn mul_real(self, coefficient: R, loops: Loops) -> Self {
        propagate_nan(R::nan_order(loops), coefficient, self, coefficient * self)
    }
    fn scale(self, coefficient: R) -> Self {
        propagate_nan(NanOrder::Left, coefficient, self, coefficient * self)
    }
    fn scale_by_number(self, coefficient: R) -> Self {
        coefficient * self
    }
    fn add_unordered(self, rhs: Self) -> Self {
        self + rhs
    }
    fn mul_real_unordered(self, coefficient: R) -> Self {
        coefficient * self
    }
    fn is_nan(self) -> bool {
        Real::is_nan(self)
    }
    const DIVIDES_AS_RECIPROCAL_MULTIPLIES: bool = true;
    const TAILS: Option<usize> = R::TAILS;
}

impl<R: Real> Field for Complex<R> {
    type Real = R;
    fn sub(self, rhs: Self) -> Self {
        Complex::new(self.re - rhs.re, self.im - rhs.im)
    }
    fn add(self, rhs: Self, loops: Loops) -> Self {
        self.add_ordered(rhs, R::complex_nan_order(loops))
    }
    fn add_ordered(self, rhs: Self, order: NanOrder) -> Self {
        let part = |a: R, b: R| propagate_nan(order, a, b, a + b);
        Complex::new(part(self.re, rhs.re), part(self.im, rhs.im))
    }
    fn div_real(self, divisor: R) -> Self {
        complex_divide(self, Complex::new(divisor, R::from_f64(0.0)))
    }
    fn mul_real(self, coefficient: R, _: Loops) -> Self {
        // NumPy's scalar math multiplies unfused, which for a real coefficient (a zero
        // imaginary part) gives the fused result's bits, NaNs included.
        complex_multiply(Complex::new(coefficient, R::from_f64(0.0)), self)
    }
    fn scale(self, coefficient: R) -> Self {
        let part = |v: R| propagate_nan(NanOrder::Left, coefficient, v, coefficient * v);
        Complex::new(part(self.re), part(self.im))
    }
    fn scale_by_number(self, coefficient: R) -> Self {
        Complex::new(coefficient * self.re, coefficient * self.im)
    }
    fn add_unordered(self, rhs: Self) -> Self {
        Complex::new(self.re + rhs.re, self.im + rhs.im)
    }
    fn mul_real_unordered(self, coefficient: R) -> Self {
        // `complex_multiply`'s arithmetic by `(coefficient, 0)`, without its NaN selects.
        let zero = R::from_f64(0.0);
        let (im_im, im_re) = (zero * self.im, zero * self.re);
        Complex::new(
            coefficient.mul_add(self.re, -im_im),
            coefficient.mul_add(self.im, im_re),
        )
    }
    fn is_nan(self) -> bool {
        self.re.is_nan() || self.im.is_nan()
    }
    const DIVIDES_AS_RECIPROCAL_MULTIPLIES: bool = false;
    const TAILS: Option<usize> = match R::TAILS {
        Some(k) => Some(k + 2),
        None => None,
    };
}

/// A stored float16 in NumPy's arithmetic: that of [`Half`], by its bits.
impl Field for f16 {
    type Real = Half;
    fn sub(self, rhs: Self) -> Self {
        Field::sub(Half(self), Half(rhs)).0
    }
    fn add(self, rhs: Self, loops: Loops) -> Self {
        Field::add(Half(self), Half(rhs), loops).0
    }
    fn add_ordered(self, rhs: Self, order: NanOrder) -> Self {
        Half(self).add_ordered(Half(rhs), order).0
    }
    fn div_real(self, divisor: Half) -> Self {
        Half(self).div_real(divisor).0
    }
    fn mul_real(self, coefficient: Half, loops: Loops) -> Self {
        Half(self).mul_real(coefficient, loops).0
    }
    fn scale(self, coefficient: Half) -> Self {
        Half(self).scale(coefficient).0
    }
    fn add_unordered(self, rhs: Self) -> Self {
        Half(self).add_unordered(Half(rhs)).0
    }
    fn mul_real_unordered(self, coefficient: Half) -> Self {
        Half(self).mul_real_unordered(coefficient).0
    }
    fn is_nan(self) -> bool {
        f16::is_nan(self)
    }
    fn scale_by_number(self, coefficient: Half) -> Self {
        Half(self).scale_by_number(coefficient).0
    }
    const DIVIDES_AS_RECIPROCAL_MULTIPLIES: bool = true;
    const TAILS: Option<usize> = None;
}

/// Not inlined: in a vectorised loop the compiler would compute every branch for every element
/// and select (floating-point arithmetic is free of side effects to it), and a branch not
/// taken, such as `y.re / y.im` for a real divisor, would raise floating-point errors NumPy
/// does not raise (`crate::fp_status`).
///
/// NumPy's complex division (Smith's algorithm, scaled by the larger part of the divisor),
/// with the NaN order of NumPy's compiled loop: its `in1r + in1i*rat` returns the product's
/// NaN.
#[inline(never)]
fn complex_divide<R: Real>(x: Complex<R>, y: Complex<R>) -> Complex<R> {
    let zero = R::from_f64(0.0);
    let one = R::from_f64(1.0);
    let abs = |v: R| R::from_f64(v.to_f64().abs());
    let add = |a: R, b: R, order| propagate_nan(order, a, b, a + b);
    let mul = |a: R, b: R| propagate_nan(NanOrder::Left, a, b, a * b);
    let (yr_abs, yi_abs) = (abs(y.re), abs(y.im));
    if yr_abs.is_nan() || yi_abs.is_nan() {
        // NumPy's `in2r_abs >= in2i_abs` is a signalling comparison in C, Rust's is quiet.
        fp_status::signal(FpFlags::INVALID);
    }
    if yr_abs.to_f64() >= yi_abs.to_f64() {
        if yr_abs == zero && yi_abs == zero {
            // Division by zero: a complex inf or nan, each part divided by |0| = +0.
            Complex::new(x.re / yr_abs, x.im / yr_abs)
        } else {
            let ratio = y.im / y.re;
            let scale = one / add(y.re, mul(y.im, ratio), NanOrder::Right);
            Complex::new(
                mul(add(x.re, mul(x.im, ratio), NanOrder::Right), scale),
                mul(x.im - mul(x.re, ratio), scale),
            )
        }
    } else {
        let ratio = y.re / y.im;
        let scale = one / add(y.im, mul(y.re, ratio), NanOrder::Right);
        Complex::new(
            mul(add(mul(x.re, ratio), x.im, NanOrder::Left), scale),
            mul(mul(x.im, ratio) - x.re, scale),
        )
    }
}

/// NumPy's vectorised complex multiply: `fmaddsub(a.re, b, a.im * swap(b))`, i.e. each part
/// is one fused multiply-add (NumPy takes this path on every CPU with FMA), whose NaN is the
/// first of its operands'.
fn complex_multiply<R: Real>(a: Complex<R>, b: Complex<R>) -> Complex<R> {
    let mul = |x: R, y: R| propagate_nan(NanOrder::Left, x, y, x * y);
    let (im_im, im_re) = (mul(a.im, b.im), mul(a.im, b.re));
    Complex::new(
        propagate_nan_fused(a.re, b.re, im_im, a.re.mul_add(b.re, -im_im)),
        propagate_nan_fused(a.re, b.im, im_re, a.re.mul_add(b.im, im_re)),
    )
}

/// A lossless widening or a rounding narrowing between two element types, as NumPy casts.
pub trait Cast<To>: Copy {
    /// Converts `self`, rounding to nearest even where `To` is narrower.
    fn cast(self) -> To;
}

macro_rules! cast_int_to_f64 {
    ($($int:ty),*) => {$(
        impl Cast<f64> for $int {
            fn cast(self) -> f64 {
                // Rounds to nearest for 64-bit integers, as NumPy's C cast does.
                self as f64
            }
        }
    )*};
}
cast_int_to_f64!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! cast_real {
    ($($from:ty => $to:ty),* $(,)?) => {$(
        impl Cast<$to> for $from {
            fn cast(self) -> $to {
                <$to as Real>::from_f64(Real::to_f64(self))
            }
        }
        impl Cast<Complex<$to>> for Complex<$from> {
            fn cast(self) -> Complex<$to> {
                Complex::new(self.re.cast(), self.im.cast())
            }
        }
    )*};
}
// `from_f64(to_f64(x))` is exact when widening and a single correct rounding when narrowing
// from f64; f32 -> f16 goes through f64 exactly, so it is also a single rounding.
cast_real!(
    f64 => f64, f32 => f32, Half => Half,
    f32 => f64, Half => f64, Half => f32,
    f64 => f32, f64 => Half, f32 => Half,
);

/// Stored float16 values, to and from the types computed in.
macro_rules! cast_stored_f16 {
    ($($other:ty),*) => {$(
        impl Cast<$other> for f16 {
            fn cast(self) -> $other {
                Half(self).cast()
            }
        }
        impl Cast<f16> for $other {
            fn cast(self) -> f16 {
                Cast::<Half>::cast(self).0
            }
        }
    )*};
}
cast_stored_f16!(f64, f32);

impl Cast<f16> for f16 {
    fn cast(self) -> f16 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of every kind: signed zeros, subnormals, normals near both ends, inf, NaN, and
    /// pseudo-random bit patterns.
    fn values() -> Vec<f64> {
        let mut values = vec![
            0.0, -0.0, 1.0, -3.0, 0.1, 5e-324, -2.5e-310, 2.2e-308, 1e-300,
        ];
        values.extend([
            1.7e308,
            -1e308,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
        ]);
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(f64::from_bits(state));
        }
        values
    }

    fn division_matches_reciprocal_product<R: Real>() {
        let mut checked = 0;
        for k in -1100..1100 {
            for sign in [1.0, -1.0] {
                let divisor = R::from_f64(sign * 2f64.powi(k));
                let Some(reciprocal) = exact_reciprocal(divisor) else {
                    continue;
                };
                checked += 1;
                for x in values().into_iter().map(R::from_f64) {
                    let (quotient, product) = (x.div_real(divisor), x.scale_by_number(reciprocal));
                    assert_eq!(quotient.to_f64().to_bits(), product.to_f64().to_bits());
                }
            }
        }
        assert!(checked > 50);
        for divisor in [3.0, 0.1, 0.0, -0.0, f64::INFINITY, f64::NAN, 5e-324] {
            assert_eq!(exact_reciprocal(R::from_f64(divisor)), None, "{divisor}");
        }
    }

    #[test]
    fn dividing_by_a_power_of_two_is_multiplying_by_its_exact_reciprocal() {
        division_matches_reciprocal_product::<f64>();
        division_matches_reciprocal_product::<f32>();
        division_matches_reciprocal_product::<Half>();
        assert_eq!(exact_reciprocal(2.0_f64), Some(0.5));
        assert_eq!(exact_reciprocal(2f64.powi(-1022)), Some(2f64.powi(1022)));
        assert_eq!(exact_reciprocal(2f64.powi(1023)), Some(2f64.powi(-1023))); // subnormal
        assert_eq!(
            exact_reciprocal(f32::from_bits(0x7F00_0000)),
            Some(2f32.powi(-127))
        );
        const { assert!(!<Complex<f64> as Field>::DIVIDES_AS_RECIPROCAL_MULTIPLIES) };
    }

    #[test]
    fn complex_division_by_real_scales_by_reciprocal() {
        // NumPy: (1+2j) / 3.0 multiplies by 1/3 rather than dividing each part.
        let q = Complex::new(1.0_f64, 2.0).div_real(3.0);
        assert_eq!(q.re, 1.0 * (1.0 / 3.0));
        assert_eq!(q.im, 2.0 * (1.0 / 3.0));
    }

    #[test]
    fn complex_division_by_zero_uses_absolute_divisor() {
        let q = Complex::new(1.0_f64, -1.0).div_real(-0.0);
        assert_eq!(q.re, f64::INFINITY);
        assert_eq!(q.im, f64::NEG_INFINITY);
    }

    #[test]
    fn complex_infinite_real_part_gives_nan_imaginary() {
        // inf * rat with rat = 0 is NaN, exactly as NumPy's loop computes it.
        let q = Complex::new(f64::INFINITY, 0.0).div_real(2.0);
        assert_eq!(q.re, f64::INFINITY);
        assert!(q.im.is_nan());
    }

    #[test]
    fn complex_multiply_rounds_once() {
        // The imaginary part underflows: unfused it would be -0 + 0 = +0, fused it is -0.
        let p = Complex::new(1e46_f64, -1e-139).mul_real(1e-256, Loops::Arrays);
        assert_eq!(p.re, 1e-256 * 1e46);
        assert!(p.im == 0.0 && p.im.is_sign_negative());
    }

    #[test]
    fn f16_narrowing_rounds_directly_from_f64() {
        // 1 + 2^-11 + 2^-40 rounds up to 1 + 2^-10 directly, but via f32 it would tie to 1.
        let x = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
        let h: f16 = x.cast();
        assert_eq!(h.to_f64(), 1.0 + 2f64.powi(-10));
    }

    #[test]
    fn f16_rounding_matches_numpy_at_the_edges() {
        let h = |x: f64| f64_to_f16(x).to_bits();
        assert_eq!(h(65504.0), 0x7BFF);
        assert_eq!(h(65519.99), 0x7BFF);
        assert_eq!(h(65520.0), 0x7C00);
        assert_eq!(h(-f64::INFINITY), 0xFC00);
        assert_eq!(h(2f64.powi(-24)), 0x0001);
        assert_eq!(h(2f64.powi(-25)), 0x0000); // tie to even zero
        assert_eq!(h(2f64.powi(-25) * 1.5), 0x0001);
        assert_eq!(h(-0.0), 0x8000);
        assert_eq!(h(2f64.powi(-14) * (1.0 - 2f64.powi(-12))), 0x0400); // rounds up to normal
        assert_eq!(h(1.0 + 2f64.powi(-11)), 0x3C00); // tie to even
        assert_eq!(h(1.0 + 3.0 * 2f64.powi(-11)), 0x3C02); // tie to even, upwards
                                                           // NaN payloads keep their top bits and are not quieted (NumPy's rule).
        assert_eq!(h(f64::from_bits(0x7FF0_0000_0000_0001)), 0x7C01);
        assert_eq!(h(f64::from_bits(0x7FF4_0000_0000_0000)), 0x7D00);
        assert_eq!(h(f64::from_bits(0xFFF8_0000_0000_0000)), 0xFE00);
    }

    #[test]
    fn integer_widening_rounds_to_nearest() {
        let v: f64 = u64::MAX.cast();
        assert_eq!(v, 18446744073709551616.0);
        let v: f64 = (i64::MIN).cast();
        assert_eq!(v, -9223372036854775808.0);
    }
}
