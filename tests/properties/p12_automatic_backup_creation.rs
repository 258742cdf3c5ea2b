//! Property 12: Automatic backup creation.
