//! Property 4: Automatic migration application.
