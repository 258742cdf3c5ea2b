//! Property 1: Connection recovery behaviour.
