//! The log of a batch script in the original framework's style, read for
//! what it says prompt by prompt: its time, the images it saved, or the
//! warning that it saved none.
//!
//! The authority is the script itself, `compatibility/batch_text_to_image.py`
//! on branch `compat` of github.com/wtomin/vllm-omni (commit 7bd8f25f, cited
//! as B:line). Per prompt, `i` 1-based (B:361), it prints:
//!
//! ```text
//! Processing prompt i/N                                       B:363
//! Prompt: <text>                                              B:364
//! Generation time for prompt i: 1.2345 seconds (1234.50 ms)   B:392-394, before the output is checked
//! Saved image to <dir>/image_NNNN.png                         B:418-420, NNNN a counter of saved images
//!   or, through vllm's logger ("WARNING 03-23 16:30:05 [batch_text_to_image.py:413] "):
//! No output generated for prompt i                            B:398
//! No request_output found for prompt i                        B:403
//! Invalid request_output structure for prompt i               B:408
//! No images found for prompt i                                B:413
//! ```
//!
//! and at the end a summary of `  Prompt i: 1.2345 seconds (1234.50 ms)`
//! (B:430-431). Before all that, the engine itself logs its load, through
//! vllm's logger: `INFO 03-23 16:30:05 [omni_base.py:103] [Omni]
//! AsyncOmniEngine initialized in 41.23 seconds` (vllm_omni/entrypoints/
//! omni_base.py:103 at 7bd8f25f; `"[%s] %s initialized in %.2f seconds"` at
//! :227 of the released vllm-omni 0.30.0, the engine's type name second). An image belongs to the prompt whose `Processing prompt` /
//! `Generation time` line precedes its `Saved image to` line; the counter in
//! its name says nothing about the prompt, since a prompt without an image
//! does not advance it.

use std::collections::BTreeMap;

/// What the log says about one prompt (0-based index).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoggedPrompt {
    /// `Generation time for prompt i`, else the summary's `Prompt i`.
    pub seconds: Option<f64>,
    /// File names of the images saved for it, in order.
    pub images: Vec<String>,
    /// The script's warning that it made no image.
    pub warning: Option<String>,
}

/// A batch log, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchLog {
    /// By 0-based prompt index.
    pub prompts: BTreeMap<usize, LoggedPrompt>,
    /// `Saved image to` lines before any prompt line: no prompt to give them to.
    pub orphan_images: Vec<String>,
    /// Whether any `Saved image to` line was seen (a script that logs them
    /// decides the mapping; one that does not leaves it to the file names).
    pub logs_saves: bool,
    /// The `N` of `Processing prompt i/N`: how many prompts the script meant
    /// to run.
    pub total: Option<usize>,
    /// The last Python traceback in the log, if any.
    pub crash: Option<Crash>,
    /// The engine's `… Engine initialized in X seconds`: the model load.
    pub load_seconds: Option<f64>,
}

/// A Python traceback in the log. The batch script has no `try` around a
/// prompt (B:361-421): an exception ends the script, Python prints the
/// traceback on stderr, which the runner merges into the log (R:503-506),
/// after what the script had printed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Crash {
    /// The prompt being processed when it happened (0-based): the last
    /// `Processing prompt` / `Generation time` line before the traceback.
    pub prompt: Option<usize>,
    /// Its last line, the exception ("RuntimeError: CUDA error: ...").
    pub exception: String,
}

impl Crash {
    /// "on prompt 3: RuntimeError: ..." (0-based, as compat counts).
    pub fn describe(&self) -> String {
        let exc = crate::text::clean(&self.exception);
        match self.prompt {
            Some(p) => format!("it crashed on prompt {p}: {exc}"),
            None => format!("it crashed: {exc}"),
        }
    }
}

/// The warnings that mean "no image for prompt i" (B:398-413).
const NO_IMAGE: [&str; 4] = [
    "No output generated for prompt ",
    "No request_output found for prompt ",
    "Invalid request_output structure for prompt ",
    "No images found for prompt ",
];

/// "1.2345 seconds (1234.50 ms)", "2.5 seconds", "2.5s", "2.5" → seconds.
fn seconds(text: &str) -> Option<f64> {
    let t = text.split('(').next().unwrap_or(text).trim();
    let t = t
        .strip_suffix("seconds")
        .or_else(|| t.strip_suffix('s'))
        .unwrap_or(t)
        .trim();
    t.parse::<f64>().ok()
}

/// "3: 1.2 seconds" → (2, Some(1.2)); the number is 1-based.
fn numbered(rest: &str) -> Option<(usize, &str)> {
    let (n, tail) = rest.split_once(':').unwrap_or((rest, ""));
    let n: usize = n.trim().parse().ok()?;
    Some((n.checked_sub(1)?, tail))
}

