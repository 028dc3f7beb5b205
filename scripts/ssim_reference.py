#!/usr/bin/env python3
"""Independent SSIM reference values for tests/analyze.rs (pure Python, no numpy).

Wang et al. 2004 as in ssim_index.m: 11x11 Gaussian window (sigma 1.5,
normalised to sum 1), C1 = (0.01*L)^2, C2 = (0.03*L)^2 with L = 1, the
windows wholly inside the image ('valid'), mean of the SSIM map. The direct
2-D window sum (not separable) so it shares no code shape with the Rust one.

Large images are first downsampled as piq.ssim(downsample=True) does:
f = max(1, round(min(H, W) / 256)) with Python's round (halves to even;
MATLAB's ssim.m rounds them away from zero), then the mean of each whole
f x f block (avg_pool2d: trailing rows/columns that fill no block are dropped).
Here on 8-bit RGB: BT.601 luma per pixel in 0..1, then the block means.
"""
import math

W, H = 32, 24


def plane_a(i, j):
    return ((i * 7 + j * 3) % 17) / 16.0


def plane_b(i, j):
    return min(1.0, max(0.0, plane_a(i, j) * 0.8 + 0.1 + 0.05 * math.sin(i * 0.7 + j * 0.3)))


def plane_c(i, j):
    return (i * W + j) / (W * H - 1)


def plane_d(i, j):
    return 1.0 - plane_c(i, j)


def plane_e(i, j):
    """Low contrast and dark: means near 0.02, where C1 = 1e-4 is a large
    share of the luminance term's mx^2 + my^2, so a wrong C1 shows."""
    return 0.02 + 0.01 * ((i * 5 + j * 3) % 7) / 6.0


def plane_f(i, j):
    return plane_e(i, j) * 1.3 + 0.004 * math.sin(i * 0.9 - j * 0.4)


def ssim(fx, fy, W=W, H=H):
    g = [math.exp(-((k - 5) ** 2) / (2 * 1.5 ** 2)) for k in range(11)]
    s = sum(g)
    g = [v / s for v in g]
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    x = [[fx(i, j) for j in range(W)] for i in range(H)]
    y = [[fy(i, j) for j in range(W)] for i in range(H)]
    total, count = 0.0, 0
    for oi in range(H - 10):
        for oj in range(W - 10):
            mx = my = sxx = syy = sxy = 0.0
            for a in range(11):
                for b in range(11):
                    w = g[a] * g[b]
                    p, q = x[oi + a][oj + b], y[oi + a][oj + b]
                    mx += w * p
                    my += w * q
                    sxx += w * p * p
                    syy += w * q * q
                    sxy += w * p * q
            vx, vy, cxy = sxx - mx * mx, syy - my * my, sxy - mx * my
            total += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
            count += 1
    return total / count


def rgb_a(x, y):
    return ((x * 3 + y * 5) % 200 + 20, (x * y // 16) % 256, (x ^ y) & 255)


def rgb_b(x, y):
    return tuple(min(255, c + ((x // 8 + y // 4) % 5) * 6) for c in rgb_a(x, y))


def factor(w, h):
    return max(1, round(min(w, h) / 256))


def downsampled_luma(rgb, w, h):
    """The SSIM input plane of a w x h RGB image, as a function of (i, j)."""
    f = factor(w, h)
    lw, lh = w // f, h // f
    plane = []
    for bi in range(lh):
        row = []
        for bj in range(lw):
            s = 0.0
            for y in range(bi * f, (bi + 1) * f):
                for x in range(bj * f, (bj + 1) * f):
                    r, g, b = rgb(x, y)
                    s += (0.299 * r + 0.587 * g + 0.114 * b) / 255.0
            row.append(s / (f * f))
        plane.append(row)
    return (lambda i, j: plane[i][j]), lw, lh, f


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--downsampled"]:
        # 515 x 389: f = round(389 / 256) = 2, a 257 x 194 plane (the last
        # column and row fill no block and are dropped).
        pa, lw, lh, f = downsampled_luma(rgb_a, 515, 389)
        pb, _, _, _ = downsampled_luma(rgb_b, 515, 389)
        print("f", f, "plane", lw, lh)
        print("rgb_b_rgb_a_515x389", repr(ssim(pb, pa, lw, lh)))
        sys.exit(0)

    print("a_b", repr(ssim(plane_a, plane_b)))
    print("c_d", repr(ssim(plane_c, plane_d)))
    print("a_a", repr(ssim(plane_a, plane_a)))
    print("e_f", repr(ssim(plane_e, plane_f)))
