//! Prompts: a file of one prompt per line; blank lines and `#` comments ignored.

use std::path::Path;

/// compat's default prompts (`prompts/default.txt`), compiled in.
pub const DEFAULT: &str = include_str!("../prompts/default.txt");

/// Prompts for a run and where they came from.
#[derive(Debug, Clone)]
pub struct Prompts {
    pub prompts: Vec<String>,
    pub source: String,
    /// Set when `--num-prompts` asked for more than the file holds.
    pub clamped_from: Option<usize>,
}

/// Parses prompt text: each non-blank, non-`#` line, byte for byte but for the
/// line ending (a prompt can hold quotes, `$(...)`, `<script>`, any script).
pub fn parse(text: &str) -> Vec<String> {
    // Editors on Windows start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Loads `file` (or the built-in prompts) and takes the first `num`.
pub fn load(file: Option<&Path>, num: usize) -> anyhow::Result<Prompts> {
    let (text, source) = match file {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| {
                crate::exit::usage(format!("cannot read prompt file {}: {e}", p.display()))
            })?;
            let text = String::from_utf8(bytes).map_err(|e| {
                crate::exit::usage(format!(
                    "prompt file {} is not UTF-8 (byte {}); save it as UTF-8",
                    p.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?;
            (text, p.display().to_string())
        }
        None => (
            DEFAULT.to_string(),
            "<built-in prompts/default.txt>".to_string(),
        ),
    };
    let mut prompts = parse(&text);
    if prompts.is_empty() {
        return Err(crate::exit::usage(format!(
            "prompt file {source} holds no prompts (blank lines and # comments are ignored)"
        )));
    }
    if num == 0 {
        return Err(crate::exit::usage("--num-prompts must be at least 1"));
    }
    let clamped_from = (num > prompts.len()).then_some(num);
    prompts.truncate(num);
    Ok(Prompts {
        prompts,
        source,
        clamped_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_line() {
        assert_eq!(parse("\u{feff}# my prompts\na\n"), ["a"]);
    }

    #[test]
    fn default_prompts_are_plenty() {
        assert!(parse(DEFAULT).len() >= 20);
    }

    #[test]
    fn comments_and_blanks_are_skipped_text_kept_exact() {
        let p = parse(
            "# c\n\n  a \"quoted\" $(rm -rf /) <script>x</script>\r\nü 日本\n   # indented comment\n",
        );
        assert_eq!(
            p,
            ["  a \"quoted\" $(rm -rf /) <script>x</script>", "ü 日本"]
        );
    }

    #[test]
    fn clamps_and_rejects_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("p.txt");
        std::fs::write(&f, "one\ntwo\n").expect("write");
        let p = load(Some(&f), 5).expect("loads");
        assert_eq!(p.prompts.len(), 2);
        assert_eq!(p.clamped_from, Some(5));
        std::fs::write(&f, "# only a comment\n").expect("write");
        assert!(load(Some(&f), 5).is_err());
        assert!(load(Some(&dir.path().join("missing.txt")), 5).is_err());
    }
}