/// The 1-based prompt number that ends a warning line, 0-based.
fn trailing_prompt(rest: &str) -> Option<usize> {
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<usize>().ok()?.checked_sub(1)
}

impl BatchLog {
    /// Reads the log text (never fails: lines it does not know are skipped).
    pub fn parse(text: &str) -> BatchLog {
        let mut log = BatchLog::default();
        let mut current: Option<usize> = None;
        let mut summary: BTreeMap<usize, f64> = BTreeMap::new();
        let mut in_traceback = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("Traceback (most recent call last)") {
                in_traceback = true;
                log.crash = Some(Crash {
                    prompt: current,
                    exception: String::new(),
                });
                continue;
            }
            if in_traceback {
                // Frames are indented; the first line that is not ends the
                // traceback and is its exception (chained exceptions print
                // a sentence between tracebacks, then the next one).
                let indented = line.starts_with([' ', '\t']);
                if t.is_empty() || indented {
                    continue;
                }
                in_traceback = false;
                if t.starts_with("During handling of the above exception")
                    || t.starts_with("The above exception was the direct cause")
                {
                    continue;
                }
                if let Some(c) = &mut log.crash {
                    c.exception = t.chars().take(500).collect();
                }
                continue;
            }
            // The prompt's own text may say anything.
            if t.starts_with("Prompt:") {
                continue;
            }
            if let Some(i) = t.find("Engine initialized in ")
                && current.is_none()
                && let Some(s) = seconds(&t[i + "Engine initialized in ".len()..])
                    .filter(|s| s.is_finite() && *s >= 0.0)
            {
                log.load_seconds = Some(s);
                continue;
            }
            if let Some(i) = t.find("Processing prompt ") {
                let rest = &t[i + "Processing prompt ".len()..];
                if let Some(total) = rest
                    .split_once('/')
                    .and_then(|(_, n)| n.trim().parse::<usize>().ok())
                {
                    log.total = Some(total);
                }
                if let Some(n) = rest
                    .split('/')
                    .next()
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .and_then(|n| n.checked_sub(1))
                {
                    current = Some(n);
                    log.prompts.entry(n).or_default();
                }
            } else if let Some(i) = t.find("Generation time for prompt ") {
                if let Some((n, tail)) = numbered(&t[i + "Generation time for prompt ".len()..]) {
                    current = Some(n);
                    let p = log.prompts.entry(n).or_default();
                    p.seconds = seconds(tail).filter(|s| s.is_finite()).or(p.seconds);
                }
            } else if let Some(i) = t.find("Saved image to ") {
                log.logs_saves = true;
                let path = t[i + "Saved image to ".len()..].trim();
                let name = path.rsplit(['/', '\\']).next().unwrap_or(path).to_string();
                match current {
                    Some(n) => log.prompts.entry(n).or_default().images.push(name),
                    None => log.orphan_images.push(name),
                }
            } else if let Some((w, n)) = NO_IMAGE.iter().find_map(|w| {
                let i = t.find(w)?;
                Some((&t[i..], trailing_prompt(&t[i + w.len()..])?))
            }) {
                log.prompts.entry(n).or_default().warning = Some(w.to_string());
            } else if let Some(rest) = t.strip_prefix("Prompt ")
                && let Some((n, tail)) = numbered(rest)
                && let Some(s) = seconds(tail).filter(|s| s.is_finite())
            {
                summary.insert(n, s);
            }
        }
        for (n, s) in summary {
            let p = log.prompts.entry(n).or_default();
            p.seconds = p.seconds.or(Some(s));
        }
        log
    }

    /// Seconds per 0-based prompt, where the log gives them.
    pub fn times(&self) -> BTreeMap<usize, f64> {
        self.prompts
            .iter()
            .filter_map(|(&n, p)| Some((n, p.seconds?)))
            .collect()
    }

    /// Which prompt saved the image `name` (by the log's `Saved image to`
    /// lines), when exactly one did.
    pub fn prompt_of(&self, name: &str) -> Option<usize> {
        let mut owners = self
            .prompts
            .iter()
            .filter(|(_, p)| p.images.iter().any(|i| i == name))
            .map(|(&n, _)| n);
        let first = owners.next()?;
        owners.next().is_none().then_some(first)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The real script's log of a 4-prompt run where prompt 2 made no image
    /// (lines as B:361-438 print them; the warning through vllm's logger).
    pub(crate) const MISSING_PROMPT_2: &str = "\
============================================================
Processing prompt 1/4
Prompt: a mountain lake; Generation time for prompt 9: 9 seconds
============================================================

Generation time for prompt 1: 1.0000 seconds (1000.00 ms)
Saved image to /out/cfg_parallel/image_0000.png

============================================================
Processing prompt 2/4
Prompt: a cup of tea
============================================================

Generation time for prompt 2: 0.2500 seconds (250.00 ms)
WARNING 03-23 16:30:05 [batch_text_to_image.py:413] No images found for prompt 2

============================================================
Processing prompt 3/4
Prompt: an astronaut
============================================================

Generation time for prompt 3: 1.0000 seconds (1000.00 ms)
Saved image to /out/cfg_parallel/image_0001.png

============================================================
Processing prompt 4/4
Prompt: a fisherman
============================================================

Generation time for prompt 4: 1.0000 seconds (1000.00 ms)
Saved image to /out/cfg_parallel/image_0002.png

============================================================
BATCH GENERATION SUMMARY
============================================================
Total prompts processed: 4
Total images generated: 3

Generation times:
  Prompt 1: 1.0000 seconds (1000.00 ms)
  Prompt 2: 0.2500 seconds (250.00 ms)
  Prompt 3: 1.0000 seconds (1000.00 ms)
  Prompt 4: 1.0000 seconds (1000.00 ms)

Average generation time: 0.8125 seconds (812.50 ms)
Total generation time: 3.2500 seconds (3250.00 ms)
";

    #[test]
    fn the_engines_load_line_is_the_load() {
        // vllm_omni 0.30.0 entrypoints/omni_base.py:227 through vllm's logger.
        let log = BatchLog::parse(
            "INFO 12-07 11:20:05 [omni_base.py:227] [Omni] AsyncOmniEngine initialized in 41.23 seconds\n\
             Processing prompt 1/1\nGeneration time for prompt 1: 1.0000 seconds (1000.00 ms)\n",
        );
        assert_eq!(log.load_seconds, Some(41.23));
        assert_eq!(log.times().get(&0), Some(&1.0));
        // Only before the first prompt: a prompt's own output is not the load.
        let log = BatchLog::parse("Processing prompt 1/1\nXEngine initialized in 3 seconds\n");
        assert_eq!(log.load_seconds, None);
        let log = BatchLog::parse("[Omni] AsyncOmniEngine initialized in nan seconds\n");
        assert_eq!(log.load_seconds, None);
    }

    #[test]
    fn every_image_on_the_prompt_that_saved_it() {
        let log = BatchLog::parse(MISSING_PROMPT_2);
        assert!(log.logs_saves);
        assert_eq!(log.prompt_of("image_0000.png"), Some(0));
        assert_eq!(log.prompt_of("image_0001.png"), Some(2));
        assert_eq!(log.prompt_of("image_0002.png"), Some(3));
        let p1 = &log.prompts[&1];
        assert!(p1.images.is_empty());
        assert_eq!(p1.warning.as_deref(), Some("No images found for prompt 2"));
        assert_eq!(p1.seconds, Some(0.25));
        // The prompt's own text never counts as a timing line.
        assert_eq!(log.times().len(), 4);
        assert_eq!(log.times()[&0], 1.0);
    }

    #[test]
    fn millisecond_suffix_and_the_summary_alone() {
        let log = BatchLog::parse("  Prompt 3: 1.2345 seconds (1234.50 ms)\nPrompt 1: 2s\n");
        assert_eq!(log.times()[&2], 1.2345);
        assert_eq!(log.times()[&0], 2.0);
        assert!(!log.logs_saves);
        let log = BatchLog::parse("Generation time for prompt 1: 0.5000 seconds (500.00 ms)\n");
        assert_eq!(log.times()[&0], 0.5);
    }

    #[test]
    fn a_save_before_any_prompt_is_an_orphan() {
        let log = BatchLog::parse("Saved image to out/image_0000.png\n");
        assert_eq!(log.orphan_images, ["image_0000.png"]);
        assert_eq!(log.prompt_of("image_0000.png"), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = BatchLog::parse(&text);
        }

        #[test]
        fn arbitrary_lines_of_the_known_shapes_never_panic(
            lines in proptest::collection::vec(
                "(Processing prompt |Generation time for prompt |Saved image to |No images found for prompt |  Prompt |Prompt: )[0-9/:. a-z()]{0,20}",
                0..20,
            )
        ) {
            let _ = BatchLog::parse(&lines.join("\n"));
        }

        #[test]
        fn well_formed_timing_lines_always_parse(
            i in 1usize..500, ms in 0u32..10_000_000, summary in proptest::bool::ANY,
        ) {
            let secs = f64::from(ms) / 10_000.0;
            let line = if summary {
                format!("  Prompt {i}: {secs:.4} seconds ({:.2} ms)", secs * 1000.0)
            } else {
                format!("Generation time for prompt {i}: {secs:.4} seconds ({:.2} ms)", secs * 1000.0)
            };
            let t = BatchLog::parse(&line).times();
            proptest::prop_assert_eq!(t.get(&(i - 1)).copied(), Some(format!("{secs:.4}").parse::<f64>().unwrap()));
        }
    }
}
