//! Property 16: Configuration hot reload.
