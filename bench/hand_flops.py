"""GEMM FLOPs per call counted by hand from the layer shapes: the cross-check of bench/flops.json's profiler counts.

Counts what the profiler counts (2*M*N*K per matrix product, 2 * output elements * Cin * kh * kw per convolution),
layer by layer from the architectures' shapes, independently of any model code. Elementwise, normalisation and
softmax work is left out on both sides, so the two counts must agree to the last FLOP.
Usage: python3 bench/hand_flops.py [NAME...]   (default: all; prints one JSON line per workload)
"""
import json
import sys


def conv(cin, cout, k, hw_out, batch=1):
    return 2 * batch * hw_out * cout * cin * k * k


def linear(rows, cin, cout):
    return 2 * rows * cin * cout


def attention(b, n, m, dim, ctx_dim):
    """q from n tokens, k and v from m tokens (ctx_dim wide), q.k^T and w.v over all heads, output projection."""
    return (linear(b * n, dim, dim) + 2 * linear(b * m, ctx_dim, dim) + 2 * 2 * b * n * m * dim
            + linear(b * n, dim, dim))


def resnet(b, cin, cout, hw, temb_ch):
    f = conv(cin, cout, 3, hw, b) + conv(cout, cout, 3, hw, b)
    f += linear(b, temb_ch, cout) if temb_ch else 0
    return f + (conv(cin, cout, 1, hw, b) if cin != cout else 0)


def transformer(b, c, hw, ctx_tokens, ctx_dim):
    """Spatial transformer with 1x1 proj_in/proj_out, self-attention, cross-attention, GEGLU feed-forward."""
    n = hw
    f = 2 * conv(c, c, 1, hw, b)
    f += attention(b, n, n, c, c) + attention(b, n, ctx_tokens, c, ctx_dim)
    return f + linear(b * n, c, 8 * c) + linear(b * n, 4 * c, c)


def unet(b=2, size=64, cin=4, cout=4, ch=(320, 640, 1280, 1280), layers=2, ctx_tokens=257, ctx_dim=768,
         attn_levels=(True, True, True, False)):
    temb = 4 * ch[0]
    f = linear(b, ch[0], temb) + linear(b, temb, temb) + conv(cin, ch[0], 3, size * size, b)
    skips, res, c = [ch[0]], size, ch[0]
    for i, co in enumerate(ch):
        for _ in range(layers):
            f += resnet(b, c, co, res * res, temb)
            c = co
            f += transformer(b, c, res * res, ctx_tokens, ctx_dim) if attn_levels[i] else 0
            skips.append(c)
        if i < len(ch) - 1:
            res //= 2
            f += conv(c, c, 3, res * res, b)
            skips.append(c)
    f += 2 * resnet(b, c, c, res * res, temb) + transformer(b, c, res * res, ctx_tokens, ctx_dim)
    for i, co in enumerate(reversed(ch)):
        for _ in range(layers + 1):
            f += resnet(b, c + skips.pop(), co, res * res, temb)
            c = co
            f += transformer(b, c, res * res, ctx_tokens, ctx_dim) if attn_levels[len(ch) - 1 - i] else 0
        if i < len(ch) - 1:
            res *= 2
            f += conv(c, c, 3, res * res, b)
    return f + conv(ch[0], cout, 3, size * size, b)


def vae_decode(latent=4, size=64, ch=(128, 256, 512, 512), layers=2, out=3):
    f = conv(latent, latent, 1, size * size) + conv(latent, ch[-1], 3, size * size)
    c, res = ch[-1], size
    f += 2 * resnet(1, c, c, res * res, 0) + attention(1, res * res, res * res, c, c)  # mid block, one head
    for i, co in enumerate(reversed(ch)):
        for _ in range(layers + 1):
            f += resnet(1, c, co, res * res, 0)
            c = co
        if i < len(ch) - 1:
            res *= 2
            f += conv(c, c, 3, res * res)
    return f + conv(ch[0], out, 3, res * res)


def clip_vit(batch, width, mlp, layers, patch, proj, size=224):
    tokens = (size // patch) ** 2 + 1
    f = conv(3, width, patch, tokens - 1)  # patch embedding (stride = kernel)
    f += layers * (attention(1, tokens, tokens, width, width) + linear(tokens, width, mlp) + linear(tokens, mlp, width))
    # image embedding (pooled token) and VD tokens (every token), both through the visual projection
    return batch * (f + linear(1, width, proj) + linear(tokens, width, proj))


WORKLOADS = {
    "clip_vit_b16_224": lambda: clip_vit(8, 768, 3072, 12, 16, 512),
    "clip_vit_l14_224": lambda: clip_vit(8, 1024, 4096, 24, 14, 768),
    "unet_step_vd": lambda: unet(),
    "unet_vd16_b2": lambda: unet(size=16, cin=3, cout=3),
    "vae_decode_512": lambda: vae_decode(),
}

if __name__ == "__main__":
    for name in sys.argv[1:] or WORKLOADS:
        print(json.dumps({"name": name, "flops": WORKLOADS[name](), "counted": "by hand from the shapes"}))
