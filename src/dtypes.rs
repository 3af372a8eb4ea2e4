//! The three element types of one computation, named once.
//!
//! `numpy.gradient` reads the input in its *stored* type, converts it to the *data* type it
//! differences in (float64 for integers, otherwise the stored type; also the output's type),
//! and divides or weighs in the *compute* type, NumPy's promotion of the data type with the
//! spacing's. [`Dtypes`] bundles the three, so that every kernel takes one type parameter,
//! and holds the per-element operations every stencil is made of.

use crate::element::{Cast, Field};
use std::marker::PhantomData;

/// The stored, data and compute types of one computation, and NumPy's per-element
/// operations between them.
pub trait Dtypes: 'static {
    /// How the input is stored (any integer width, `f16`, `f32`, `f64`, complex).
    type Stored: Cast<Self::Data> + Send + Sync;
    /// What NumPy differences in, and what the output holds.
    type Data: Field + Cast<Self::Compute>;
    /// What NumPy divides or weighs in.
    type Compute: Field + Cast<Self::Data>;

    /// A stored value as NumPy reads it for a weighted sum: converted to the data type, then
    /// promoted to the compute type.
    #[inline(always)]
    fn load(v: Self::Stored) -> Self::Compute {
        Cast::<Self::Data>::cast(v).cast()
    }

    /// NumPy's `(f[hi] - f[lo]) / divisor`: the difference in the data type, the division in
    /// the compute type.
    #[inline(always)]
    fn quotient(lo: Self::Stored, hi: Self::Stored, divisor: Weight<Self>) -> Self::Data {
        let hi: Self::Data = hi.cast();
        let difference: Self::Compute = hi.sub(lo.cast()).cast();
        difference.div_real(divisor).cast()
    }

    /// [`quotient`](Dtypes::quotient) for a divisor whose [`exact_reciprocal`] is
    /// `reciprocal`, as a multiplication: the same bits where the compute type is real (see
    /// [`Field::DIVIDES_AS_RECIPROCAL_MULTIPLIES`]), several times faster than a division. The
    /// reciprocal is a number, so the product needs no NaN rule.
    ///
    /// [`exact_reciprocal`]: crate::element::exact_reciprocal
    #[inline(always)]
    fn reciprocal_quotient(
        lo: Self::Stored,
        hi: Self::Stored,
        reciprocal: Weight<Self>,
    ) -> Self::Data {
        let hi: Self::Data = hi.cast();
        let difference: Self::Compute = hi.sub(lo.cast()).cast();
        difference.scale_by_number(reciprocal).cast()
    }
}

/// The real type of a computation's weights and spacings.
pub type Weight<N> = <<N as Dtypes>::Compute as Field>::Real;

/// A type-level marker only: no values of `S`, `A` or `T` are held (and it is `Send`).
type Marker<S, A, T> = fn() -> (S, A, T);

/// The [`Dtypes`] of stored type `S`, data type `A` and compute type `T`.
#[derive(Debug)]
pub struct Promotion<S, A, T>(PhantomData<Marker<S, A, T>>);

impl<S, A, T> Dtypes for Promotion<S, A, T>
where
    S: Cast<A> + Send + Sync + 'static,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    type Stored = S;
    type Data = A;
    type Compute = T;
}
