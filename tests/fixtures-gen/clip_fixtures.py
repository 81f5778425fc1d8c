#!/usr/bin/python3
"""Fixtures for tests/BrainMClip.Tests/Features (run with Debian's /usr/bin/python3: torch 1.13, PIL 9.4, numpy).

Writes tests/BrainMClip.Tests/Fixtures/clip/:
- clipmodel/: a *CLIPModel*-style checkpoint with other shapes than the shared golden (image 48, patch 16, width 96,
  3 heads, 3 layers, MLP 200, projection 40, exact-erf gelu, layer_norm_eps 1e-6), float16 weights, text-tower keys,
  logit_scale and position_ids buffers that must be ignored; preprocessor resizes the shortest edge to 56 and crops 48.
- clipmodel/golden.safetensors: reference outputs of a from-scratch float64 implementation of HF CLIPVisionModelWithProjection
  (weights = the float16 values), for pixel_values = PIL preprocessing of portrait.png (37 x 61, W x H).
- resize.safetensors: PIL Image.resize outputs (uint8 HWC) for several sizes and filters, up and down.
"""
import json, os, struct
import numpy as np
import torch
from PIL import Image, ImageDraw

OUT = os.path.join(os.path.dirname(__file__), "..", "BrainMClip.Tests", "Fixtures", "clip")
DT = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64"}


