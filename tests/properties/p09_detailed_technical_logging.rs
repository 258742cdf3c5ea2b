//! Property 9: Detailed technical logging.
