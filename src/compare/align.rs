//! Aligning configs by name across reports.

use crate::report::model::{ConfigResult, Report};

/// One config name and its result in each report (None where absent).
#[derive(Debug)]
pub struct Aligned<'a> {
    /// Config name.
    pub name: &'a str,
    /// One per report, in order.
    pub cells: Vec<Option<&'a ConfigResult>>,
}

/// Rows in the first report's order, then configs new in later reports in
/// the order they first appear. A name repeated inside one report keeps its
/// first entry and adds a warning (analyze never writes one; a hand edit might).
pub fn align<'a>(reports: &[&'a Report], warnings: &mut Vec<String>) -> Vec<Aligned<'a>> {
    let mut names: Vec<&'a str> = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for c in &r.results {
            if !seen.insert(c.name.as_str()) {
                warnings.push(format!(
                    "report {} lists config {} twice; the first is used",
                    super::load::label(i),
                    c.name
                ));
            }
            if !names.contains(&c.name.as_str()) {
                names.push(&c.name);
            }
        }
    }
    names
        .into_iter()
        .map(|name| Aligned {
            name,
            cells: reports
                .iter()
                .map(|r| r.results.iter().find(|c| c.name == name))
                .collect(),
        })
        .collect()
}
