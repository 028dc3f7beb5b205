pub mod charts;
pub mod html;
