//! Aligned text tables for the terminal: the one writer behind the analysis
//! table, the comparison, `compat features` and the run summary.
//!
//! Widths count `char`s, and colour is applied to a cell *after* it is padded,
//! so escape sequences never skew a column.

/// How a column's cells are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    #[default]
    Left,
    Right,
}

/// The line under the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// No line.
    None,
    /// One `─` line across the whole table.
    Full,
    /// A run of `-` under each column, separated like the cells.
    PerColumn,
}

/// A table: header, rows, per-column alignment and minimum width, the text
/// between columns.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    align: Vec<Align>,
    min_width: Vec<usize>,
    gaps: Vec<String>,
    rule: Rule,
}

impl Table {
    /// A table with left-aligned columns separated by two spaces and a full rule.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        let header: Vec<String> = header.into_iter().map(Into::into).collect();
        let n = header.len();
        Table {
            header,
            rows: Vec::new(),
            align: vec![Align::Left; n],
            min_width: vec![0; n],
            gaps: vec!["  ".to_string(); n.saturating_sub(1)],
            rule: Rule::Full,
        }
    }

    /// Right-aligns the given columns.
    pub fn right(mut self, columns: &[usize]) -> Table {
        for &c in columns {
            if let Some(a) = self.align.get_mut(c) {
                *a = Align::Right;
            }
        }
        self
    }

    /// Pads column `c` to at least `w` characters.
    pub fn min_width(mut self, c: usize, w: usize) -> Table {
        if let Some(m) = self.min_width.get_mut(c) {
            *m = w;
        }
        self
    }

    /// The text between column `c` and `c + 1`.
    pub fn gap(mut self, c: usize, text: &str) -> Table {
        if let Some(g) = self.gaps.get_mut(c) {
            *g = text.to_string();
        }
        self
    }

    pub fn rule(mut self, rule: Rule) -> Table {
        self.rule = rule;
        self
    }

    /// The body rows. Every cell is made safe for a terminal
    /// ([`crate::text::cell`]): names and backend text may hold escapes.
    pub fn rows(mut self, rows: impl IntoIterator<Item = Vec<String>>) -> Table {
        self.rows.extend(
            rows.into_iter()
                .map(|r| r.iter().map(|c| crate::text::cell(c)).collect()),
        );
        self
    }

    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self
            .header
            .iter()
            .zip(&self.min_width)
            .map(|(h, m)| h.chars().count().max(*m))
            .collect();
        for r in &self.rows {
            for (w, c) in w.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        w
    }

    /// The header line, the rule, then one line per row (each ending in a
    /// newline, trailing spaces trimmed). `paint(row, column, padded)` may
    /// colour a body cell.
    pub fn render_with(&self, paint: impl Fn(usize, usize, &str) -> String) -> String {
        let width = self.widths();
        let line = |cells: &[String], row: Option<usize>| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
                let pad = " ".repeat(w.saturating_sub(c.chars().count()));
                let text = match self.align[i] {
                    Align::Right => format!("{pad}{c}"),
                    Align::Left => format!("{c}{pad}"),
                };
                match row {
                    Some(r) => s.push_str(&paint(r, i, &text)),
                    None => s.push_str(&text),
                }
                if i + 1 < cells.len() {
                    s.push_str(&self.gaps[i]);
                }
            }
            s.truncate(s.trim_end().len());
            s + "\n"
        };
        let mut out = line(&self.header, None);
        match self.rule {
            Rule::None => {}
            Rule::Full => {
                let gaps: usize = self.gaps.iter().map(|g| g.chars().count()).sum();
                out.push_str(&"─".repeat(width.iter().sum::<usize>() + gaps));
                out.push('\n');
            }
            Rule::PerColumn => {
                let dashes: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
                out.push_str(&line(&dashes, None));
            }
        }
        for (i, r) in self.rows.iter().enumerate() {
            out.push_str(&line(r, Some(i)));
        }
        out
    }

    /// [`Table::render_with`] without colour.
    pub fn render(&self) -> String {
        self.render_with(|_, _, t| t.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_pads_and_trims() {
        let t = Table::new(["name", "n"]).right(&[1]).rows([
            vec!["a".into(), "10".into()],
            vec!["long".into(), "2".into()],
        ]);
        assert_eq!(t.render(), "name   n\n────────\na     10\nlong   2\n");
    }

    #[test]
    fn colour_does_not_skew_widths() {
        let t = Table::new(["s", "x"]).rows([vec!["PASS".into(), "1".into()]]);
        let out = t.render_with(|_, c, text| {
            if c == 0 {
                format!("\x1b[32m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        });
        assert_eq!(out.lines().nth(2), Some("\x1b[32mPASS\x1b[0m  1"));
    }

    #[test]
    fn minimum_widths_gaps_and_per_column_rules() {
        let t = Table::new(["a", "b"])
            .min_width(0, 3)
            .gap(0, " | ")
            .rule(Rule::PerColumn)
            .rows([vec!["x".into(), "yy".into()]]);
        assert_eq!(t.render(), "a   | b\n--- | --\nx   | yy\n");
    }
}
