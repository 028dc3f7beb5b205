#!/usr/bin/env python3
"""Independent SSIM reference values for tests/analyze.rs (pure Python, no numpy).

Wang et al. 2004 as in ssim_index.m: 11x11 Gaussian window (sigma 1.5,
normalised to sum 1), C1 = (0.01*L)^2, C2 = (0.03*L)^2 with L = 1, the
windows wholly inside the image ('valid'), mean of the SSIM map. The direct
2-D window sum (not separable) so it shares no code shape with the Rust one.
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


def ssim(fx, fy):
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


if __name__ == "__main__":
    print("a_b", repr(ssim(plane_a, plane_b)))
    print("c_d", repr(ssim(plane_c, plane_d)))
    print("a_a", repr(ssim(plane_a, plane_a)))
