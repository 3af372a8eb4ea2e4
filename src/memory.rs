//! ndgradient's NumPy memory handler (NEP 49) around its output pool, and the crate's only
//! `unsafe` code (every other module is under `deny(unsafe_code)`).
//!
//! [`with_output_pool`] sets the handler with NumPy's `PyDataMem_SetHandler` for the duration
//! of one allocation of outputs and restores the previous one right after, on error and on
//! panic too. NumPy keeps the current handler in a context variable, so other threads never
//! see it, and stores it in every array it allocates, so an output is freed through this
//! handler whenever and wherever NumPy frees it: the handler, its functions and the pool are
//! `'static` and the handler's capsule is never released, so they outlive the module, the
//! patch and the interpreter's teardown. The functions never call into Python.
//!
//! A [`Header`] (the block's length, and where it came from) sits in the [`HEADER`] bytes just
//! before every array's data. Blocks of [`LARGE_BYTES`] or more are mapped separately, with
//! huge pages advised: the mapping's first page holds the header at its end, and the data
//! starts on the next huge-page boundary ([`large_block_len`] says how far it reaches). They
//! go back to the [`Pool`] when freed, already faulted, so the next call of the same size
//! reuses them. Smaller blocks come from and go to the system allocator, the header at their
//! start and the data 64-byte aligned (NumPy's own is 16).

// The FFI below cannot be safe code: NumPy's allocator interface is a table of C function
// pointers over raw memory, and its setter is reached through NumPy's C API table.
#![allow(unsafe_code)]

use crate::pool::{Cap, Pool};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCapsule;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

/// The environment variable that sets the pool's cap in bytes (0 turns the pool off).
pub const POOL_VAR: &str = "NDGRADIENT_POOL_BYTES";

/// Blocks at least this large are pooled: NumPy's threshold for advising huge pages.
pub const LARGE_BYTES: usize = 1 << 22;

/// The name NumPy reports for arrays this handler allocated (`get_handler_name`).
pub const HANDLER_NAME: &str = "ndgradient_output_pool";

/// The bytes before each block's data: the [`Header`], padded to a cache line.
const HEADER: usize = 64;

/// The alignment of large blocks' data: one transparent huge page on x86-64 and aarch64 with
/// 4 KiB pages.
const HUGE_PAGE: usize = 1 << 21;

/// A large block's data is rounded up to whole huge pages where that adds at most this
/// fraction of it, and to whole small pages otherwise.
const HUGE_PAGE_SLACK: usize = 16;

/// The system's page size, the unit of large blocks' lengths.
#[cfg(unix)]
fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf reads a constant of the system; it has no preconditions.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        page if page > 0 && (page as usize).is_power_of_two() => page as usize,
        _ => 4096,
    })
}

#[cfg(not(unix))]
fn page_size() -> usize {
    4096
}

/// The length of the mapping that holds `size` bytes of data: one page for the header, then
/// the data's huge pages. The kernel backs a partial huge page at the end with small pages,
/// each a fault of its own: measured on a 2-core VM, the first call on 1e6 float64 (8 MB:
/// three huge pages and 418 small ones) took 2.2x the time of one on 1048064 (four huge
/// pages, five faults), so the data's length is rounded up to whole huge pages where that
/// keeps the block within 1/[`HUGE_PAGE_SLACK`] of its array, and to whole pages otherwise.
fn large_block_len(size: usize) -> Option<usize> {
    let pages = round_up(size, page_size())?;
    let huge = round_up(size, HUGE_PAGE)?;
    let data = if huge - size <= size / HUGE_PAGE_SLACK {
        huge
    } else {
        pages
    };
    data.checked_add(page_size())
}

/// What the handler needs to know of a block when NumPy hands it back with only its address.
#[repr(C)]
#[derive(Clone, Copy)]
struct Header {
    /// The block's length in bytes, header included.
    len: usize,
    /// Whether the block was mapped separately (a pooled block) or is the system allocator's.
    mapped: bool,
}

/// The idle large blocks; the cap is set from [`POOL_VAR`] on first use.
static POOL: Pool = Pool::new(0);

