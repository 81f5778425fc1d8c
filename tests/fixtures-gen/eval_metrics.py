#!/usr/bin/python3
"""Reference values for the image metrics (docs/evaluation.md), computed the way MindEye's notebooks do.

Run with Debian's python3 (numpy 1.24, scipy 1.10, scikit-image 0.19.3, torch 1.13):
    /usr/bin/python3 tests/fixtures-gen/eval_metrics.py
Writes tests/BrainMClip.Tests/Fixtures/eval/metrics/{recons,truth}/*.png and expected.json.

Protocol reproduced here (independently of the C# code):
  image -> float32 [0,1] (ToTensor: /255) -> if side > 256: F.interpolate(256x256, bilinear, align_corners=False)
  -> F.interpolate(425x425, bilinear) -> PixCorr = np.corrcoef of the flattened CHW tensors;
  SSIM = skimage structural_similarity on rgb2gray (float32) with gaussian_weights, sigma 1.5,
  use_sample_covariance False, data_range 1; legacy = the same call with channel_axis=-1 on the 2-D gray image
  (what `multichannel=True` meant for a grayscale image in older scikit-image: one 1-D SSIM per column).
"""
import json, os, sys
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity as ssim

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "BrainMClip.Tests", "Fixtures", "eval", "metrics")


def smooth_image(rng, size, noise):
    """A smooth colour field with a few blobs and some pixel noise (compresses reasonably as PNG)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, 3))
    for c in range(3):
        a, b, p = rng.uniform(1, 6, 3)
        img[..., c] = 0.5 + 0.25 * np.sin(a * xx * 6.28 + p) * np.cos(b * yy * 6.28)
    for _ in range(4):
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.2)
        m = ((yy - cy) ** 2 + (xx - cx) ** 2) < r * r
        img[m] = rng.uniform(0, 1, 3)
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def perturb(rng, img, out_size, noise):
    """A 'reconstruction': the truth resized (PIL bilinear), shifted a little and noised."""
    pil = Image.fromarray(img).resize(out_size[::-1], Image.BILINEAR)
    a = np.asarray(pil).astype(np.float64) / 255
    a = np.roll(a, rng.integers(-6, 7), axis=1)
    a = 0.8 * a + 0.2 * a.mean() + rng.normal(0, noise, a.shape)
    return np.clip(np.round(a * 255), 0, 255).astype(np.uint8)


def prep(u8):
    t = torch.from_numpy(u8).permute(2, 0, 1)[None].float().div(255)
    if t.shape[-1] > 256 or t.shape[-2] > 256:
        t = F.interpolate(t, size=(256, 256), mode="bilinear", align_corners=False)
    return F.interpolate(t, size=(425, 425), mode="bilinear", align_corners=False)


def main():
    rng = np.random.default_rng(20261127)
    # (truth size, recon size): 512 recons vs 256 truth as in the protocol, plus an odd-size and a small pair.
    pairs = [((256, 256), (512, 512)), ((256, 256), (512, 512)), ((300, 280), (200, 210)), ((64, 64), (64, 64))]
    os.makedirs(os.path.join(ROOT, "recons"), exist_ok=True)
    os.makedirs(os.path.join(ROOT, "truth"), exist_ok=True)
    out = {"pixcorr": [], "ssim": [], "ssim_legacy": []}
    for i, (gs, rs) in enumerate(pairs):
        gt = smooth_image(rng, gs, 0.03)
        rec = perturb(rng, gt, rs, 0.05)
        Image.fromarray(gt).save(os.path.join(ROOT, "truth", f"gt_{i:03d}.png"))
        Image.fromarray(rec).save(os.path.join(ROOT, "recons", f"rec_{i:03d}.png"))
        g, r = prep(gt), prep(rec)
        out["pixcorr"].append(float(np.corrcoef(g.reshape(1, -1).numpy(), r.reshape(1, -1).numpy())[0, 1]))
        gg = rgb2gray(g.permute(0, 2, 3, 1).numpy())[0]
        rg = rgb2gray(r.permute(0, 2, 3, 1).numpy())[0]
        assert gg.dtype == np.float32
        kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        out["ssim"].append(float(ssim(rg, gg, **kw)))
        out["ssim_legacy"].append(float(ssim(rg, gg, channel_axis=-1, **kw)))
    res = {"n": len(pairs), "sizes": [{"truth": list(g), "recon": list(r)} for g, r in pairs]}
    for k, v in out.items():
        res[k] = {"mean": float(np.mean(v)), "per_image": v}
    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
