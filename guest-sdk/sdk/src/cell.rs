//! A try-lock cell for plugin-global state.
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

/// A cell that can live in a `static` and hands out `&mut T` to one caller at a time.
///
/// Plugins keep their state (a loaded model, buffers) in statics because the exports are
/// free functions. A component instance is single-threaded, so the lock never contends in
/// practice; a re-entrant access (an export calling back into itself) gets [`Busy`] instead
/// of a deadlock or aliasing `&mut`.
pub struct TryCell<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `with` hands out `&mut T` only while `locked` is held (acquired with an atomic
// compare-exchange, released on drop of the guard), so at most one thread accesses `value`
// at a time; `T: Send` makes moving that access between threads sound, as for a `Mutex`.
unsafe impl<T: Send> Sync for TryCell<T> {}

/// [`TryCell::with`] was called while the cell was already in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy;

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("plugin state is already in use (re-entrant call)")
    }
}

impl core::error::Error for Busy {}

impl<T> TryCell<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        TryCell {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with exclusive access to the value, or returns [`Busy`] without running it
    /// if another call is inside `with` right now.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Busy> {
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(Busy);
        }
        struct Unlock<'a>(&'a AtomicBool);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _unlock = Unlock(&self.locked);
        // SAFETY: the compare-exchange above succeeded, so this is the only live reference
        // to `value` until `_unlock` is dropped at the end of this function.
        let value = unsafe { &mut *self.value.get() };
        Ok(f(value))
    }
}

/// Plugin state that is loaded on first use and kept for the instance's life: a
/// [`TryCell`] holding `Option<T>`, with the load-then-use step every plugin needs.
///
/// ```
/// use edgeplug_guest::{Error, LazyState};
///
/// static STATE: LazyState<Vec<u8>> = LazyState::new();
///
/// fn load() -> Result<Vec<u8>, Error> {
///     Ok(vec![1, 2, 3])
/// }
///
/// let len = STATE.with(load, |s| Ok(s.len())).unwrap();
/// assert_eq!(len, 3);
/// ```
pub struct LazyState<T> {
    cell: TryCell<Option<T>>,
}

impl<T> LazyState<T> {
    /// An empty state: the first [`with`](Self::with) loads it.
    pub const fn new() -> Self {
        LazyState {
            cell: TryCell::new(None),
        }
    }

    /// Runs `f` on the state, calling `load` first if nothing is loaded yet. A failed load
    /// leaves the state empty (the next call tries again) and returns `load`'s error; a
    /// re-entrant call returns an [`ErrorCode::Internal`](crate::ErrorCode::Internal)
    /// error naming [`Busy`].
    pub fn with<R>(
        &self,
        load: impl FnOnce() -> Result<T, crate::Error>,
        f: impl FnOnce(&mut T) -> Result<R, crate::Error>,
    ) -> Result<R, crate::Error> {
        self.cell
            .with(|state| match state {
                Some(s) => f(s),
                None => f(state.insert(load()?)),
            })
            .map_err(|busy| {
                crate::error(
                    crate::ErrorCode::Internal,
                    alloc::string::ToString::to_string(&busy),
                )
            })?
    }
}

impl<T> Default for LazyState<T> {
    fn default() -> Self {
        Self::new()
    }
}