/// The pool's cap, read once from [`POOL_VAR`].
pub fn cap() -> Cap {
    static CAP: OnceLock<Cap> = OnceLock::new();
    *CAP.get_or_init(|| {
        let cap = Cap::parse(std::env::var(POOL_VAR).ok().as_deref());
        if let Cap::Fixed(bytes) = cap {
            POOL.set_cap(bytes);
        }
        cap
    })
}

/// The pool's figures: whether it is on, its cap, the bytes and blocks it keeps idle.
pub fn stats() -> (bool, usize, usize, usize) {
    let enabled = cap().enabled();
    (enabled, POOL.cap(), POOL.pooled_bytes(), POOL.blocks())
}

/// Returns every idle block to the operating system; the bytes returned.
pub fn release() -> usize {
    POOL.trim(0, unmap)
}

thread_local! {
    /// The large bytes this thread allocated since its current [`with_output_pool`] began.
    static CALL_BYTES: Cell<usize> = const { Cell::new(0) };
}

/// `addr` rounded up to a multiple of `unit` (a power of two), None on overflow.
fn round_up(addr: usize, unit: usize) -> Option<usize> {
    Some(addr.checked_add(unit - 1)? & !(unit - 1))
}

/// How far into a block its data starts: one page into a large (mapped) block, the header's
/// length into a small one.
fn data_offset(mapped: bool) -> usize {
    if mapped {
        page_size()
    } else {
        HEADER
    }
}

/// A block's data address from its start, and back.
fn data_of(block: *mut u8, mapped: bool) -> *mut c_void {
    block.wrapping_add(data_offset(mapped)).cast()
}
fn block_of(data: *mut c_void, mapped: bool) -> *mut u8 {
    data.cast::<u8>().wrapping_sub(data_offset(mapped))
}

/// Where the header of the block holding `data` is.
fn header_at(data: *mut c_void) -> *mut Header {
    data.cast::<u8>().wrapping_sub(HEADER).cast()
}

