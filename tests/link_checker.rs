//! Runs `examples/link_checker.rs` to completion as part of `cargo test`, so CI
//! builds and runs the example (it asserts what it checked, retried and dead-lettered).

#[path = "../examples/link_checker.rs"]
mod link_checker;

#[test]
fn the_link_checker_example_runs_to_completion() {
    link_checker::main().expect("the link checker runs to completion");
}
