pub mod config;
pub mod fourlw;