/// Maps `len` bytes (whole pages) whose first page ends at a [`HUGE_PAGE`] boundary, zeroed,
/// huge pages advised after the first page; null if the system refuses.
#[cfg(unix)]
fn map(len: usize) -> *mut u8 {
    let Some(span) = len.checked_add(HUGE_PAGE) else {
        return ptr::null_mut();
    };
    let (protection, flags) = (
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
    );
    // SAFETY: a fresh anonymous private mapping at an address of the kernel's choosing
    // aliases nothing.
    let start = unsafe { libc::mmap(ptr::null_mut(), span, protection, flags, -1, 0) };
    if start == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    let start = start as usize;
    let page = page_size();
    // The data's huge-page boundary, with room for the header's page before it (the span has
    // HUGE_PAGE to spare, and `start` is page-aligned, so both fit).
    let data = (start + page + HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
    let block = data - page;
    let (head, tail) = (block - start, span - (block - start) - len);
    // SAFETY: the head and tail are page-aligned parts of the mapping just made, outside the
    // block kept, and nothing refers to them.
    unsafe {
        if head > 0 {
            libc::munmap(start as *mut c_void, head);
        }
        if tail > 0 {
            libc::munmap((block + len) as *mut c_void, tail);
        }
    }
    #[cfg(target_os = "linux")]
    // SAFETY: advice on a mapping this function owns; it changes no contents. An error (an
    // old kernel, huge pages disabled) is harmless and ignored, as NumPy ignores it.
    unsafe {
        libc::madvise(data as *mut c_void, len - page, libc::MADV_HUGEPAGE);
    }
    block as *mut u8
}

/// Returns a block from [`map`] to the operating system.
#[cfg(unix)]
fn unmap(block: usize, len: usize) {
    // SAFETY: `block` and `len` describe a whole mapping from `map` that its owner (the pool
    // or the freed array) gives up; nothing refers to it any more.
    unsafe {
        libc::munmap(block as *mut c_void, len);
    }
}

/// The layout of a large block where there is no `mmap`.
#[cfg(not(unix))]
fn mapped_layout(len: usize) -> Option<Layout> {
    Layout::from_size_align(len, HUGE_PAGE).ok()
}

#[cfg(not(unix))]
fn map(len: usize) -> *mut u8 {
    match mapped_layout(len) {
        // SAFETY: the layout's size is non-zero (at least LARGE_BYTES).
        Some(layout) => unsafe { System.alloc_zeroed(layout) },
        None => ptr::null_mut(),
    }
}

#[cfg(not(unix))]
fn unmap(block: usize, len: usize) {
    if let Some(layout) = mapped_layout(len) {
        // SAFETY: the block came from `map` with this layout and its owner gives it up.
        unsafe { System.dealloc(block as *mut u8, layout) }
    }
}

/// The system allocator's layout for a small block of `len` bytes, header included.
fn heap_layout(len: usize) -> Option<Layout> {
    Layout::from_size_align(len, HEADER).ok()
}

/// A new block with room for `size` bytes of data, zeroed if asked; the data's address, or
/// null if memory is refused (NumPy then raises MemoryError).
fn allocate(size: usize, zeroed: bool) -> *mut c_void {
    let Some(wanted) = size.checked_add(HEADER) else {
        return ptr::null_mut();
    };
    let (block, header) = if size >= LARGE_BYTES {
        let Some(len) = large_block_len(size) else {
            return ptr::null_mut();
        };
        let _ = CALL_BYTES.try_with(|bytes| bytes.set(bytes.get().saturating_add(len)));
        let block = match POOL.take(len) {
            Some(kept) => {
                let kept = kept as *mut u8;
                if zeroed {
                    // SAFETY: the pool hands each kept block to one taker, whole; its data
                    // part has room for `size` bytes (len >= page + size).
                    unsafe { ptr::write_bytes(data_of(kept, true).cast::<u8>(), 0, size) };
                }
                kept
            }
            None => map(len), // fresh pages are zero
        };
        (block, Header { len, mapped: true })
    } else {
        let Some(layout) = heap_layout(wanted) else {
            return ptr::null_mut();
        };
        // SAFETY: the layout's size is non-zero (at least HEADER).
        let block = unsafe {
            if zeroed {
                System.alloc_zeroed(layout)
            } else {
                System.alloc(layout)
            }
        };
        let header = Header {
            len: wanted,
            mapped: false,
        };
        (block, header)
    };
    if block.is_null() {
        return ptr::null_mut();
    }
    let data = data_of(block, header.mapped);
    // SAFETY: the block is this caller's; the header's place is inside it (the data starts
    // at least HEADER bytes in) and 64-byte aligned, as the data is.
    unsafe { header_at(data).write(header) };
    data
}

/// The header of the block whose data NumPy hands back.
///
/// # Safety
/// `data` must come from [`allocate`] and not have been given back.
unsafe fn header_of(data: *mut c_void) -> Header {
    // SAFETY: per the contract, a Header written by `allocate` sits HEADER bytes before.
    unsafe { header_at(data).read() }
}

/// Gives the block holding `data` back: to the pool if large and under the cap, otherwise to
/// the system.
fn give_back(data: *mut c_void, header: Header) {
    let block = block_of(data, header.mapped);
    if header.mapped {
        if let Some(refused) = POOL.put(block as usize, header.len) {
            unmap(refused, header.len);
        }
    } else if let Some(layout) = heap_layout(header.len) {
        // SAFETY: a small block from `allocate` with this very layout, given up by its owner.
        unsafe { System.dealloc(block, layout) }
    }
}

// The four handler functions are `unsafe extern "C"` because NumPy calls them through C
// function pointers with raw pointers whose validity only NumPy vouches for (data this
// handler allocated, freed once); that contract cannot be stated in safe Rust.

/// NumPy's `malloc` for this handler.
///
/// # Safety
///
/// Called by NumPy only; no pointer argument is read.
unsafe extern "C" fn handler_malloc(_ctx: *mut c_void, size: usize) -> *mut c_void {
    allocate(size, false)
}

/// NumPy's `calloc` for this handler: zeroed memory.
///
/// # Safety
///
/// Called by NumPy only; no pointer argument is read.
unsafe extern "C" fn handler_calloc(_ctx: *mut c_void, count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size) {
        Some(bytes) => allocate(bytes, true),
        None => ptr::null_mut(),
    }
}

