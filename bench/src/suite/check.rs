//! What the report is made of and every scenario may produce: a checked target, and the
//! colours of the charts. Below `report`, `compare` and the scenarios, so that they can
//! use it without importing each other in a circle.

use serde::Serialize;

/// One of the targets, checked.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Check {
    /// The target as the issue states it.
    pub target: String,
    /// The measured value, as a ratio or a number with its unit.
    pub measured: String,
    /// Met, not met, or not measurable in this run (`None`).
    pub met: Option<bool>,
}

/// Bar colours, one per target or compared report.
pub const COLOURS: [&str; 3] = ["#1f77b4", "#ff7f0e", "#2ca02c"];
