//! Property 6: Transaction atomicity.
