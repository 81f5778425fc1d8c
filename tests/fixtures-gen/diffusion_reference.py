"""Independent float64 reference for UNet2DConditionModel / AutoencoderKL shapes the shared goldens do not cover.

diffusers is not installed here, so this is a from-scratch torch.nn.functional implementation of the documented
reference behaviour (tests/BrainMClip.Tests/Fixtures/golden/diffusion-tiny/README.md): the same state-dict keys, config.json fields and maths.
It writes, per case, a diffusers-style folder (config.json + model.safetensors, float32 weights drawn like the goldens)
and golden.safetensors (inputs + float64-computed outputs stored as float32) under
tests/BrainMClip.Tests/Fixtures/diffusion/<case>/.

Cases: three levels, two layers per block, per-level head list, odd non-square input (10x14 -> 5x7 -> 3x4, which
needs diffusers' forward_upsample_size); linear projections with two transformer layers per block, per-level
layers_per_block, flip_sin_to_cos false and freq_shift 1 on a non-square 8x12 input; a three-level VAE with two
layers per block on non-square latents, saved with the legacy attention key names (query/key/value/proj_attn) and
1x1-conv-shaped attention weights.

Run: /usr/bin/python3 tests/fixtures-gen/diffusion_reference.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from diffusion_common import save_safetensors

ROOT = os.path.join(os.path.dirname(__file__), "..", "BrainMClip.Tests", "Fixtures", "diffusion")


class Params:
    """Creates each parameter on first use (deterministic order), drawn as the golden README describes."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.d = {}

    def get(self, name, shape, kind):
        if name not in self.d:
            if kind == "w":
                fan_in = int(torch.tensor(shape[1:]).prod()) if len(shape) > 1 else shape[0]
                t = torch.randn(shape, generator=self.g) * math.sqrt(1.0 / fan_in)
            elif kind == "b":
                t = (torch.rand(shape, generator=self.g) - 0.5) * 0.2 + torch.randn(shape, generator=self.g) * 0.05
            elif kind == "nw":
                t = 1 + torch.randn(shape, generator=self.g) * 0.05
            else:  # norm bias
                t = torch.randn(shape, generator=self.g) * 0.05
            self.d[name] = t.float()
        return self.d[name].double()


def conv(p, name, x, cin, cout, k, stride=1, pad=0):
    return F.conv2d(x, p.get(name + ".weight", (cout, cin, k, k), "w"), p.get(name + ".bias", (cout,), "b"), stride, pad)


def linear(p, name, x, cin, cout, bias=True):
    return F.linear(x, p.get(name + ".weight", (cout, cin), "w"), p.get(name + ".bias", (cout,), "b") if bias else None)


def gn(p, name, x, groups, eps):
    c = x.shape[1]
    return F.group_norm(x, groups, p.get(name + ".weight", (c,), "nw"), p.get(name + ".bias", (c,), "nb"), eps)


def ln(p, name, x):
    c = x.shape[-1]
    return F.layer_norm(x, (c,), p.get(name + ".weight", (c,), "nw"), p.get(name + ".bias", (c,), "nb"), 1e-5)


def resnet(p, name, x, temb, cin, cout, groups, eps, temb_ch):
    h = conv(p, name + ".conv1", F.silu(gn(p, name + ".norm1", x, groups, eps)), cin, cout, 3, pad=1)
    if temb is not None:
        h = h + linear(p, name + ".time_emb_proj", F.silu(temb), temb_ch, cout)[:, :, None, None]
    h = conv(p, name + ".conv2", F.silu(gn(p, name + ".norm2", h, groups, eps)), cout, cout, 3, pad=1)
    if cin != cout:
        x = conv(p, name + ".conv_shortcut", x, cin, cout, 1)
    return x + h


def attention(p, name, x, ctx, heads, dim, ctx_dim):
    ctx = x if ctx is None else ctx
    q = linear(p, name + ".to_q", x, dim, dim, bias=False)
    k = linear(p, name + ".to_k", ctx, ctx_dim, dim, bias=False)
    v = linear(p, name + ".to_v", ctx, ctx_dim, dim, bias=False)
    b, n, _ = q.shape
    m = k.shape[1]
    d = dim // heads
    q = q.view(b, n, heads, d).transpose(1, 2)
    k = k.view(b, m, heads, d).transpose(1, 2)
    v = v.view(b, m, heads, d).transpose(1, 2)
    w = ((q @ k.transpose(-1, -2)) * d ** -0.5).softmax(-1)
    o = (w @ v).transpose(1, 2).reshape(b, n, dim)
    return linear(p, name + ".to_out.0", o, dim, dim)


