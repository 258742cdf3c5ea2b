//! Property 11: Integrity checking.
