//! The `ringkeeper` server binary.
fn main() {}
