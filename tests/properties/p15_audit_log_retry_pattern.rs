//! Property 15: Audit log retry pattern.
