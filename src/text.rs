//! Text that came from a backend, made safe and short for where it is shown.
//!
//! A backend's error may hold anything: a multi-line traceback, terminal
//! escapes, NUL bytes, markup. Terminal tables and the run summary get one
//! meaningful line per config with control characters replaced; report.json
//! and the HTML page keep the full text (the page escapes it).

/// Control characters (C0 but tab and newline, DEL, C1) replaced by U+FFFD, so
/// an ESC sequence cannot recolour a terminal nor a NUL end a page.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// One table cell of a terminal table: [`clean`], on one line.
pub fn cell(s: &str) -> String {
    clean(s).replace(['\n', '\t'], " ")
}

/// Text for a Markdown cell or line (the analyze summary and `compare
/// --markdown`, both read in PR comments): shown as the text it is, never
/// as markup. HTML is escaped; every character Markdown acts on inline
/// (emphasis, code, links and images, tables, strike-through, escapes) is
/// backslash-escaped, so `![x](https://…)` loads nothing and a backtick
/// opens no code span; `@` is followed by a word joiner (U+2060), so
/// `@everyone` or `@team` pings no one; control characters and newlines
/// do not survive.
pub fn markdown(s: &str) -> String {
    let text = cell(s);
    let mut out = String::with_capacity(text.len() + 8);
    for (i, c) in text.char_indices() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => out.push_str("@\u{2060}"),
            // Without `[` and `]` there is no link and no image; `(`, `!`
            // and `#` are then plain text and stay readable.
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            // A bare `https://` would become a link of its own.
            ':' if text[i..].starts_with("://") => out.push_str("\\:"),
            c => out.push(c),
        }
    }
    out
}

/// The one line of a message worth showing: for a Python traceback its last
/// line (the exception), else its first non-empty line; cleaned.
pub fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let line = if lines.first().is_some_and(|l| l.starts_with("Traceback")) {
        lines.last()
    } else {
        lines.first()
    };
    clean(line.copied().unwrap_or(""))
}

/// Per-prompt failures as one line: identical reasons collapse ("6 of 6
/// prompts: Unsupported: …"), else the first three ("prompt 0: …; prompt 3:
/// …; and 2 more"). `total` is the number of prompts.
pub fn prompt_failures(failures: &[(usize, String)], total: usize) -> Option<String> {
    let lines: Vec<(usize, String)> = failures.iter().map(|(i, e)| (*i, one_line(e))).collect();
    let first = lines.first()?;
    if lines.len() > 1 && lines.iter().all(|(_, l)| *l == first.1) {
        return Some(format!("{} of {total} prompts: {}", lines.len(), first.1));
    }
    let mut out = lines
        .iter()
        .take(3)
        .map(|(i, l)| format!("prompt {i}: {l}"))
        .collect::<Vec<_>>()
        .join("; ");
    if lines.len() > 3 {
        out.push_str(&format!("; and {} more", lines.len() - 3));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(clean("a\u{1b}[31mb\0c\nd"), "a\u{FFFD}[31mb\u{FFFD}c\nd");
    }

    #[test]
    fn markdown_is_shown_as_text() {
        let hostile = "![px](https://evil.example/p.png) [link](https://x) @everyone **bold** \
                       `code` <script>alert(1)</script> a|b ~~s~~ _i_ \\ \u{1b}[2J";
        let m = markdown(hostile);
        // What Markdown would still act on: every character not escaped.
        let mut live = String::new();
        let mut chars = m.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                chars.next();
            } else {
                live.push(c);
            }
        }
        for active in ['[', ']', '`', '*', '_', '|', '~', '<', '>', '\u{1b}'] {
            assert!(!live.contains(active), "{active:?} is live in {m}");
        }
        assert!(!live.contains("@everyone"), "{m}");
        assert!(!live.contains("://"), "{m}");
        // What is shown reads the same: each escape is one backslash.
        assert!(m.contains("!\\[px\\](https\\://evil.example/p.png)"), "{m}");
        assert!(m.contains("&lt;script&gt;"), "{m}");
        assert_eq!(markdown("a\nb"), "a b");
        assert_eq!(markdown("cfg_parallel+teacache"), "cfg\\_parallel+teacache");
    }

    #[test]
    fn a_traceback_is_its_exception() {
        let tb = "Traceback (most recent call last):\n  File \"x.py\", line 1\n    f()\ntorch._dynamo.exc.Unsupported: Skip inlining\n";
        assert_eq!(one_line(tb), "torch._dynamo.exc.Unsupported: Skip inlining");
        assert_eq!(
            one_line("\n CUDA out of memory \nmore"),
            "CUDA out of memory"
        );
    }

    #[test]
    fn identical_reasons_collapse() {
        let tb = "Traceback (most recent call last):\nUnsupported: Skip inlining".to_string();
        let same: Vec<(usize, String)> = (0..6).map(|i| (i, tb.clone())).collect();
        assert_eq!(
            prompt_failures(&same, 6).as_deref(),
            Some("6 of 6 prompts: Unsupported: Skip inlining")
        );
        let mixed: Vec<(usize, String)> = (0..5).map(|i| (i, format!("e{i}\nmore"))).collect();
        assert_eq!(
            prompt_failures(&mixed, 5).as_deref(),
            Some("prompt 0: e0; prompt 1: e1; prompt 2: e2; and 2 more")
        );
        assert_eq!(prompt_failures(&[], 3), None);
    }
}
