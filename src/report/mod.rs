//! Exporters: one file per format, built from the [`model::Report`] alone.

pub mod model;

pub use model::{ConfigResult, Report, Status};
