#!/usr/bin/python3
"""Expected outputs of torchvision 0.14's metric networks at the protocol nodes, on deterministic weights.

    /usr/bin/python3 tests/fixtures-gen/eval_networks.py
writes tests/BrainMClip.Tests/Fixtures/eval/networks.safetensors: for each network `<net>.input` (already
normalised, small spatial size) and `<net>.<node>` outputs.

The weights are far too large to commit (Inception/ResNet-50 ~25M parameters), so both this script and the C#
test build them from the same integer hash (see `weight_values`): every tensor's values depend only on its
torchvision key and shape. Tensors whose name hash is divisible by 3 are rounded through float16, and the C# test
stores exactly those as F16 in the safetensors file it loads (testing the float16 conversion). The C# side leaves
out the classifier weights (AlexNet `classifier.*`, Inception `fc.*`/`AuxLogits.*`, EfficientNet `classifier.*`,
ResNet `fc.*`) to test that they are optional; they do not influence the reported nodes.
"""
import os, sys
import numpy as np
import torch
import torchvision
from torchvision.models.feature_extraction import create_feature_extractor
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_st

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "BrainMClip.Tests", "Fixtures", "eval", "networks.safetensors")
M32 = 0xFFFFFFFF


def name_seed(name):
    """FNV-1a 32-bit of the UTF-8 key."""
    h = 0x811C9DC5
    for b in name.encode():
        h = ((h ^ b) * 0x01000193) & M32
    return h


def uniform(n, seed):
    k = np.arange(n, dtype=np.uint64)
    h = (k * np.uint64(0x9E3779B1) + np.uint64(seed)) & np.uint64(M32)
    for _ in range(2):
        h ^= h >> np.uint64(16)
        h = (h * np.uint64(0x45D9F3B)) & np.uint64(M32)
    h ^= h >> np.uint64(16)
    return h.astype(np.float64) / 4294967296.0


def weight_values(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    seed = name_seed(name)
    u = uniform(n, seed)
    if name.endswith("running_var"):
        v = 0.5 + u
    elif name.endswith("running_mean"):
        v = 0.2 * (2 * u - 1)
    elif name.endswith("bias"):
        v = 0.1 * (2 * u - 1)
    elif name.endswith("bn3.weight"):  # ResNet: damp each residual branch so 16 blocks do not blow up
        v = 0.2 + 0.05 * (2 * u - 1)
    elif len(shape) == 1:          # BatchNorm weight
        v = 1 + 0.25 * (2 * u - 1)
    else:                          # conv / linear weight: He-uniform
        fan_in = n // shape[0]
        v = (2 * u - 1) * np.sqrt(6.0 / fan_in)
    v = v.astype(np.float32).reshape(shape)
    if seed % 3 == 0:
        v = v.astype(np.float16).astype(np.float32)
    return v


def fill(model):
    sd = model.state_dict()
    new = {}
    for k, t in sd.items():
        if k.endswith("num_batches_tracked"):
            new[k] = t
        else:
            new[k] = torch.from_numpy(weight_values(k, tuple(t.shape)))
    model.load_state_dict(new, strict=True)
    model.eval()
    return model


def main():
    torch.set_grad_enabled(False)
    rng = np.random.default_rng(3)
    nets = {
        "alexnet": (torchvision.models.alexnet(), 64, ["features.4", "features.11"]),
        "inception_v3": (torchvision.models.inception_v3(aux_logits=True, transform_input=True, init_weights=False), 80, ["avgpool"]),
        "efficientnet_b1": (torchvision.models.efficientnet_b1(), 40, ["avgpool"]),
        "resnet50": (torchvision.models.resnet50(), 40, ["avgpool"]),
    }
    out = {}
    for name, (model, size, nodes) in nets.items():
        fill(model)
        x = rng.normal(size=(2, 3, size, size)).astype(np.float32)
        fx = create_feature_extractor(model, return_nodes=nodes)
        res = fx(torch.from_numpy(x))
        out[f"{name}.input"] = x
        for node in nodes:
            out[f"{name}.{node}"] = res[node].numpy()
            print(name, node, tuple(res[node].shape), float(res[node].abs().mean()), float(res[node].abs().max()))
    out.update(protocol_metrics(nets))
    eval_st.save(OUT, out)


def protocol_metrics(nets):
    """Evaluate-pipeline references on the metric fixture images (eval/metrics): AlexNet 2-way and EfficientNet
    distance exactly as MindEye computes them (resize, ImageNet normalisation, np.corrcoef)."""
    import torch.nn.functional as F
    from PIL import Image
    root = os.path.join(os.path.dirname(OUT), "metrics")
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def load(folder, prefix):
        imgs = []
        for i in range(4):
            a = np.asarray(Image.open(os.path.join(root, folder, f"{prefix}_{i:03d}.png")).convert("RGB"))
            t = torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float().div(255)
            if t.shape[-1] > 256 or t.shape[-2] > 256:
                t = F.interpolate(t, size=(256, 256), mode="bilinear", align_corners=False)
            imgs.append(t)
        return imgs

    def feats(model, nodes, imgs, size):
        x = torch.cat([F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False) for t in imgs])
        x = (x - mean) / std
        return create_feature_extractor(model, return_nodes=nodes)(x)

    truth, recon = load("truth", "gt"), load("recons", "rec")
    out = {}
    alex = nets["alexnet"][0]
    ft, fr = feats(alex, ["features.4", "features.11"], truth, 256), feats(alex, ["features.4", "features.11"], recon, 256)
    n = len(truth)
    for metric, node in (("alexnet2", "features.4"), ("alexnet5", "features.11")):
        real = ft[node].reshape(n, -1).numpy(); pred = fr[node].reshape(n, -1).numpy()
        r = np.corrcoef(real, pred)[:n, n:]
        counts = np.sum(r < np.diag(r), 0)
        out[f"protocol.{metric}"] = (counts / (n - 1)).astype(np.float64)
    eff = nets["efficientnet_b1"][0]
    ft, fr = feats(eff, ["avgpool"], truth, 255), feats(eff, ["avgpool"], recon, 255)
    real = ft["avgpool"].reshape(n, -1).numpy(); pred = fr["avgpool"].reshape(n, -1).numpy()
    out["protocol.efficientnet"] = np.array([1 - np.corrcoef(real[i], pred[i])[0, 1] for i in range(n)])
    for k, v in out.items():
        print(k, v)
    return out


if __name__ == "__main__":
    main()
