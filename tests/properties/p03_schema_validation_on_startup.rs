//! Property 3: Schema validation on start-up.
