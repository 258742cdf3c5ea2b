//! Property 17: Comprehensive operation logging.