def save(path, tensors, meta=None):
    header, off, blobs = {}, 0, []
    if meta:
        header["__metadata__"] = meta
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        b = a.tobytes()
        header[k] = {"dtype": DT[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def test_image(w, h, seed):
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255.0 / w, yy * 255.0 / h, (xx + yy) * 127.0 / (w + h) + 60], -1)
    img = Image.fromarray(np.clip(base + rng.randn(h, w, 3) * 20, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.rectangle([w // 5, h // 6, w // 2, h // 3], fill=(250, 30, 40))
    d.ellipse([w // 2, h // 2, w - 3, h - 4], fill=(20, 200, 90))
    d.line([0, h - 1, w - 1, 0], fill=(255, 255, 255), width=2)
    return img


def main():
    os.makedirs(os.path.join(OUT, "clipmodel"), exist_ok=True)
    torch.manual_seed(7)
    S, P, W, H, L, M, PD, EPS = 48, 16, 96, 3, 3, 200, 40, 1e-6
    T = 1 + (S // P) ** 2
    g = torch.Generator().manual_seed(7)
    r = lambda *s, std=0.05: (torch.randn(*s, generator=g) * std)
    sd = {
        "vision_model.embeddings.class_embedding": r(W, std=W ** -0.5),
        "vision_model.embeddings.patch_embedding.weight": r(W, 3, P, P, std=0.03),
        "vision_model.embeddings.position_embedding.weight": r(T, W, std=0.1),
        "vision_model.pre_layrnorm.weight": 1 + r(W, std=0.1), "vision_model.pre_layrnorm.bias": r(W, std=0.1),
        "vision_model.post_layernorm.weight": 1 + r(W, std=0.1), "vision_model.post_layernorm.bias": r(W, std=0.1),
        "visual_projection.weight": r(PD, W, std=W ** -0.5),
    }
    for i in range(L):
        p = f"vision_model.encoder.layers.{i}."
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            sd[p + f"self_attn.{n}.weight"] = r(W, W, std=W ** -0.5)
            sd[p + f"self_attn.{n}.bias"] = r(W, std=0.1)
        sd[p + "mlp.fc1.weight"] = r(M, W, std=W ** -0.5); sd[p + "mlp.fc1.bias"] = r(M, std=0.1)
        sd[p + "mlp.fc2.weight"] = r(W, M, std=M ** -0.5); sd[p + "mlp.fc2.bias"] = r(W, std=0.1)
        for n in ["layer_norm1", "layer_norm2"]:
            sd[p + n + ".weight"] = 1 + r(W, std=0.1); sd[p + n + ".bias"] = r(W, std=0.1)
    sd = {k: v.half() for k, v in sd.items()}
    ck = dict(sd)
    # CLIPModel extras that the loader must skip.
    ck["text_model.embeddings.token_embedding.weight"] = r(50, 16).half()
    ck["text_model.final_layer_norm.weight"] = torch.ones(16).half()
    ck["text_projection.weight"] = r(PD, 16).half()
    ck["logit_scale"] = torch.tensor(2.6592).half()
    ck["vision_model.embeddings.position_ids"] = torch.arange(T).unsqueeze(0)
    save(os.path.join(OUT, "clipmodel", "model.safetensors"), {k: v.numpy() for k, v in ck.items()}, {"format": "pt"})
    config = {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": PD, "logit_scale_init_value": 2.6592,
        "text_config": {"hidden_size": 16, "vocab_size": 50, "num_hidden_layers": 0},
        "vision_config": {"hidden_size": W, "intermediate_size": M, "num_attention_heads": H, "num_hidden_layers": L,
                          "image_size": S, "patch_size": P, "hidden_act": "gelu", "layer_norm_eps": EPS,
                          "some_future_field": "ignored"},
        "torch_dtype": "float16",
    }
    json.dump(config, open(os.path.join(OUT, "clipmodel", "config.json"), "w"), indent=2)
    mean, std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    json.dump({"image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": 56}, "resample": 3,
               "do_center_crop": True, "crop_size": {"height": S, "width": S}, "do_rescale": True,
               "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": mean, "image_std": std},
              open(os.path.join(OUT, "clipmodel", "preprocessor_config.json"), "w"), indent=2)

    # HF CLIPImageProcessor on a portrait image: shortest edge 56 -> (56, int(56*61/37)=92), crop 48 (left 4, top 22).
    img = test_image(37, 61, 1)
    img.save(os.path.join(OUT, "portrait.png"))
    w, h = img.size
    nw, nh = (56, int(56 * h / w)) if w <= h else (int(56 * w / h), 56)
    rs = np.asarray(img.resize((nw, nh), Image.BICUBIC)).astype(np.float32)
    top, left = (nh - S) // 2, (nw - S) // 2
    crop = rs[top:top + S, left:left + S] / 255.0
    pv = ((crop - np.array(mean, np.float32)) / np.array(std, np.float32)).transpose(2, 0, 1)[None].astype(np.float32)

    # From-scratch float64 reference of HF CLIPVisionModelWithProjection.
    d = {k: v.double() for k, v in sd.items()}
    x = torch.from_numpy(pv).double()
    batch = torch.randn(2, 3, S, S, generator=g).double()

    def run(x):
        pe = torch.nn.functional.conv2d(x, d["vision_model.embeddings.patch_embedding.weight"], stride=P)
        pe = pe.flatten(2).transpose(1, 2)
        cls = d["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, W)
        hdn = torch.cat([cls, pe], 1) + d["vision_model.embeddings.position_embedding.weight"]
        ln = lambda t, n: torch.nn.functional.layer_norm(t, (W,), d[n + ".weight"], d[n + ".bias"], EPS)
        hdn = ln(hdn, "vision_model.pre_layrnorm")
        hs = [hdn]
        for i in range(L):
            p = f"vision_model.encoder.layers.{i}."
            lin = lambda t, n: t @ d[p + n + ".weight"].T + d[p + n + ".bias"]
            a = ln(hdn, p + "layer_norm1")
            B = a.shape[0]
            q = (lin(a, "self_attn.q_proj") * (W // H) ** -0.5).view(B, T, H, -1).transpose(1, 2)
            k = lin(a, "self_attn.k_proj").view(B, T, H, -1).transpose(1, 2)
            v = lin(a, "self_attn.v_proj").view(B, T, H, -1).transpose(1, 2)
            o = (q @ k.transpose(-1, -2)).softmax(-1) @ v
            hdn = hdn + lin(o.transpose(1, 2).reshape(B, T, W), "self_attn.out_proj")
            m = lin(torch.nn.functional.gelu(lin(ln(hdn, p + "layer_norm2"), "mlp.fc1")), "mlp.fc2")
            hdn = hdn + m
            hs.append(hdn)
        post = ln(hdn, "vision_model.post_layernorm")
        proj = d["visual_projection.weight"]
        z = post @ proj.T
        return hs, post[:, 0], z[:, 0], z / z[:, :1].norm(dim=-1, keepdim=True)

    hs, pooled, emb, vd = run(x)
    gold = {"pixel_values": pv, "pooler_output": pooled, "image_embeds": emb, "vd_tokens": vd,
            "detail_mean": torch.stack(hs[1:3]).mean(0), "pixel_values_batch": batch.float()}
    for i, t in enumerate(hs):
        gold[f"hidden_states.{i}"] = t
    hb, _, eb, _ = run(batch.float().double())
    gold["image_embeds_batch"] = eb
    gold["hidden_states_last_batch"] = hb[-1]
    gold = {k: (v.float().numpy() if torch.is_tensor(v) else v) for k, v in gold.items()}
    save(os.path.join(OUT, "clipmodel", "golden.safetensors"), gold, {"detail_layers": "1-2"})

    # Pillow resize cases: (source w, h, seed) x (target w, h, filter).
    cases = {}
    for (sw, sh, seed) in [(53, 41, 2), (17, 23, 3)]:
        src = test_image(sw, sh, seed)
        cases[f"src_{sw}x{sh}"] = np.asarray(src)
        for (tw, th) in [(32, 25), (41, 32), (64, 80), (sw, 11), (7, sh), (120, 9)]:
            for name, f in [("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR), ("lanczos", Image.LANCZOS),
                            ("box", Image.BOX), ("hamming", Image.HAMMING), ("nearest", Image.NEAREST)]:
                cases[f"out_{sw}x{sh}_{tw}x{th}_{name}"] = np.asarray(src.resize((tw, th), f))
    save(os.path.join(OUT, "resize.safetensors"), cases)


if __name__ == "__main__":
    main()
