//! Panics as errors: a panic anywhere in the command ends in the internal-error
//! document (E9001, kind `internal`, exit 3) instead of Rust's crash text and exit 101.
//!
//! The hook runs on the thread that panicked and only remembers the message and the
//! location; `main` catches the unwinding (a panic of a closure on a blocking thread
//! is resumed in the caller, as `Pool::read` does) and prints the error like every
//! other one, so `--json` still gets one JSON document on stdout.

use std::sync::{Mutex, PoisonError};

use strata::Error;

/// The last panic the hook saw: message and location.
static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Replaces the default hook (which prints to stderr) with one that remembers the
/// panic for [`to_error`]. With `RUST_BACKTRACE` set the default hook runs too, for
/// whoever is debugging.
pub fn install() {
    let default = std::panic::take_hook();
    let debugging = std::env::var_os("RUST_BACKTRACE").is_some();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map_or_else(|| "unknown".to_string(), |l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        let mut last = LAST_PANIC.lock().unwrap_or_else(PoisonError::into_inner);
        *last = Some((message(info.payload()), location));
        drop(last);
        if debugging {
            default(info);
        }
    }));
}

/// The E9001 error for a panic that unwound to `main`, `payload` being what
/// `catch_unwind` returned.
pub fn to_error(payload: &(dyn std::any::Any + Send)) -> Error {
    let last = LAST_PANIC.lock().unwrap_or_else(PoisonError::into_inner).take();
    let (message, location) = last.unwrap_or_else(|| (message(payload), "unknown".to_string()));
    Error::Panicked { message, location }
}

/// Logs a panic the hook saw that did not end the command (a thread whose panic
/// became another error, such as E9002, or was lost with its thread), so that its
/// message and location are not silently dropped.
pub fn warn_if_unreported() {
    let last = LAST_PANIC.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some((message, location)) = last {
        tracing::warn!(target: "strata::panic", "a thread panicked at {location}: {message}");
    }
}

/// Test-only: `STRATA_TEST_PANIC` makes the command panic on purpose, so that the
/// tests can check what a panic looks like from outside. `thread` panics on a
/// blocking thread and resumes the panic in the caller (the path of a panicking
/// `Pool::read` closure); `task` panics on a blocking thread whose join error the
/// command reports (E9002, the path of `check`, `advise`, `backup`); any other value
/// panics in the command itself.
pub async fn panic_if_asked_by_a_test() -> strata::Result<()> {
    let Some(place) = std::env::var_os("STRATA_TEST_PANIC") else { return Ok(()) };
    let place = place.to_string_lossy().into_owned();
    if place == "task" {
        let joined = tokio::task::spawn_blocking(|| panic!("STRATA_TEST_PANIC=task asked for a panic")).await;
        return joined.map_err(|e| Error::task_failed("test", e));
    }
    if place == "thread" {
        let joined =
            tokio::task::spawn_blocking(|| panic!("STRATA_TEST_PANIC=thread asked for a panic")).await;
        if let Err(err) = joined
            && err.is_panic()
        {
            std::panic::resume_unwind(err.into_panic());
        }
    }
    panic!("STRATA_TEST_PANIC={place} asked for a panic");
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}
