//! Property 2: Graceful degradation on connection failure.
