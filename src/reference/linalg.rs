//! Dense kernels on row-major `f32` slices. Every matrix product goes through
//! `matrixmultiply::sgemm` (single-threaded: each worker is one "device", one
//! core); the element-wise kernels are written so the compiler vectorises them.

/// `out[m×n] = alpha · a[m×k] · b[k×n] (+ beta · out)`, all row-major.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    b: &[f32],
    beta: f32,
    out: &mut [f32],
) {
    gemm_strided(m, k, n, alpha, a, (k, 1), b, (n, 1), beta, out);
}

/// Like [`gemm`], with explicit (row, column) strides for `a` and `b`; a
/// transposed operand is just swapped strides, no copy.
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    a_strides: (usize, usize),
    b: &[f32],
    b_strides: (usize, usize),
    beta: f32,
    out: &mut [f32],
) {
    assert!(out.len() >= m * n, "gemm output too small");
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, (rs, cs): (usize, usize)| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(a.len() >= last(m, k, a_strides), "gemm lhs too small");
    assert!(b.len() >= last(k, n, b_strides), "gemm rhs too small");
    // SAFETY: the asserts above keep every index sgemm touches inside the
    // slices: a is m×k with the given strides, b is k×n, out is m×n dense.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            a_strides.0 as isize,
            a_strides.1 as isize,
            b.as_ptr(),
            b_strides.0 as isize,
            b_strides.1 as isize,
            beta,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `x[m×k] · w[k×n] + bias` as a new matrix.
pub fn linear(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    n: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    gemm(m, k, n, 1.0, x, w, 0.0, &mut out);
    if let Some(b) = bias {
        add_row_bias(&mut out, b);
    }
    out
}

pub fn add_row_bias(out: &mut [f32], bias: &[f32]) {
    for row in out.chunks_exact_mut(bias.len()) {
        for (o, b) in row.iter_mut().zip(bias) {
            *o += b;
        }
    }
}

/// LayerNorm without affine parameters (adaLN supplies scale and shift),
/// then `· (1 + scale) + shift`: the adaLN "modulate".
pub fn layernorm_modulate(x: &[f32], dim: usize, shift: &[f32], scale: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for (row, o) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let mean = row.iter().sum::<f32>() / dim as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / dim as f32;
        let inv = 1.0 / (var + 1e-6).sqrt();
        for i in 0..dim {
            o[i] = (row[i] - mean) * inv * (1.0 + scale[i]) + shift[i];
        }
    }
    out
}

pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GELU, tanh approximation (as in DiT's MLP).
pub fn gelu_inplace(xs: &mut [f32]) {
    const C: f32 = 0.797_884_6; // sqrt(2/pi)
    for x in xs.iter_mut() {
        let v = *x;
        let u = C * (v + 0.044_715 * v * v * v);
        // tanh(u) = 1 - 2 / (exp(2u) + 1), through the vectorisable exp.
        let t = 1.0 - 2.0 / (fast_exp(2.0 * u) + 1.0);
        *x = 0.5 * v * (1.0 + t);
    }
}

/// `exp` to ~2 ulp for the attention softmax and GELU: range reduction to
/// 2^n · e^r with |r| ≤ ln2/2 and a degree-6 polynomial. Branch-free, so loops
/// over it vectorise; std's `exp` does not and would cost as much as the GEMMs.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round();
    // Cody–Waite: ln2 split in two so r keeps its low bits.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    let bits = ((n as i32 + 127) as u32) << 23;
    p * f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_matches_std() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let rel = (fast_exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-6, "x={x} rel={rel}");
            x += 0.173;
        }
    }

    #[test]
    fn gemm_matches_naive_and_transposed_strides() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let out = linear(&a, m, k, &b, n, None);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert!((out[i * n + j] - want).abs() < 1e-5);
            }
        }
        // b stored transposed (n×k), read through swapped strides.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let mut out2 = vec![0.0; m * n];
        gemm_strided(m, k, n, 1.0, &a, (k, 1), &bt, (1, k), 0.0, &mut out2);
        assert_eq!(out, out2);
    }
}