def transformer(p, name, x, ctx, heads, groups, cross_dim, linear_proj, layers):
    b, c, hh, ww = x.shape
    h = gn(p, name + ".norm", x, groups, 1e-6)
    if linear_proj:
        h = linear(p, name + ".proj_in", h.permute(0, 2, 3, 1).reshape(b, hh * ww, c), c, c)
    else:
        h = conv(p, name + ".proj_in", h, c, c, 1).permute(0, 2, 3, 1).reshape(b, hh * ww, c)
    for i in range(layers):
        bn = f"{name}.transformer_blocks.{i}"
        h = attention(p, bn + ".attn1", ln(p, bn + ".norm1", h), None, heads, c, c) + h
        h = attention(p, bn + ".attn2", ln(p, bn + ".norm2", h), ctx, heads, c, cross_dim) + h
        a, g = linear(p, bn + ".ff.net.0.proj", ln(p, bn + ".norm3", h), c, 8 * c).chunk(2, -1)
        h = linear(p, bn + ".ff.net.2", a * F.gelu(g), 4 * c, c) + h
    if linear_proj:
        h = linear(p, name + ".proj_out", h, c, c).reshape(b, hh, ww, c).permute(0, 3, 1, 2)
    else:
        h = conv(p, name + ".proj_out", h.reshape(b, hh, ww, c).permute(0, 3, 1, 2), c, c, 1)
    return h + x


def as_list(v, n):
    return list(v) if isinstance(v, list) else [v] * n


def unet(p, cfg, sample, t, ctx):
    ch = cfg["block_out_channels"]
    n = len(ch)
    heads = as_list(cfg["attention_head_dim"], n)
    lpb = as_list(cfg["layers_per_block"], n)
    tl = as_list(cfg.get("transformer_layers_per_block", 1), n)
    groups, eps, cross = cfg["norm_num_groups"], cfg["norm_eps"], cfg["cross_attention_dim"]
    lin = cfg.get("use_linear_projection", False)
    temb_ch = ch[0] * 4
    # timestep embedding (float32 sinusoid as diffusers, then float64 MLP)
    half = ch[0] // 2
    expo = -math.log(10000) * torch.arange(half, dtype=torch.float32) / (half - cfg["freq_shift"])
    emb = t.float()[:, None] * torch.exp(expo)[None]
    emb = torch.cat([emb.sin(), emb.cos()], -1)
    if cfg["flip_sin_to_cos"]:
        emb = torch.cat([emb[:, half:], emb[:, :half]], -1)
    emb = emb.double()
    temb = linear(p, "time_embedding.linear_2", F.silu(linear(p, "time_embedding.linear_1", emb, ch[0], temb_ch)), temb_ch, temb_ch)
    h = conv(p, "conv_in", sample, cfg["in_channels"], ch[0], 3, pad=1)
    skips = [h]
    out_ch = ch[0]
    for i, typ in enumerate(cfg["down_block_types"]):
        in_ch, out_ch = out_ch, ch[i]
        for j in range(lpb[i]):
            h = resnet(p, f"down_blocks.{i}.resnets.{j}", h, temb, in_ch if j == 0 else out_ch, out_ch, groups, eps, temb_ch)
            if typ == "CrossAttnDownBlock2D":
                h = transformer(p, f"down_blocks.{i}.attentions.{j}", h, ctx, heads[i], groups, cross, lin, tl[i])
            skips.append(h)
        if i < n - 1:
            h = conv(p, f"down_blocks.{i}.downsamplers.0.conv", h, out_ch, out_ch, 3, stride=2, pad=1)
            skips.append(h)
    h = resnet(p, "mid_block.resnets.0", h, temb, ch[-1], ch[-1], groups, eps, temb_ch)
    h = transformer(p, "mid_block.attentions.0", h, ctx, heads[-1], groups, cross, lin, tl[-1])
    h = resnet(p, "mid_block.resnets.1", h, temb, ch[-1], ch[-1], groups, eps, temb_ch)
    rch, rheads, rl, rtl = ch[::-1], heads[::-1], lpb[::-1], tl[::-1]
    out_ch = rch[0]
    for i, typ in enumerate(cfg["up_block_types"]):
        prev, out_ch = out_ch, rch[i]
        in_ch = rch[min(i + 1, n - 1)]
        layers = rl[i] + 1
        for j in range(layers):
            skip = skips.pop()
            skip_ch = in_ch if j == layers - 1 else out_ch
            res_in = prev if j == 0 else out_ch
            h = resnet(p, f"up_blocks.{i}.resnets.{j}", torch.cat([h, skip], 1), temb, res_in + skip_ch, out_ch, groups, eps, temb_ch)
            if typ == "CrossAttnUpBlock2D":
                h = transformer(p, f"up_blocks.{i}.attentions.{j}", h, ctx, rheads[i], groups, cross, lin, rtl[i])
        if i < n - 1:
            # nearest upsampling to the next skip's size (diffusers' forward_upsample_size for odd sizes; 2x otherwise)
            h = F.interpolate(h, size=skips[-1].shape[2:], mode="nearest")
            h = conv(p, f"up_blocks.{i}.upsamplers.0.conv", h, out_ch, out_ch, 3, pad=1)
    h = conv(p, "conv_out", F.silu(gn(p, "conv_norm_out", h, groups, eps)), ch[0], cfg["out_channels"], 3, pad=1)
    return h


