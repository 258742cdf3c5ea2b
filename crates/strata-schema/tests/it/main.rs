//! Integration tests of strata-schema against real SQLite files in temporary directories.

mod explain;
mod generate_prop;
mod lint;
mod migrate;
mod schema;
mod support;
mod unicode_prop;