/// NumPy's `realloc` for this handler.
///
/// # Safety
///
/// `data` must be null or data this handler allocated and not yet freed.
unsafe extern "C" fn handler_realloc(
    _ctx: *mut c_void,
    data: *mut c_void,
    size: usize,
) -> *mut c_void {
    if data.is_null() {
        return allocate(size, false);
    }
    // SAFETY: NumPy reallocates only data this handler allocated (the array carries it).
    let old = unsafe { header_of(data) };
    if old.mapped && size >= LARGE_BYTES && large_block_len(size) == Some(old.len) {
        return data; // the block already has room, and is the one its length asks for
    }
    let moved = allocate(size, false);
    if moved.is_null() {
        return moved; // the old block stays valid, as realloc leaves it
    }
    // SAFETY: two distinct live blocks; the old one holds `old.len - data_offset(old.mapped)`
    // bytes of data (all initialized: written by `allocate`'s caller or zero from the
    // mapping) and the new one has room for `size`.
    unsafe {
        let count = (old.len - data_offset(old.mapped)).min(size);
        ptr::copy_nonoverlapping(data.cast::<u8>(), moved.cast::<u8>(), count);
    }
    give_back(data, old);
    moved
}

/// NumPy's `free` for this handler.
///
/// # Safety
///
/// `data` must be null or data this handler allocated, freed only this once.
unsafe extern "C" fn handler_free(_ctx: *mut c_void, data: *mut c_void, _size: usize) {
    if data.is_null() {
        return;
    }
    // SAFETY: NumPy frees through this handler only data it allocated, once.
    let header = unsafe { header_of(data) };
    give_back(data, header);
}

/// NumPy's `PyDataMemAllocator` (`numpy/ndarraytypes.h`). Its fields are `unsafe` function
/// pointers because that is the C type NumPy calls through (see the functions above).
#[repr(C)]
struct PyDataMemAllocator {
    ctx: *mut c_void,
    malloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    calloc: unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void,
    realloc: unsafe extern "C" fn(*mut c_void, *mut c_void, usize) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void, *mut c_void, usize),
}

/// NumPy's `PyDataMem_Handler`: a NUL-padded name, the version (1) and the allocator.
#[repr(C)]
struct PyDataMemHandler {
    name: [u8; 127],
    version: u8,
    allocator: PyDataMemAllocator,
}

// SAFETY: the handler is immutable, its context pointer is null and its functions keep their
// state in atomics and thread-locals: sharing it between threads shares nothing mutable.
unsafe impl Sync for PyDataMemHandler {}

const fn padded_name(name: &str) -> [u8; 127] {
    let (bytes, mut padded, mut i) = (name.as_bytes(), [0u8; 127], 0);
    while i < bytes.len() {
        padded[i] = bytes[i];
        i += 1;
    }
    padded
}

static HANDLER: PyDataMemHandler = PyDataMemHandler {
    name: padded_name(HANDLER_NAME),
    version: 1,
    allocator: PyDataMemAllocator {
        ctx: ptr::null_mut(),
        malloc: handler_malloc,
        calloc: handler_calloc,
        realloc: handler_realloc,
        free: handler_free,
    },
};

/// `PyDataMem_SetHandler`: makes a handler capsule current, returns the previous one.
/// `unsafe` because it is a C function of NumPy's, called with a raw object pointer.
type SetHandler = unsafe extern "C" fn(*mut ffi::PyObject) -> *mut ffi::PyObject;

/// NumPy's `PyDataMem_SetHandler` and the capsule of [`HANDLER`], made once and kept for the
/// life of the process (a static is never dropped), as arrays keep referring to the capsule.
struct Installed {
    set_handler: SetHandler,
    capsule: Py<PyCapsule>,
}

/// The slot of `PyDataMem_SetHandler` in NumPy's C API table (NumPy 1.22 and later;
/// ndgradient requires 2.0). rust-numpy does not bind it.
const SET_HANDLER_SLOT: usize = 304;