def vae_attention(p, name, x, groups):
    b, c, hh, ww = x.shape
    h = gn(p, name + ".group_norm", x, groups, 1e-6).view(b, c, hh * ww).transpose(1, 2)
    q = linear(p, name + ".to_q", h, c, c)
    k = linear(p, name + ".to_k", h, c, c)
    v = linear(p, name + ".to_v", h, c, c)
    w = ((q @ k.transpose(-1, -2)) * c ** -0.5).softmax(-1)
    o = linear(p, name + ".to_out.0", w @ v, c, c)
    return o.transpose(1, 2).reshape(b, c, hh, ww) + x


def vae_mid(p, name, x, c, groups):
    x = resnet(p, name + ".resnets.0", x, None, c, c, groups, 1e-6, None)
    x = vae_attention(p, name + ".attentions.0", x, groups)
    return resnet(p, name + ".resnets.1", x, None, c, c, groups, 1e-6, None)


def vae_decode(p, cfg, z):
    ch, groups, L = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"]
    z = conv(p, "post_quant_conv", z, cfg["latent_channels"], cfg["latent_channels"], 1)
    rch = ch[::-1]
    h = conv(p, "decoder.conv_in", z, cfg["latent_channels"], rch[0], 3, pad=1)
    h = vae_mid(p, "decoder.mid_block", h, rch[0], groups)
    out_ch = rch[0]
    for i in range(len(ch)):
        prev, out_ch = out_ch, rch[i]
        for j in range(L + 1):
            h = resnet(p, f"decoder.up_blocks.{i}.resnets.{j}", h, None, prev if j == 0 else out_ch, out_ch, groups, 1e-6, None)
        if i < len(ch) - 1:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = conv(p, f"decoder.up_blocks.{i}.upsamplers.0.conv", h, out_ch, out_ch, 3, pad=1)
    h = F.silu(gn(p, "decoder.conv_norm_out", h, groups, 1e-6))
    return conv(p, "decoder.conv_out", h, ch[0], cfg["out_channels"], 3, pad=1)


def vae_encode(p, cfg, x):
    ch, groups, L = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"]
    h = conv(p, "encoder.conv_in", x, cfg["in_channels"], ch[0], 3, pad=1)
    out_ch = ch[0]
    for i in range(len(ch)):
        in_ch, out_ch = out_ch, ch[i]
        for j in range(L):
            h = resnet(p, f"encoder.down_blocks.{i}.resnets.{j}", h, None, in_ch if j == 0 else out_ch, out_ch, groups, 1e-6, None)
        if i < len(ch) - 1:
            h = conv(p, f"encoder.down_blocks.{i}.downsamplers.0.conv", F.pad(h, (0, 1, 0, 1)), out_ch, out_ch, 3, stride=2)
    h = vae_mid(p, "encoder.mid_block", h, ch[-1], groups)
    h = conv(p, "encoder.conv_out", F.silu(gn(p, "encoder.conv_norm_out", h, groups, 1e-6)), ch[-1], 2 * cfg["latent_channels"], 3, pad=1)
    m = conv(p, "quant_conv", h, 2 * cfg["latent_channels"], 2 * cfg["latent_channels"], 1)
    mean, logvar = m.chunk(2, 1)
    return mean, logvar.clamp(-30, 20)


