//! Property 13: Corruption recovery.
