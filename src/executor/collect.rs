//! After a backend exits: per-prompt records from `results.jsonl`, or from the
//! original framework's log lines and `image_NNNN.png` files, and a
//! `prompt_NN.exitcode` for every prompt.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::results::batch_log::{BatchLog, Crash};
use crate::results::{self, BatchRecords, PromptRecord, atomic};

/// What a configuration produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    pub records: BatchRecords,
    /// Prompts with an image.
    pub ok: usize,
    /// Prompts without one, with why.
    pub missing: Vec<(usize, String)>,
}

impl Collected {
    /// One line for the manifest: the first few prompts that have no image.
    pub fn missing_summary(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let total = self.missing.len() + self.ok;
        let why = crate::text::prompt_failures(&self.missing, total)?;
        Some(format!(
            "{} of {total} prompts have no image ({why})",
            self.missing.len()
        ))
    }
}

/// Reads what the backend left in `dir` for `num_prompts` prompts.
pub fn collect(dir: &Path, num_prompts: usize) -> anyhow::Result<Collected> {
    let jsonl = dir.join(results::RESULTS);
    let (mut records, crash) = if jsonl.is_file() {
        let text = results::files::read_regular(&jsonl)
            .with_context(|| format!("failed to read {}", jsonl.display()))?;
        (
            BatchRecords::parse_jsonl(&String::from_utf8_lossy(&text)),
            None,
        )
    } else {
        let (records, crash) = from_log(dir)?;
        atomic::write(&jsonl, records.to_jsonl().as_bytes())?;
        (records, crash)
    };

    // The protocol names images prompt_NN.png, but a backend that wrote
    // another name (prompt_000.png) and said so in its line is taken at its
    // word: the image is moved to the canonical name analysis reads. Only
    // for prompts of this run, and only a PNG the backend wrote: never one
    // of compat's own files, never another prompt's canonical image.
    let mut renamed: BTreeMap<usize, (String, String)> = BTreeMap::new();
    for r in records.prompts.range_mut(..num_prompts).map(|(_, r)| r) {
        let canonical = results::prompt_image(r.prompt);
        let Some(name) = r.image.clone().filter(|n| *n != canonical) else {
            continue;
        };
        if movable(dir, &name) && !dir.join(&canonical).exists() {
            let (from, to) = (dir.join(&name), dir.join(&canonical));
            if std::fs::rename(&from, &to).is_ok() {
                r.image = Some(canonical.clone());
                renamed.insert(r.prompt, (name, canonical));
            }
        }
    }
    if !renamed.is_empty() {
        // Line by line, so that nothing else the backend wrote (lines that
        // could not be read, events, fields) is lost.
        let text = results::files::read_regular(&jsonl)
            .with_context(|| format!("failed to read {}", jsonl.display()))?;
        let text = rewrite_images(&String::from_utf8_lossy(&text), &renamed);
        atomic::write(&jsonl, text.as_bytes())?;
    }

    let mut ok = 0;
    let mut missing = Vec::new();
    for i in 0..num_prompts {
        let image = results::prompt_image(i);
        let has_image = dir.join(&image).is_file();
        let record = records.prompts.get(&i);
        let good = has_image && record.is_none_or(|r| r.ok);
        if good {
            ok += 1;
            // A backend that wrote the image but no line still gets one.
            records.prompts.entry(i).or_insert_with(|| PromptRecord {
                prompt: i,
                image: Some(image.clone()),
                seconds: None,
                ok: true,
                error: None,
                extra: Default::default(),
            });
        } else {
            let why = match record {
                Some(r) if !r.ok => r
                    .error
                    .clone()
                    .unwrap_or_else(|| "backend reported failure".into()),
                Some(_) => format!("{image} is missing"),
                None => match &crash {
                    Some(c) if c.prompt.is_some_and(|p| p < i) => {
                        format!("never run: the backend stopped, {}", c.describe())
                    }
                    _ => "no image, no result".into(),
                },
            };
            missing.push((i, why));
        }
        let code = if good { "0\n" } else { "1\n" };
        atomic::write(&dir.join(results::prompt_exitcode(i)), code.as_bytes())?;
    }
    Ok(Collected {
        records,
        ok,
        missing,
    })
}

/// compat's own files in a config folder: never the image of a prompt.
fn is_compat_file(name: &str) -> bool {
    [
        results::LOG,
        results::EXITCODE,
        results::RESULTS,
        results::CONFIG_INFO,
        results::MANIFEST,
        results::PROMPTS,
        results::REPORT,
    ]
    .contains(&name)
        || name.ends_with(".exitcode")
        || name.ends_with(".lock")
        || name.ends_with(".tmp")
}

