//! Property 14: Non-database command continuity.
