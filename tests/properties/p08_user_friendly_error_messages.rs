//! Property 8: User-friendly error messages.
