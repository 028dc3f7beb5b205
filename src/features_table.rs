//! `compat features`: the registry as a table, with GPU needs.

use crate::registry::Registry;
use crate::text_table::{Rule, Table};

/// The table as text for `backend` running `model` (kept apart from
/// printing so it can be tested). A feature the backend cannot do shows why
/// in place of its flags: `run` would SKIP it with that reason.
pub fn render(r: &Registry, backend: &str, model: &str) -> String {
    let header = [
        "feature",
        "label",
        "gpus",
        "kind",
        "category",
        "group",
        "flags",
        &if model.is_empty() {
            format!("args ({backend})")
        } else {
            format!("args ({backend}, {model})")
        },
    ];
    let rows: Vec<Vec<String>> = r
        .features
        .iter()
        .map(|f| {
            let mut flags = Vec::new();
            if f.addon_only {
                flags.push("addon-only");
            }
            if f.single_card_only {
                flags.push("single-card");
            }
            vec![
                f.id.clone(),
                f.label.clone(),
                format!("×{}", f.gpus),
                if f.lossy { "lossy" } else { "lossless" }.to_string(),
                f.category.clone(),
                f.exclusive.clone().unwrap_or_default(),
                flags.join(","),
                match f.unsupported_on(backend, model) {
                    Some(why) => format!("SKIP: {why}"),
                    None => f.args_for(backend).join(" "),
                },
            ]
        })
        .collect();
    let table = Table::new(header).rule(Rule::PerColumn).rows(rows);
    let mut out = format!("registry: {}\n\n", r.source);
    out += &table.render();
    out += "\nA configuration needs the product of its features' GPU multipliers \
            (cfg_parallel + ulysses = ×2 × ×2 = 4 GPUs).\n";
    if !r.conflicts.is_empty() {
        out += "\nconflicts:\n";
        for c in &r.conflicts {
            let only = if c.backends.is_empty() {
                String::new()
            } else {
                format!(" ({} only)", c.backends.join(", "))
            };
            out += &format!("  {}{only} — {}\n", c.features.join(" + "), c.reason);
        }
    }
    out += "\nbackends:\n";
    for b in r.backends.values() {
        let default = if b.name == r.default_backend {
            " (default)"
        } else {
            ""
        };
        let devices = match b.devices {
            crate::registry::DeviceSource::Gpu => "GPUs",
            crate::registry::DeviceSource::CpuCores => "CPU cores",
        };
        out += &format!(
            "  {}{default}: devices = {devices}, model = {}\n",
            b.name,
            b.model.as_deref().unwrap_or("-")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_every_feature_with_its_gpus() {
        let r = crate::registry::Registry::parse(crate::registry::EMBEDDED, "x").expect("registry");
        let t = super::render(&r, &r.default_backend, "m");
        for f in &r.features {
            assert!(t.contains(&f.id), "{t}");
        }
        assert!(
            t.contains("×2") && t.contains("lossy") && t.contains("addon-only"),
            "{t}"
        );
    }
}
