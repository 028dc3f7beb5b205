//! Step caches: when to skip transformer work. Only the decision rules live
//! here (pure functions of a few numbers, unit-tested on synthetic sequences);
//! the forward pass (`dit.rs`) measures the inputs and reuses the residuals.

/// `--cache-backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    TeaCache,
    CacheDit,
}

impl std::str::FromStr for CacheBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tea_cache" | "teacache" => Ok(CacheBackend::TeaCache),
            "cache_dit" | "cachedit" | "dbcache" => Ok(CacheBackend::CacheDit),
            other => Err(format!(
                "unknown cache backend {other:?} (expected tea_cache or cache_dit)"
            )),
        }
    }
}

/// TeaCache (Liu et al. 2024): accumulate the rescaled relative L1 change of
/// the first block's modulated input; while the sum stays under the threshold,
/// skip the transformer and reuse the cached residual. The first and last
/// steps are always computed.
#[derive(Debug, Clone)]
pub struct TeaCache {
    pub threshold: f64,
    /// Rescaling polynomial, highest power first (numpy.poly1d order), fitted
    /// for this model: relative change of the modulated input → relative
    /// change of the transformer's output residual. See `README.md`.
    pub coefficients: Vec<f64>,
    accumulated: f64,
}

/// vLLM-Omni's default threshold.
pub const TEACACHE_THRESHOLD: f64 = 0.2;
/// Fitted on this model by least squares through the origin (see the README:
/// `--tea-cache-threshold 0` computes every step and logs both changes): the
/// blocks' output residual changes about 1.46× as fast as the modulated input.
pub const TEACACHE_COEFFICIENTS: [f64; 2] = [1.46, 0.0];

impl Default for TeaCache {
    fn default() -> Self {
        TeaCache {
            threshold: TEACACHE_THRESHOLD,
            coefficients: TEACACHE_COEFFICIENTS.to_vec(),
            accumulated: 0.0,
        }
    }
}

impl TeaCache {
    fn rescale(&self, x: f64) -> f64 {
        self.coefficients.iter().fold(0.0, |acc, c| acc * x + c)
    }

    /// Whether step `step` of `steps` must run the transformer, given the
    /// relative L1 change of the modulated input since the previous step.
    pub fn should_compute(&mut self, step: usize, steps: usize, rel_l1: f64) -> bool {
        if step == 0 || step + 1 == steps {
            self.accumulated = 0.0;
            return true;
        }
        self.accumulated += self.rescale(rel_l1);
        if self.accumulated < self.threshold {
            false
        } else {
            self.accumulated = 0.0;
            true
        }
    }
}

/// DBCache (Cache-DiT's dual-block cache) with vLLM-Omni's defaults: compute
/// the first `Fn` blocks every step; after the warm-up, if their residual
/// differs from the one at the last fully computed step by less than the
/// threshold (relative L1), skip the remaining blocks and reuse their cached
/// residual — at most `max_continuous` steps in a row. `Bn` = 0 trailing blocks.
#[derive(Debug, Clone)]
pub struct DbCache {
    /// `Fn`: blocks always computed.
    pub compute_blocks: usize,
    pub warmup_steps: usize,
    pub threshold: f64,
    pub max_continuous: usize,
    continuous: usize,
}

impl Default for DbCache {
    fn default() -> Self {
        DbCache {
            compute_blocks: 1,
            warmup_steps: 4,
            threshold: 0.24,
            max_continuous: 3,
            continuous: 0,
        }
    }
}

impl DbCache {
    /// Whether step `step` may reuse the cached residual of the later blocks,
    /// given the relative L1 difference of the first blocks' residual.
    pub fn use_cache(&mut self, step: usize, residual_diff: f64) -> bool {
        let ok = step >= self.warmup_steps
            && residual_diff < self.threshold
            && self.continuous < self.max_continuous;
        self.continuous = if ok { self.continuous + 1 } else { 0 };
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teacache_accumulates_until_threshold_and_pins_ends() {
        let mut tc = TeaCache {
            threshold: 0.2,
            coefficients: vec![1.0, 0.0],
            accumulated: 0.0,
        };
        let decisions: Vec<bool> = (0..8).map(|s| tc.should_compute(s, 8, 0.08)).collect();
        // 0.08, 0.16 → skip, skip; 0.24 → compute; again; last step pinned.
        assert_eq!(
            decisions,
            vec![true, false, false, true, false, false, true, true]
        );
        let mut tc = TeaCache::default();
        assert!(tc.should_compute(1, 20, 1.0), "a large change computes");
    }

    #[test]
    fn dbcache_respects_warmup_threshold_and_run_length() {
        let mut db = DbCache::default();
        let decisions: Vec<bool> = (0..12).map(|s| db.use_cache(s, 0.1)).collect();
        let want = [
            false, false, false, false, true, true, true, false, true, true, true, false,
        ];
        assert_eq!(decisions, want);
        let mut db = DbCache::default();
        assert!(!db.use_cache(6, 0.3), "above the threshold computes");
    }
}
