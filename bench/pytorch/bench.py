"""PyTorch reference workloads for bench/run (issue 7): the same shapes, dtypes and thread count as
bench/BrainMClip.Bench, written the way a PyTorch user would (nn modules, nn.Dropout, torch.optim).

Run with Debian's /usr/bin/python3 (python3-torch 1.13):
    /usr/bin/python3 bench/pytorch/bench.py NAME [--reps N] [--warmup N] [--threads N] [--quick] [--data DIR]
    /usr/bin/python3 bench/pytorch/bench.py make-data --data DIR [--quick]
    /usr/bin/python3 bench/pytorch/bench.py flops NAME... (FLOPs per call counted from the shapes; bench/flops.json)
Prints one JSON object on stdout. The UNet and VAE reuse the functional diffusers-style reference in
tests/fixtures-gen/diffusion_reference.py (float32 weights instead of its float64 golden mode).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures-gen"))


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


def loaded_blas():
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if any(k in p for k in ("blas", "mkl", "lapack")):
                libs.add(os.path.realpath(p))
    return sorted(libs)


class Phases:
    """--phases: per phase of a step, wall and process CPU ms and the peak RSS inside it (the kernel's high-water mark
    is reset at every mark via /proc/self/clear_refs), as bench/BrainMClip.Bench/StepPhases.cs does."""

    def __init__(self, enabled=False):
        self.enabled, self.rows, self.order, self.first_peak = enabled, {}, [], None

    @staticmethod
    def _status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) // 1024
        return -1

    @staticmethod
    def _reset():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def start(self):
        if not self.enabled:
            return
        if self.first_peak is None:
            self.first_peak = self._status("VmHWM:")
        self._reset()
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def mark(self, phase):
        if not self.enabled:
            return
        wall, cpu = (time.perf_counter() - self.t0) * 1000, (time.process_time() - self.c0) * 1000
        if phase not in self.rows:
            self.order.append(phase)
            self.rows[phase] = dict(wall=[], cpu=[], peak=0, after=0)
        r = self.rows[phase]
        r["wall"].append(wall)
        r["cpu"].append(cpu)
        r["peak"] = max(r["peak"], self._status("VmHWM:"))
        r["after"] = self._status("VmRSS:")
        self._reset()
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def to_json(self):
        return {p: dict(wall_ms=median(self.rows[p]["wall"]), cpu_ms=median(self.rows[p]["cpu"]),
                        peak_rss_mb=self.rows[p]["peak"], rss_after_mb=self.rows[p]["after"]) for p in self.order}

    def process_peak(self, peak):
        return max([peak, self.first_peak or -1] + [r["peak"] for r in self.rows.values()])


PHASES = Phases()


# ---------------------------------------------------------------- BrainMCLIP (docs/model.md; src/BrainMClip.Core/Model)
PRESETS = {
    # Mirrors BrainMClipConfig's presets (src/BrainMClip.Core/Model/BrainMClipConfig.cs); keep them in step.
    "tiny": dict(tokens=65, detail_width=128, semantic_width=64, hidden=256, blocks=1, rank=8, head="full",
                 max_lr=1e-3, dropout_input=0.5, dropout_blocks=0.15, ridge_skip=False),
    "paper": dict(tokens=257, detail_width=1024, semantic_width=768, hidden=2048, blocks=4, rank=64, head="low_rank",
                  max_lr=3e-4, dropout_input=0.5, dropout_blocks=0.15, ridge_skip=False),
}


class Block(nn.Module):
    def __init__(self, h, p):
        super().__init__()
        self.linear, self.norm, self.drop = nn.Linear(h, h), nn.LayerNorm(h), nn.Dropout(p)

    def forward(self, x):
        return x + self.drop(F.gelu(self.norm(self.linear(x))))


class Encoder(nn.Module):
    def __init__(self, voxels, c, width):
        super().__init__()
        h, t, r = c["hidden"], c["tokens"], c["rank"]
        self.t, self.r = t, r
        self.width = width
        self.input, self.input_norm = nn.Linear(voxels, h), nn.LayerNorm(h)
        self.input_drop = nn.Dropout(c["dropout_input"])
        self.blocks = nn.ModuleList([Block(h, c["dropout_blocks"]) for _ in range(c["blocks"])])
        # model.head: "low_rank" = Linear(h, t*r), shared Linear(r, width), (t, width) bias; "full" = Linear(h, t*width)
        if c["head"] == "full":
            self.proj, self.up, self.token_bias = nn.Linear(h, t * width), None, None
        else:
            self.proj, self.up = nn.Linear(h, t * r), nn.Linear(r, width, bias=False)
            self.token_bias = nn.Parameter(torch.zeros(t, width))
        # model.ridge_skip: a fixed (buffer, not trained) linear map voxels -> flattened tokens added to the output.
        if c["ridge_skip"]:
            self.register_buffer("skip_weight", torch.randn(voxels, t * width) * 0.01)
            self.register_buffer("skip_bias", torch.zeros(t * width))
        else:
            self.skip_weight = None

    def forward(self, x):
        b = self.input_drop(F.gelu(self.input_norm(self.input(x))))
        for blk in self.blocks:
            b = blk(b)
        return b

    def tokens(self, b, x):
        if self.up is None:
            out = self.proj(b).reshape(-1, self.t, self.width)
        else:
            out = self.up(self.proj(b).reshape(-1, self.t, self.r)) + self.token_bias
        if self.skip_weight is not None:
            out = out + F.linear(x, self.skip_weight.t(), self.skip_bias).reshape(-1, self.t, self.width)
        return out


class Decoder(nn.Module):
    def __init__(self, h, voxels):
        super().__init__()
        self.hidden, self.norm, self.output = nn.Linear(h, h), nn.LayerNorm(h), nn.Linear(h, voxels)

    def forward(self, b):
        return self.output(F.gelu(self.norm(self.hidden(b))))


class BrainMClip(nn.Module):
    def __init__(self, c, nd, ns):
        super().__init__()
        self.encoder_detail = Encoder(nd, c, c["detail_width"])
        self.encoder_semantic = Encoder(ns, c, c["semantic_width"])
        self.decoder_detail = Decoder(c["hidden"], nd)
        self.decoder_semantic = Decoder(c["hidden"], ns)
        self.fusion = nn.Linear(c["detail_width"], c["semantic_width"])


def soft_clip_loss(preds, targs, temp):
    # MindBridge's soft_clip_loss, as in tests/fixtures-gen/model_losses.py.
    clip_clip = (targs @ targs.T) / temp
    brain_clip = (preds @ targs.T) / temp
    loss1 = -(brain_clip.log_softmax(-1) * clip_clip.softmax(-1)).sum(-1).mean()
    loss2 = -(brain_clip.T.log_softmax(-1) * clip_clip.softmax(-1)).sum(-1).mean()
    return (loss1 + loss2) / 2


def stream_loss(p, y, terms, name):
    pn, yn = F.normalize(p.flatten(1), dim=-1), F.normalize(y.flatten(1), dim=-1)
    g = soft_clip_loss(pn, yn, 0.005)
    tok = (1 - F.cosine_similarity(p, y, dim=-1)).mean()
    mse = F.mse_loss(pn, yn)
    terms[name + ".global"], terms[name + ".token"], terms[name + ".mse"] = g, tok, mse
    return g + tok + 10000 * mse


def train_step(preset, nd, ns):
    c = PRESETS[preset]
    batch = 50
    torch.manual_seed(0)
    fD, fS = torch.randn(batch, nd), torch.randn(batch, ns)
    eD, eS = torch.randn(batch, c["tokens"], c["detail_width"]), torch.randn(batch, c["tokens"], c["semantic_width"])
    net = BrainMClip(c, nd, ns)
    net.train()
    decay = [p for n, p in net.named_parameters() if p.dim() >= 2 and "norm" not in n]
    no_decay = [p for n, p in net.named_parameters() if not (p.dim() >= 2 and "norm" not in n)]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.01), dict(params=no_decay, weight_decay=0.0)], lr=c["max_lr"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=c["max_lr"], total_steps=100000)
    main = [p for n, p in net.named_parameters() if not n.startswith("fusion.")]
    fusion = list(net.fusion.parameters())

    def step():
        PHASES.start()
        bD, bS = net.encoder_detail(fD), net.encoder_semantic(fS)
        pD, pS = net.encoder_detail.tokens(bD, fD), net.encoder_semantic.tokens(bS, fS)
        PHASES.mark("forward")
        terms = {}
        total = stream_loss(pD, eD, terms, "detail") + stream_loss(pS, eS, terms, "semantic")
        rec = F.mse_loss(net.decoder_detail(bD), fD) + F.mse_loss(net.decoder_semantic(bS), fS)
        cross = F.mse_loss(net.decoder_detail(bS), fD) + F.mse_loss(net.decoder_semantic(bD), fS)
        terms["rec"], terms["cross"] = rec, cross
        total = total + rec + cross
        terms["fusion"] = fus = F.mse_loss(net.fusion(eD), eS)
        s = sum(v.item() for v in terms.values()) + total.item()
        PHASES.mark("loss")
        opt.zero_grad()
        (total + fus).backward()
        PHASES.mark("backward")
        torch.nn.utils.clip_grad_norm_(main, 1.0)
        torch.nn.utils.clip_grad_norm_(fusion, 1.0)
        PHASES.mark("clip")
        opt.step()
        sched.step()
        PHASES.mark("optimizer")
        assert math.isfinite(s)

    return step, dict(parameters=sum(p.numel() for p in net.parameters()), batch=batch, voxels=f"{nd}/{ns}", preset=preset)


def predict(batch):
    c = PRESETS["paper"]
    torch.manual_seed(0)
    net = BrainMClip(c, 15724, 4500).eval()
    fD, fS = torch.randn(batch, 15724), torch.randn(batch, 4500)

    def step():
        with torch.no_grad():
            pD = net.encoder_detail.tokens(net.encoder_detail(fD), fD)
            pS = net.encoder_semantic.tokens(net.encoder_semantic(fS), fS)
            mixed = pS * 0.75 + net.fusion(pD) * 0.25
            fused = mixed / mixed[:, 0].norm(dim=-1, keepdim=True).clamp_min(1e-12)[:, None]
            fused.sum().item()

    return step, dict(batch=batch, per=float(batch), voxels="15724/4500", preset="paper")


# ---------------------------------------------------------------- CLIP vision tower (as clip_fixtures.py's reference)
class ClipLayer(nn.Module):
    def __init__(self, w, m, heads):
        super().__init__()
        self.heads = heads
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(w, w) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(w, m), nn.Linear(m, w)

    def forward(self, x):
        B, T, W = x.shape
        H = self.heads
        a = self.layer_norm1(x)
        q = (self.q_proj(a) * (W // H) ** -0.5).view(B, T, H, -1).transpose(1, 2)
        k = self.k_proj(a).view(B, T, H, -1).transpose(1, 2)
        v = self.v_proj(a).view(B, T, H, -1).transpose(1, 2)
        o = (q @ k.transpose(-1, -2)).softmax(-1) @ v
        x = x + self.out_proj(o.transpose(1, 2).reshape(B, T, W))
        h = self.fc1(self.layer_norm2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class ClipVision(nn.Module):
    def __init__(self, w, m, layers, heads, patch, proj, size=224):
        super().__init__()
        t = 1 + (size // patch) ** 2
        self.patch_embedding = nn.Conv2d(3, w, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(w))
        self.position_embedding = nn.Parameter(torch.randn(t, w) * 0.02)
        self.pre_layrnorm, self.post_layernorm = nn.LayerNorm(w), nn.LayerNorm(w)
        self.layers = nn.ModuleList([ClipLayer(w, m, heads) for _ in range(layers)])
        self.visual_projection = nn.Linear(w, proj, bias=False)
        n = layers
        a = max(1, int(math.floor(n * 11 / 24 + 0.5)))
        self.detail = (min(a, n), min(max(a, int(math.floor(n * 20 / 24 + 0.5))), n))

    @torch.no_grad()
    def forward(self, x):
        pe = self.patch_embedding(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), pe], 1) + self.position_embedding
        h = self.pre_layrnorm(h)
        a, b = self.detail
        detail = None
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if a <= i + 1 <= b:
                detail = h.clone() if detail is None else detail.add_(h)
        detail = detail / (b - a + 1)
        pooled = self.post_layernorm(h[:, 0])
        emb = self.visual_projection(pooled)
        z = self.visual_projection(self.post_layernorm(h))
        vd = z / z[:, 0].norm(dim=-1, keepdim=True)[:, None]
        return vd, detail, emb


def clip(w, m, layers, heads, patch, proj):
    torch.manual_seed(0)
    model = ClipVision(w, m, layers, heads, patch, proj).eval()
    x = torch.randn(8, 3, 224, 224)

    def step():
        vd, _, _ = model(x)
        vd.sum().item()

    return step, dict(batch=8, items=8.0, per=8.0, tokens=1 + (224 // patch) ** 2)


# ---------------------------------------------------------------- UNet / VAE (tests/fixtures-gen/diffusion_reference.py)
def float_reference():
    import diffusion_reference as dr

    class Params32(dr.Params):
        """The reference's parameter store, kept in float32 (its golden mode is float64)."""

        def get(self, name, shape, kind):
            super().get(name, shape, kind)
            return self.d[name]

    base_linear = dr.linear

    def linear(p, name, x, cin, cout, bias=True):
        # The reference computes the timestep MLP in float64; cast to the weights' dtype (float32 here).
        return base_linear(p, name, x.float(), cin, cout, bias)

    dr.linear = linear
    return dr, Params32


