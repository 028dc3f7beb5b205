//! After a backend exits: per-prompt records from `results.jsonl`, or from the
//! original framework's log lines and `image_NNNN.png` files, and a
//! `prompt_NN.exitcode` for every prompt.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;

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
        let mut parts: Vec<String> = self
            .missing
            .iter()
            .take(3)
            .map(|(i, why)| format!("prompt {i}: {why}"))
            .collect();
        if self.missing.len() > 3 {
            parts.push(format!("and {} more", self.missing.len() - 3));
        }
        Some(format!(
            "{} of {} prompts have no image ({})",
            self.missing.len(),
            self.missing.len() + self.ok,
            parts.join("; ")
        ))
    }
}

/// Reads what the backend left in `dir` for `num_prompts` prompts.
pub fn collect(dir: &Path, num_prompts: usize) -> anyhow::Result<Collected> {
    let jsonl = dir.join(results::RESULTS);
    let mut records = if jsonl.is_file() {
        let text =
            std::fs::read(&jsonl).with_context(|| format!("failed to read {}", jsonl.display()))?;
        BatchRecords::parse_jsonl(&String::from_utf8_lossy(&text))
    } else {
        let records = from_log(dir)?;
        atomic::write(&jsonl, records.to_jsonl().as_bytes())?;
        records
    };

    // The protocol names images prompt_NN.png, but a backend that wrote
    // another name (prompt_000.png) and said so in its line is taken at its
    // word: the image is moved to the canonical name analysis reads.
    let mut renamed = false;
    for r in records.prompts.values_mut() {
        let canonical = results::prompt_image(r.prompt);
        if let Some(name) = r
            .image
            .clone()
            .filter(|n| *n != canonical && !n.contains('/'))
        {
            let (from, to) = (dir.join(&name), dir.join(&canonical));
            if from.is_file() && !to.exists() && std::fs::rename(&from, &to).is_ok() {
                r.image = Some(canonical);
                renamed = true;
            }
        }
    }
    if renamed {
        atomic::write(&jsonl, records.to_jsonl().as_bytes())?;
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
                None => "no image, no result".into(),
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

/// Records for a backend that only logged: timings from the log; images
/// `image_NNNN.png` renamed to `prompt_NN.png` by what the log says.
fn from_log(dir: &Path) -> anyhow::Result<BatchRecords> {
    let log_path = dir.join(results::LOG);
    let log = std::fs::read(&log_path).unwrap_or_default();
    let timings = results::records::parse_log_timings(&String::from_utf8_lossy(&log));

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
    let logged: BTreeSet<usize> = timings.keys().copied().collect();
    for (prompt, file) in match_images(&images, &logged) {
        let to = dir.join(results::prompt_image(prompt));
        std::fs::rename(dir.join(&file), &to)
            .with_context(|| format!("failed to rename {file} to {}", to.display()))?;
    }

    let mut records = BatchRecords::default();
    for (&prompt, &seconds) in &timings {
        let image = results::prompt_image(prompt);
        let exists = dir.join(&image).is_file();
        records.prompts.insert(
            prompt,
            PromptRecord {
                prompt,
                image: exists.then_some(image),
                seconds: Some(seconds),
                ok: exists,
                error: (!exists).then(|| "logged a time but saved no image".to_string()),
                extra: Default::default(),
            },
        );
    }
    Ok(records)
}

/// Pairs image numbers with prompts. A script numbers its images by prompt
/// (0- or 1-based) or by a counter of saved images; the log says which
/// prompts succeeded. Numbers that fit the logged prompts are taken as
/// prompt numbers, so a prompt without an image never shifts the others;
/// only when they fit neither way and the counts agree is a counter assumed.
fn match_images(
    images: &BTreeMap<usize, String>,
    logged: &BTreeSet<usize>,
) -> Vec<(usize, String)> {
    for offset in [0usize, 1] {
        let fits = images
            .keys()
            .all(|&n| n >= offset && logged.contains(&(n - offset)));
        if fits && !images.is_empty() {
            return images
                .iter()
                .map(|(&n, f)| (n - offset, f.clone()))
                .collect();
        }
    }
    if images.len() == logged.len() {
        return logged
            .iter()
            .copied()
            .zip(images.values().cloned())
            .collect();
    }
    // Ambiguous: trust the numbers as 0-based prompt indices.
    images.iter().map(|(&n, f)| (n, f.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imgs(ns: &[usize]) -> BTreeMap<usize, String> {
        ns.iter()
            .map(|&n| (n, format!("image_{n:04}.png")))
            .collect()
    }

    fn set(ns: &[usize]) -> BTreeSet<usize> {
        ns.iter().copied().collect()
    }

    fn prompts(pairs: Vec<(usize, String)>) -> Vec<(usize, usize)> {
        pairs
            .into_iter()
            .map(|(p, f)| (p, f[6..10].parse().expect("number")))
            .collect()
    }

    #[test]
    fn numbered_by_prompt_with_a_gap() {
        // Prompt 1 failed: no log line, no image_0001.
        assert_eq!(
            prompts(match_images(&imgs(&[0, 2, 3]), &set(&[0, 2, 3]))),
            [(0, 0), (2, 2), (3, 3)]
        );
    }

    #[test]
    fn numbered_one_based() {
        assert_eq!(
            prompts(match_images(&imgs(&[1, 3]), &set(&[0, 2]))),
            [(0, 1), (2, 3)]
        );
    }

    #[test]
    fn numbered_by_counter() {
        // Three saved images for prompts 0, 2, 3: a counter 0, 1, 2.
        assert_eq!(
            prompts(match_images(&imgs(&[0, 1, 2]), &set(&[0, 2, 3]))),
            [(0, 0), (2, 1), (3, 2)]
        );
    }

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
}