/// Whether the file a backend named as its image may be moved: a plain
/// name in the folder, a PNG, a regular file (not a link to elsewhere),
/// none of compat's files, and not any prompt's `prompt_NN.png` (any number
/// of digits: prompt 100's image is `prompt_100.png`).
fn movable(dir: &Path, name: &str) -> bool {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.to_ascii_lowercase().ends_with(".png");
    let another_prompts = name
        .strip_prefix("prompt_")
        .and_then(|r| r.strip_suffix(".png"))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<usize>().ok())
        // Canonical for some prompt (prompt_03.png, prompt_100.png): that
        // prompt's. A differently padded name (prompt_000.png) is no
        // prompt's and may be taken at the backend's word.
        .is_some_and(|n| results::prompt_image(n) == name);
    plain
        && !is_compat_file(name)
        && !another_prompts
        && std::fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.is_file())
}

/// `results.jsonl` with the `image` of each renamed prompt's line changed
/// to its new name; every other line as it was.
fn rewrite_images(text: &str, renamed: &BTreeMap<usize, (String, String)>) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut v = serde_json::from_str::<serde_json::Value>(line.trim()).ok();
        let target = v.as_ref().and_then(|v| {
            let p = usize::try_from(v.get("prompt")?.as_u64()?).ok()?;
            let (from, to) = renamed.get(&p)?;
            (v.get("image")?.as_str()? == from).then(|| to.clone())
        });
        match (&mut v, target) {
            (Some(v), Some(to)) => {
                v["image"] = serde_json::Value::String(to);
                out.push_str(&v.to_string());
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Records for a backend that only logged (the original framework's batch
/// script): timings from the log, and each `image_NNNN.png` renamed to the
/// `prompt_NN.png` of the prompt that saved it ([`BatchLog`]).
fn from_log(dir: &Path) -> anyhow::Result<(BatchRecords, Option<Crash>)> {
    let text = results::files::read_regular(&dir.join(results::LOG)).unwrap_or_default();
    let log = BatchLog::parse(&String::from_utf8_lossy(&text));
    // A traceback counts only when the backend failed: a backend that
    // exited 0 logged one it recovered from.
    let failed = results::files::read_regular(&dir.join(results::EXITCODE))
        .ok()
        .and_then(|b| String::from_utf8_lossy(&b).trim().parse::<i32>().ok())
        .is_some_and(|code| code != 0);
    let crash = log.crash.clone().filter(|_| failed);
    let mut images: BTreeMap<usize, String> = BTreeMap::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))?
    {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix("image_")
            .and_then(|r| r.strip_suffix(".png"))
            .and_then(|n| n.parse::<usize>().ok())
        {
            images.insert(n, name);
        }
    }
    let mut records = BatchRecords {
        load_seconds: log.load_seconds,
        ..BatchRecords::default()
    };
    for (prompt, found) in attribute(&log, &images, crash.as_ref()) {
        let seconds = log.prompts.get(&prompt).and_then(|p| p.seconds);
        let (image, error) = match found {
            Ok(file) => {
                let to = results::prompt_image(prompt);
                std::fs::rename(dir.join(&file), dir.join(&to))
                    .with_context(|| format!("failed to rename {file} to {to}"))?;
                (Some(to), None)
            }
            Err(why) => (None, Some(why)),
        };
        records.prompts.insert(
            prompt,
            PromptRecord {
                prompt,
                ok: image.is_some(),
                image,
                seconds,
                error,
                extra: Default::default(),
            },
        );
    }
    Ok((records, crash))
}

/// Each logged prompt's image file, or why it has none. With `Saved image
/// to` lines the log decides. Without them, only when every logged prompt
/// has exactly one image numbered like the prompts (0- or 1-based) do the
/// numbers decide (a counter of saved images and a prompt number agree
/// then); otherwise nothing is guessed: every prompt says why.
fn attribute(
    log: &BatchLog,
    images: &BTreeMap<usize, String>,
    crash: Option<&Crash>,
) -> BTreeMap<usize, Result<String, String>> {
    let prompts = log.prompts.keys().copied();
    if log.logs_saves {
        return log
            .prompts
            .iter()
            .map(|(&n, p)| {
                let found = match (p.images.first(), &p.warning) {
                    (Some(f), _) if images.values().any(|i| i == f) => Ok(f.clone()),
                    (Some(f), _) => Err(format!("the log says it saved {f}, which is not there")),
                    (None, Some(w)) => Err(format!("the backend logged \"{w}\"")),
                    (None, None) => match crash {
                        Some(c) if c.prompt == Some(n) => {
                            Err(format!("the backend crashed on it: {}", c.exception))
                        }
                        _ => Err("no \"Saved image to\" line for it in the log".into()),
                    },
                };
                (n, found)
            })
            .collect();
    }
    let logged: Vec<usize> = prompts.collect();
    for offset in [0usize, 1] {
        let numbers: Vec<usize> = logged.iter().map(|n| n + offset).collect();
        if !logged.is_empty() && images.keys().copied().eq(numbers.iter().copied()) {
            return logged
                .iter()
                .zip(images.values())
                .map(|(&n, f)| (n, Ok(f.clone())))
                .collect();
        }
    }
    let why = format!(
        "cannot tell which prompt each image belongs to: the log has no \"Saved image to\" \
         lines, and {} image_NNNN.png files for {} logged prompts",
        images.len(),
        logged.len()
    );
    logged.into_iter().map(|n| (n, Err(why.clone()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_named_otherwise_in_results_jsonl_are_taken_at_their_word() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join(results::RESULTS),
            "{\"prompt\": 0, \"image\": \"prompt_000.png\", \"seconds\": 1.0, \"ok\": true}\n",
        )
        .expect("jsonl");
        std::fs::write(d.join("prompt_000.png"), b"png").expect("img");
        let c = collect(d, 1).expect("collects");
        assert_eq!(c.ok, 1);
        assert_eq!(
            std::fs::read(d.join("prompt_00.png")).expect("moved"),
            b"png"
        );
        assert_eq!(
            c.records.prompts[&0].image.as_deref(),
            Some("prompt_00.png")
        );
        let on_disk = std::fs::read_to_string(d.join(results::RESULTS)).expect("jsonl");
        assert!(on_disk.contains("\"prompt_00.png\""), "{on_disk}");
    }

    /// Lines for prompts outside the run move nothing: the file they name
    /// stays, and the run's own prompt keeps its image.
    #[test]
    fn lines_for_prompts_outside_the_run_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join(results::RESULTS),
            "{\"prompt\": 0, \"image\": \"prompt_00.png\", \"seconds\": 1.0, \"ok\": true}\n\
             {\"prompt\": 18446744073709551615, \"image\": \"other.png\", \"seconds\": 1.0, \"ok\": true}\n\
             {\"prompt\": 7, \"image\": \"other.png\", \"seconds\": 1.0, \"ok\": true}\n",
        )
        .expect("jsonl");
        std::fs::write(d.join("prompt_00.png"), b"png0").expect("img");
        std::fs::write(d.join("other.png"), b"other").expect("img");
        let c = collect(d, 1).expect("collects");
        assert_eq!(c.ok, 1);
        assert_eq!(std::fs::read(d.join("other.png")).expect("kept"), b"other");
        assert!(!d.join("prompt_07.png").exists());
        assert_eq!(
            std::fs::read(d.join("prompt_00.png")).expect("kept"),
            b"png0"
        );
    }

    /// Prompt 100's canonical image is another prompt's as surely as
    /// prompt 3's: a run of 101 prompts cannot have it moved to prompt 5.
    #[test]
    fn three_digit_prompt_images_are_not_movable() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for name in [
            "prompt_100.png",
            "prompt_03.png",
            "image_0005.png",
            "prompt_005.png",
        ] {
            std::fs::write(tmp.path().join(name), b"png").expect("img");
        }
        assert!(!movable(tmp.path(), "prompt_100.png"));
        assert!(!movable(tmp.path(), "prompt_03.png"));
        assert!(movable(tmp.path(), "image_0005.png"));
        assert!(
            movable(tmp.path(), "prompt_005.png"),
            "no prompt's canonical name"
        );
    }

    /// A backend naming compat's own files (or another prompt's image) as
    /// its image moves none of them.
    #[test]
    fn compats_files_are_never_moved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join(results::RESULTS),
            "{\"prompt\": 0, \"image\": \"batch_generation.log\", \"seconds\": 1.0, \"ok\": true}\n\
             {\"prompt\": 1, \"image\": \"results.jsonl\", \"seconds\": 1.0, \"ok\": true}\n\
             {\"prompt\": 2, \"image\": \"prompt_03.png\", \"seconds\": 1.0, \"ok\": true}\n",
        )
        .expect("jsonl");
        std::fs::write(d.join(results::LOG), b"the log").expect("log");
        std::fs::write(d.join("prompt_03.png"), b"png3").expect("img");
        let c = collect(d, 4).expect("collects");
        assert_eq!(
            std::fs::read(d.join(results::LOG)).expect("log"),
            b"the log"
        );
        assert!(d.join(results::RESULTS).is_file());
        assert_eq!(
            std::fs::read(d.join("prompt_03.png")).expect("img"),
            b"png3"
        );
        assert!(!d.join("prompt_00.png").exists() && !d.join("prompt_02.png").exists());
        assert_eq!(c.ok, 1);
    }

    #[test]
    fn collect_from_log_only_backend() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join(results::LOG),
            "Generation time for prompt 1: 1.5 seconds\n  Prompt 3: 2.0 seconds\n",
        )
        .expect("log");
        std::fs::write(d.join("image_0000.png"), b"png0").expect("img");
        std::fs::write(d.join("image_0002.png"), b"png2").expect("img");
        let c = collect(d, 3).expect("collects");
        assert_eq!(c.ok, 2);
        assert_eq!(c.missing.len(), 1);
        assert_eq!(c.missing[0].0, 1);
        assert_eq!(
            std::fs::read(d.join("prompt_02.png")).expect("renamed"),
            b"png2"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("prompt_01.exitcode")).expect("code"),
            "1\n"
        );
        assert_eq!(c.records.prompts[&2].seconds, Some(2.0));
        assert!(d.join(results::RESULTS).is_file());
    }

    /// The real batch script's log (compatibility/batch_text_to_image.py,
    /// B:361-438 at 7bd8f25f) with prompt 2 making no image: the saved-image
    /// counter skips it, so image_0001.png is prompt 3's.
    #[test]
    fn a_prompt_without_an_image_shifts_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join(results::LOG),
            crate::results::batch_log::tests::MISSING_PROMPT_2,
        )
        .expect("log");
        for n in 0..3 {
            std::fs::write(d.join(format!("image_{n:04}.png")), format!("png{n}")).expect("img");
        }
        let c = collect(d, 4).expect("collects");
        assert_eq!(c.ok, 3);
        assert_eq!(c.missing.len(), 1);
        assert_eq!(c.missing[0].0, 1);
        assert!(
            c.missing[0].1.contains("No images found for prompt 2"),
            "{:?}",
            c.missing
        );
        let read = |i: usize| std::fs::read_to_string(d.join(results::prompt_image(i))).ok();
        assert_eq!(read(0).as_deref(), Some("png0"));
        assert_eq!(read(1), None);
        assert_eq!(read(2).as_deref(), Some("png1"));
        assert_eq!(read(3).as_deref(), Some("png2"));
        assert_eq!(c.records.prompts[&3].seconds, Some(1.0));
        assert_eq!(c.records.prompts[&1].seconds, Some(0.25));
    }

    /// A log-only backend (the original's batch script) that died on its
    /// fourth prompt with a traceback and exit code 1: the three images it
    /// saved are its prompts' images; the fourth names the exception; the
    /// fifth was never run.
    #[test]
    fn a_crashed_log_only_backend_keeps_its_images_and_names_the_prompt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let mut log = String::new();
        for i in 1..=3 {
            log.push_str(&format!(
                "Processing prompt {i}/5\nGeneration time for prompt {i}: 1.0 seconds\n\
                 Saved image to {}/image_{:04}.png\n",
                d.display(),
                i - 1
            ));
            std::fs::write(d.join(format!("image_{:04}.png", i - 1)), b"png").expect("img");
        }
        log.push_str(
            "Processing prompt 4/5\nTraceback (most recent call last):\n  File \"b.py\", line 1\n\
             RuntimeError: CUDA error: out of memory\n",
        );
        std::fs::write(d.join(results::LOG), log).expect("log");
        std::fs::write(d.join(results::EXITCODE), "1\n").expect("rc");
        let c = collect(d, 5).expect("collects");
        assert_eq!(c.ok, 3);
        assert!(d.join(results::prompt_image(2)).is_file());
        assert_eq!(c.missing[0].0, 3);
        assert!(
            c.missing[0]
                .1
                .contains("crashed on it: RuntimeError: CUDA error"),
            "{:?}",
            c.missing
        );
        assert!(
            c.missing[1].1.contains("never run") && c.missing[1].1.contains("prompt 3"),
            "{:?}",
            c.missing
        );
    }

    #[test]
    fn without_saved_lines_a_gap_is_not_guessed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join(results::LOG),
            "Generation time for prompt 1: 1.0 seconds\nGeneration time for prompt 2: 1.0 seconds\nGeneration time for prompt 3: 1.0 seconds\n",
        )
        .expect("log");
        for n in 0..2 {
            std::fs::write(d.join(format!("image_{n:04}.png")), b"png").expect("img");
        }
        let c = collect(d, 3).expect("collects");
        assert_eq!(c.ok, 0);
        assert!(
            c.missing[0].1.contains("cannot tell which prompt"),
            "{:?}",
            c.missing
        );
        assert!(!d.join(results::prompt_image(0)).exists());
    }
}