VD_UNET = {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "center_input_sample": False, "downsample_padding": 1,
           "norm_eps": 1e-5, "sample_size": 64, "in_channels": 4, "out_channels": 4, "flip_sin_to_cos": True, "freq_shift": 0,
           "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "norm_num_groups": 32,
           "attention_head_dim": 8, "cross_attention_dim": 768,
           "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
           "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
           "use_linear_projection": False, "transformer_layers_per_block": 1}


def unet_step():
    dr, P = float_reference()
    torch.manual_seed(0)
    p = P(0)
    x, ctx, t = torch.randn(2, 4, 64, 64), torch.randn(2, 257, 768), torch.tensor([500, 500])

    def step():
        with torch.no_grad():
            dr.unet(p, VD_UNET, x, t, ctx).sum().item()

    return step, dict(batch=2, cfg="batch 2 (uncond+cond)")


GEN_UNET = {"act_fn": "silu", "center_input_sample": False, "downsample_padding": 1, "norm_eps": 1e-5, "in_channels": 3,
            "out_channels": 3, "flip_sin_to_cos": True, "freq_shift": 0, "block_out_channels": [32, 64, 64],
            "layers_per_block": 1, "norm_num_groups": 8, "attention_head_dim": 4, "cross_attention_dim": 64,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            "use_linear_projection": False, "transformer_layers_per_block": 1}