def write_case(name, cfg, weights, golden):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    save_safetensors(os.path.join(d, "model.safetensors"), weights)
    save_safetensors(os.path.join(d, "golden.safetensors"), {k: v.float() if v.is_floating_point() else v for k, v in golden.items()})
    print(name, len(weights), "tensors", sum(v.numel() for v in weights.values()), "parameters")


UNET_BASE = {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "center_input_sample": False,
             "class_embed_type": None, "downsample_padding": 1, "mid_block_type": "UNetMidBlock2DCrossAttn",
             "norm_eps": 1e-5, "upcast_attention": False, "only_cross_attention": False, "dual_cross_attention": False,
             "time_embedding_type": "positional", "resnet_time_scale_shift": "default", "mid_block_scale_factor": 1,
             "sample_size": 8, "in_channels": 4, "out_channels": 4}


def unet_case(name, cfg, shape, timesteps, tokens, seed):
    g = torch.Generator().manual_seed(seed + 100)
    sample = torch.randn(shape, generator=g)
    ctx = torch.randn(shape[0], tokens, cfg["cross_attention_dim"], generator=g)
    t = torch.tensor(timesteps, dtype=torch.int64)
    p = Params(seed)
    out = unet(p, cfg, sample.double(), t, ctx.double())
    write_case(name, cfg, p.d, {"sample": sample, "timestep": t, "encoder_hidden_states": ctx, "noise_pred": out})


def main():
    torch.set_grad_enabled(False)
    unet_case("unet-3level", dict(UNET_BASE, block_out_channels=[8, 16, 16], layers_per_block=2, norm_num_groups=4,
                                  attention_head_dim=[2, 2, 4], cross_attention_dim=12, flip_sin_to_cos=True, freq_shift=0,
                                  down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                                  up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
                                  use_linear_projection=False, transformer_layers_per_block=1),
              (2, 4, 10, 14), [999, 37], 3, seed=11)
    unet_case("unet-linear", dict(UNET_BASE, block_out_channels=[8, 16], layers_per_block=[1, 2], norm_num_groups=4,
                                  attention_head_dim=2, cross_attention_dim=6, flip_sin_to_cos=False, freq_shift=1,
                                  down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                                  up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
                                  use_linear_projection=True, transformer_layers_per_block=2, in_channels=3, out_channels=3),
              (1, 3, 8, 12), [250], 4, seed=12)
    # VAE: three levels, two layers per block, non-square latents 5x7 -> image 20x28; legacy attention keys.
    cfg = {"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [8, 16, 16],
           "down_block_types": ["DownEncoderBlock2D"] * 3, "up_block_types": ["UpDecoderBlock2D"] * 3,
           "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 4,
           "sample_size": 32, "scaling_factor": 0.13025}
    g = torch.Generator().manual_seed(113)
    z = torch.randn(1, 4, 5, 7, generator=g)
    x = torch.randn(1, 3, 20, 28, generator=g).clamp(-1, 1)
    p = Params(13)
    image = vae_decode(p, cfg, z.double())
    mean, logvar = vae_encode(p, cfg, x.double())
    legacy = {}
    for k, v in p.d.items():
        for new, old in ((".to_q.", ".query."), (".to_k.", ".key."), (".to_v.", ".value."), (".to_out.0.", ".proj_attn.")):
            if ".mid_block.attentions.0" in k and new in k:
                k = k.replace(new, old)
                if k.endswith(".weight"):
                    v = v[:, :, None, None].contiguous()
        legacy[k] = v
    write_case("vae-3level-legacy", cfg, legacy, {"latents": z, "image": image, "image_01": (image / 2 + 0.5).clamp(0, 1),
                                                  "encode_image": x, "encode_mean": mean, "encode_logvar": logvar})


if __name__ == "__main__":
    main()
