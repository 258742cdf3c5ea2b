//! Property 5: Migration rollback on failure.