/// NumPy's setter and the handler's capsule, made on first use. The module's initialisation
/// makes them ([`prepare`]): made lazily by one thread while another forks, the child would
/// wait forever on an initialisation that no thread of its own is running.
fn installed(py: Python<'_>) -> PyResult<&'static Installed> {
    static INSTALLED: PyOnceLock<Installed> = PyOnceLock::new();
    INSTALLED.get_or_try_init(py, || {
        let table = py
            .import("numpy._core.multiarray")?
            .getattr("_ARRAY_API")?
            .cast_into::<PyCapsule>()?;
        let slots = table.pointer_checked(None)?.cast::<*const c_void>();
        // SAFETY: NumPy's API table holds at least SET_HANDLER_SLOT + 1 function pointers in
        // every version ndgradient supports, and lives as long as NumPy's module, which is
        // never unloaded (the table capsule is also leaked, as `import_array` does).
        let entry = unsafe { slots.as_ptr().add(SET_HANDLER_SLOT).read() };
        if entry.is_null() {
            let message = "this NumPy has no PyDataMem_SetHandler";
            return Err(pyo3::exceptions::PyRuntimeError::new_err(message));
        }
        std::mem::forget(table);
        // SAFETY: the slot holds `PyObject *PyDataMem_SetHandler(PyObject *)`.
        let set_handler = unsafe { std::mem::transmute::<*const c_void, SetHandler>(entry) };
        let handler = NonNull::from(&HANDLER).cast::<c_void>();
        // SAFETY: the pointer is to a 'static handler, valid for any capsule's lifetime;
        // NumPy requires the name "mem_handler".
        let capsule = unsafe { PyCapsule::new_with_pointer(py, handler, c"mem_handler")? };
        Ok(Installed {
            set_handler,
            capsule: capsule.unbind(),
        })
    })
}

/// Reads the cap and, if the pool is on, finds NumPy's setter and makes the handler's
/// capsule, so that no later call initialises anything.
pub fn prepare(py: Python<'_>) -> PyResult<()> {
    if cap().enabled() {
        installed(py)?;
    }
    Ok(())
}

/// Makes `handler` NumPy's current handler in this context; drops the one it replaces.
fn set_current<'py>(
    py: Python<'py>,
    set_handler: SetHandler,
    handler: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: attached to the interpreter (`py`), with a live capsule named "mem_handler";
    // NumPy returns a new reference to the previous handler, or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, set_handler(handler.as_ptr())) }
}

/// Puts the previous handler and the outer call's byte count back, when the allocation ends
/// or unwinds.
struct Restore<'py> {
    previous: Option<Bound<'py, PyAny>>,
    set_handler: SetHandler,
    outer_bytes: usize,
}

impl Restore<'_> {
    /// Restores; the large bytes allocated meanwhile.
    fn finish(mut self) -> PyResult<usize> {
        let bytes = CALL_BYTES.replace(self.outer_bytes);
        match self.previous.take() {
            Some(previous) => {
                set_current(previous.py(), self.set_handler, &previous).map(|_| bytes)
            }
            None => Ok(bytes),
        }
    }
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            CALL_BYTES.set(self.outer_bytes);
            let py = previous.py();
            if let Err(err) = set_current(py, self.set_handler, &previous) {
                err.write_unraisable(py, None);
            }
        }
    }
}

/// Runs `allocate` (NumPy allocating ndgradient's outputs) with the pool's handler current,
/// then restores the previous handler. With the automatic cap, the pool then keeps at most
/// the large bytes this allocation asked for, and gives back the idle blocks it did not take:
/// they would take the room of its own outputs when those are freed (a loop whose sizes
/// change would otherwise keep the previous size's blocks and map fresh ones every call).
pub fn with_output_pool<'py, T>(
    py: Python<'py>,
    allocate: impl FnOnce() -> PyResult<T>,
) -> PyResult<T> {
    let cap = cap();
    if !cap.enabled() {
        return allocate();
    }
    let installed = installed(py)?;
    let previous = set_current(
        py,
        installed.set_handler,
        installed.capsule.bind(py).as_any(),
    )?;
    let restore = Restore {
        previous: Some(previous),
        set_handler: installed.set_handler,
        outer_bytes: CALL_BYTES.replace(0),
    };
    let allocated = allocate();
    let bytes = restore.finish()?;
    if cap == Cap::Automatic && bytes > 0 {
        POOL.set_cap(bytes);
        POOL.trim(0, unmap);
    }
    allocated
}
