//! Property 7: Automatic transaction rollback.
