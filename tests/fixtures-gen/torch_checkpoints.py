"""PyTorch checkpoints (torch.save) beside safetensors files of the same weights, for StateDictLoader's tests.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, which writes torch.save's zip format by default):
    python3 tests/fixtures-gen/torch_checkpoints.py
Writes tests/BrainMClip.Tests/Fixtures/checkpoints/:
  weights.safetensors / weights.bin       one state dict both ways (float32/16/64, bfloat16, int64, a 0-d tensor,
                                          two keys sharing one storage)
  hub.pth.tar                             {'state_dict': ..., 'epoch': 7, 'arch': 'tiny'} (torch hub / ImageNet
                                          training scripts)
  legacy.pth                              the same state dict in the pre-1.6 (non-zip) format
  module.pth                              a whole pickled nn.Module, not a state dict
  optimizer.pth                           an SGD optimizer state dict (no tensors)
  list.pth                                a list of tensors
  offset.bin                              a tensor that is a view into a larger storage (storage offset 4)
  transposed.bin                          a transposed (non-contiguous) tensor
  clip/                                   a tiny CLIP vision folder: config.json, preprocessor_config.json,
                                          model.safetensors, pytorch_model.bin, and the same weights as two .bin
                                          shards with pytorch_model.bin.index.json
  vae/                                    the AutoencoderKL of diffusion/vae-3level-legacy as diffusion_pytorch_model.bin
"""
import json
import os
import struct
import sys
from collections import OrderedDict

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "BrainMClip.Tests", "Fixtures")
OUT = os.path.join(ROOT, "checkpoints")

_DT = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
       torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}
_ST = {v: k for k, v in _DT.items()}


def st_save(path, tensors):
    """safetensors by hand (the pip package is not installed): header length, JSON header, raw LE bytes."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        raw = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
        b = raw.numpy().astype(raw.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def st_load(path):
    """Reads a safetensors file (as st_save writes it) into torch tensors."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        dt = _ST[e["dtype"]]
        raw = bytearray(data[a:b])
        if dt == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.empty(0, dtype=dt)
        else:
            t = torch.frombuffer(raw, dtype=dt) if raw else torch.empty(0, dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def generic():
    g = torch.Generator().manual_seed(26)
    sd = OrderedDict()
    sd["block.weight"] = torch.randn(3, 4, generator=g)
    sd["block.bias"] = torch.randn(3, generator=g)
    sd["half.weight"] = torch.randn(2, 3, generator=g).half()
    sd["bf.weight"] = torch.randn(2, 2, generator=g).bfloat16()
    sd["norm.running_var"] = torch.rand(4, generator=g, dtype=torch.float64)
    sd["norm.num_batches_tracked"] = torch.tensor(12345)          # 0-d int64, as BatchNorm stores it
    shared = torch.randn(2, 2, generator=g)
    sd["tied.a"] = shared                                         # two keys, one storage
    sd["tied.b"] = shared
    st_save(os.path.join(OUT, "weights.safetensors"), sd)
    torch.save(sd, os.path.join(OUT, "weights.bin"))
    torch.save({"state_dict": sd, "epoch": 7, "arch": "tiny"}, os.path.join(OUT, "hub.pth.tar"))
    torch.save(sd, os.path.join(OUT, "legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(torch.nn.Linear(3, 2), os.path.join(OUT, "module.pth"))
    opt = torch.optim.SGD(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    torch.save(opt.state_dict(), os.path.join(OUT, "optimizer.pth"))
    torch.save([sd["block.weight"], sd["block.bias"]], os.path.join(OUT, "list.pth"))
    big = torch.arange(10.0)
    torch.save({"tail": big[4:]}, os.path.join(OUT, "offset.bin"))
    transposed = torch.randn(3, 5, generator=g).t()                # (5, 3) with strides (1, 5)
    assert not transposed.is_contiguous()
    torch.save({"weight": transposed}, os.path.join(OUT, "transposed.bin"))


def clip():
    """HF CLIPVisionModelWithProjection keys for a tiny config, random weights."""
    cfg = dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2, image_size=16,
               patch_size=8, projection_dim=8, num_channels=3)
    w, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    tokens = (cfg["image_size"] // cfg["patch_size"]) ** 2 + 1
    g = torch.Generator().manual_seed(7)
    sd = OrderedDict()

    def n(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    sd["vision_model.embeddings.class_embedding"] = n(w)
    sd["vision_model.embeddings.patch_embedding.weight"] = n(w, 3, cfg["patch_size"], cfg["patch_size"])
    sd["vision_model.embeddings.position_embedding.weight"] = n(tokens, w)
    sd["vision_model.embeddings.position_ids"] = torch.arange(tokens).unsqueeze(0)  # HF buffer, skipped on load
    for p in ("vision_model.pre_layrnorm", "vision_model.post_layernorm"):
        sd[p + ".weight"] = 1 + n(w)
        sd[p + ".bias"] = n(w)
    for i in range(layers):
        p = f"vision_model.encoder.layers.{i}."
        for lin, (o, k) in {"self_attn.q_proj": (w, w), "self_attn.k_proj": (w, w), "self_attn.v_proj": (w, w),
                            "self_attn.out_proj": (w, w), "mlp.fc1": (inter, w), "mlp.fc2": (w, inter)}.items():
            sd[p + lin + ".weight"] = n(o, k)
            sd[p + lin + ".bias"] = n(o)
        for ln in ("layer_norm1", "layer_norm2"):
            sd[p + ln + ".weight"] = 1 + n(w)
            sd[p + ln + ".bias"] = n(w)
    sd["visual_projection.weight"] = n(cfg["projection_dim"], w)

    d = os.path.join(OUT, "clip")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(dict(architectures=["CLIPVisionModelWithProjection"], model_type="clip_vision_model",
                       hidden_act="quick_gelu", layer_norm_eps=1e-5, **cfg), f, indent=2)
    with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
        json.dump(dict(image_processor_type="CLIPImageProcessor", do_resize=True, size={"shortest_edge": 16},
                       resample=3, do_center_crop=True, crop_size={"height": 16, "width": 16}, do_rescale=True,
                       rescale_factor=1 / 255, do_normalize=True,
                       image_mean=[0.48145466, 0.4578275, 0.40821073],
                       image_std=[0.26862954, 0.26130258, 0.27577711]), f, indent=2)
    st_save(os.path.join(d, "model.safetensors"), sd)
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    keys = list(sd)
    half = len(keys) // 2
    shards = {"pytorch_model-00001-of-00002.bin": keys[:half], "pytorch_model-00002-of-00002.bin": keys[half:]}
    weight_map = {}
    for name, ks in shards.items():
        torch.save(OrderedDict((k, sd[k]) for k in ks), os.path.join(d, name))
        weight_map.update({k: name for k in ks})
    with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)


def vae():
    src = os.path.join(ROOT, "diffusion", "vae-3level-legacy", "model.safetensors")
    d = os.path.join(OUT, "vae")
    os.makedirs(d, exist_ok=True)
    torch.save(OrderedDict(sorted(st_load(src).items())), os.path.join(d, "diffusion_pytorch_model.bin"))


if __name__ == "__main__":
    print("torch", torch.__version__, file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    generic()
    clip()
    vae()