def generator_params():
    """The demo's pixel generator UNet (PixelGeneratorTrainer.SmallConfig(32, 64)) as trainable float32 leaves."""
    dr, P = float_reference()

    class Trainable(P):
        def get(self, name, shape, kind):
            if name not in self.d:
                super().get(name, shape, kind)
                self.d[name].requires_grad_(True)
            return self.d[name]

    torch.manual_seed(0)
    p = Trainable(0)
    with torch.no_grad():
        dr.unet(p, GEN_UNET, torch.randn(1, 3, 32, 32), torch.tensor([1]), torch.randn(1, 65, 64))
    return dr, p


def generator_step():
    """One `generator train` step: noising, forward, MSE, backward, clip, AdamW, EMA; batch 16."""
    dr, p = generator_params()
    params = list(p.d.values())
    ema = [q.detach().clone() for q in params]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas = torch.cumprod(1 - betas, 0).float()
    x0, ctx = torch.rand(16, 3, 32, 32) * 2 - 1, torch.randn(16, 65, 64)
    g = torch.Generator().manual_seed(1)

    def step():
        t = torch.randint(0, 1000, (16,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = alphas[t].view(16, 1, 1, 1)
        loss = F.mse_loss(dr.unet(p, GEN_UNET, a.sqrt() * x0 + (1 - a).sqrt() * noise, t, ctx), noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            for e, q in zip(ema, params):
                e.mul_(0.99).add_(q, alpha=0.01)
        assert math.isfinite(loss.item())

    return step, dict(batch=16, parameters=sum(q.numel() for q in params), image="3x32x32", context="65x64")


def generator_denoise():
    """One `reconstruct` denoising forward with the demo's pixel UNet: batch 2 ([uncond; cond]), no_grad."""
    dr, p = generator_params()
    x, ctx, t = torch.randn(2, 3, 32, 32), torch.randn(2, 65, 64), torch.tensor([500, 500])

    def step():
        with torch.no_grad():
            dr.unet(p, GEN_UNET, x, t, ctx).sum().item()

    return step, dict(batch=2, image="3x32x32", context="65x64")


def vae_decode():
    dr, P = float_reference()
    cfg = {"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "norm_num_groups": 32,
           "latent_channels": 4, "out_channels": 3, "in_channels": 3}
    torch.manual_seed(0)
    p = P(0)
    z = torch.randn(1, 4, 64, 64)

    def step():
        with torch.no_grad():
            dr.vae_decode(p, cfg, z).sum().item()

    return step, dict(batch=1, output="1x3x512x512")


# ---------------------------------------------------------------- readers
def uncompressed_mb(path):
    if path.endswith(".gz"):
        with open(path, "rb") as f:
            f.seek(-4, 2)
            return int.from_bytes(f.read(4), "little") / 1e6
    return os.path.getsize(path) / 1e6


def file_read(path, kind):
    if not os.path.exists(path):
        raise SystemExit(f"{path}: run make-data first")
    if kind == "npy":
        fn = lambda: np.load(path)
    else:
        import nibabel as nib
        fn = lambda: nib.load(path).get_fdata()
    return fn, dict(megabytes=uncompressed_mb(path), file=os.path.basename(path))


def make_data(d, quick):
    import nibabel as nib
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = 500 if quick else 2000
    np.save(os.path.join(d, "bench.npy"), rng.standard_normal((rows, 15724), dtype=np.float32))
    # int16 volume with a scale factor, like NSD's betas: smooth structure plus noise (compresses like real data).
    shape = (120, 144, 120) if quick else (200, 240, 200)
    g = np.indices(shape, dtype=np.float32).sum(0)
    vol = (np.sin(g / 9.0) * 3000 + rng.normal(0, 300, shape)).astype(np.int16)
    img = nib.Nifti1Image(vol, np.eye(4))
    img.header.set_slope_inter(0.01, 0.0)
    nib.save(img, os.path.join(d, "bench.nii.gz"))
    print(json.dumps({"data": d, "npy_mb": os.path.getsize(os.path.join(d, "bench.npy")) / 1e6,
                      "nifti_mb": uncompressed_mb(os.path.join(d, "bench.nii.gz"))}))


def blas_check():
    a, b = torch.randn(512, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    cfg = torch.__config__.show()
    info = [l.strip() for l in cfg.splitlines() if "BLAS" in l or "LAPACK" in l]
    return dict(gflops=2 * 512 * 2048 * 2048 / median(ts) / 1e9, blas_libs=loaded_blas(), torch_config=info,
                torch=torch.__version__)


VD16_UNET = dict(VD_UNET, sample_size=16, in_channels=3, out_channels=3)


def unet_vd16_step():
    """For FLOP counting only: one guided step (batch 2) of the VD UNet layout at 16x16x3 (reconstruct_vd16)."""
    dr, P = float_reference()
    torch.manual_seed(0)
    p = P(0)
    x, ctx, t = torch.randn(2, 3, 16, 16), torch.randn(2, 257, 768), torch.tensor([500, 500])

    def step():
        with torch.no_grad():
            dr.unet(p, VD16_UNET, x, t, ctx).sum().item()

    return step, dict(batch=2)


# GEMM-class ops whose FLOPs torch.profiler(with_flops=True) counts from the input shapes (2*M*N*K; conv: 2 * output
# elements * Cin/groups * kh * kw). Elementwise, normalisation and softmax work is not counted (memory-bound).
FLOP_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::conv2d")


def count_flops(name, step, train):
    """One call of the workload under the profiler. The profiler counts the forward convolutions only, not their
    backward (mm/bmm of the backward pass are counted): for a training step each conv2d counts 3x (input and
    weight gradients cost one forward each)."""
    from torch.profiler import profile
    with profile(with_flops=True) as prof:
        step()
    by_op = {}
    for e in prof.key_averages():
        if e.key in FLOP_OPS and e.flops:
            f = e.flops * (3 if train and e.key == "aten::conv2d" else 1)
            by_op[e.key] = by_op.get(e.key, 0) + f
    return dict(name=name, flops=sum(by_op.values()), by_op=by_op,
                counted="torch.profiler with_flops (torch %s), conv2d x3 in training steps" % torch.__version__
                if train else "torch.profiler with_flops (torch %s)" % torch.__version__)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", default="/tmp")
    ap.add_argument("--phases", action="store_true", help="train steps: time and peak RSS per phase")
    ap.add_argument("flops_of", nargs="*", help="with NAME=flops: the workloads whose FLOPs to count")
    a = ap.parse_intermixed_args()
    if a.name == "make-data":
        return make_data(a.data, a.quick)
    torch.set_num_threads(a.threads)
    out = dict(name=a.name, side="pytorch", threads=torch.get_num_threads(), quick=a.quick, torch=torch.__version__)
    if a.name == "blas_check":
        out.update(blas_check())
        print(json.dumps(out))
        return
    workloads = {
        "train_step_tiny": lambda: train_step("tiny", 2000, 800),
        "train_step_paper": lambda: train_step("paper", 15724, 4500),
        "predict_b1": lambda: predict(1),
        "predict_b300": lambda: predict(300),
        "clip_vit_b16_224": lambda: clip(768, 3072, 12, 12, 16, 512),
        "clip_vit_l14_224": lambda: clip(1024, 4096, 24, 16, 14, 768),
        "unet_step_vd": unet_step,
        "vae_decode_512": vae_decode,
        "generator_step": generator_step,
        "generator_denoise_b2": generator_denoise,
        "npy_read": lambda: file_read(os.path.join(a.data, "bench.npy"), "npy"),
        "nifti_read": lambda: file_read(os.path.join(a.data, "bench.nii.gz"), "nifti"),
        "unet_vd16_b2": unet_vd16_step,
    }
    if a.name == "flops":
        for n in a.flops_of:
            step, _ = workloads[n]()
            step()  # the reference builds its parameters lazily on the first call
            print(json.dumps(count_flops(n, step, n.startswith("train_step") or n == "generator_step")), flush=True)
        return
    PHASES.enabled = a.phases
    step, info = workloads[a.name]()
    times, cpu_times = [], []
    for i in range(a.warmup + a.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        ms = (time.perf_counter() - t0) * 1000
        if i >= a.warmup:
            times.append(ms)
            cpu_times.append((time.process_time() - c0) * 1000)
        print(f"bench {a.name}: {'warm-up' if i < a.warmup else 'rep'} {ms:.1f} ms", file=sys.stderr)
    m = median(times)
    out.update(info)
    out.update(median_ms=m, times_ms=times, median_cpu_ms=median(cpu_times))
    if "per" in info:
        out["per_item_ms"] = m / info["per"]
    if "megabytes" in info:
        out["mb_per_s"] = info["megabytes"] / (m / 1000)
    if "items" in info:
        out["items_per_s"] = info["items"] / (m / 1000)
    out["peak_rss_mb"] = peak_rss_mb()
    if a.phases:
        out["phases"] = PHASES.to_json()
        out["peak_rss_mb"] = PHASES.process_peak(out["peak_rss_mb"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
