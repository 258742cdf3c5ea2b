//! Property 10: Health monitoring data collection.
