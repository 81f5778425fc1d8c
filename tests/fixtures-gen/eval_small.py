#!/usr/bin/python3
"""Independent numpy/scipy references for 2-way identification, correlation distance, RSA and CKA.

    /usr/bin/python3 tests/fixtures-gen/eval_small.py
writes tests/BrainMClip.Tests/Fixtures/eval/{twoway,layers}.safetensors.
"""
import os, sys
import numpy as np
from scipy.stats import spearmanr
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_st

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "BrainMClip.Tests", "Fixtures", "eval")


def twoway():
    rng = np.random.default_rng(7)
    n, d = 14, 40
    real = rng.normal(size=(n, d)).astype(np.float32)
    pred = (0.6 * real + rng.normal(size=(n, d))).astype(np.float32)
    # Ties: duplicated real rows give r[i][j] == r[j][j] exactly for those pairs (not counted: strict <).
    real[3] = real[2]
    real[9] = real[8]
    pred[5] = real[5]          # a perfect prediction (r = 1 after clipping)
    pred[11] = pred[10]        # two identical predictions
    r = np.corrcoef(real, pred)[:n, n:]           # MindEye: np.corrcoef(reals, preds)
    congruents = np.diag(r)
    success = r < congruents                      # broadcasting over rows: success[i, j] = r[i, j] < r[j, j]
    counts = np.sum(success, 0)
    score = np.mean(counts) / (n - 1)
    dist = np.array([1 - np.corrcoef(real[i], pred[i])[0, 1] for i in range(n)])
    eval_st.save(os.path.join(OUT, "twoway.safetensors"), {
        "real": real, "pred": pred, "twoway_counts": counts.astype(np.int64),
        "twoway_score": np.array([score]), "corr_distance": np.array([dist.mean()]),
        "corr_distance_per_image": dist})
    print("twoway", counts, score, dist.mean())


def rdm(x):
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    m = 1 - np.corrcoef(x)
    iu = np.triu_indices(x.shape[0], k=1)
    return m[iu]


def cka(x, y):
    x = x.reshape(x.shape[0], -1).astype(np.float64); y = y.reshape(y.shape[0], -1).astype(np.float64)
    x = x - x.mean(0); y = y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def layers():
    rng = np.random.default_rng(11)
    n = 12
    base = rng.normal(size=(n, 6))
    layer_list = [np.tanh(base @ rng.normal(size=(6, 3 * k + 8)) + 0.5 * rng.normal(size=(n, 3 * k + 8))).reshape(n, -1, 1)
                  for k in range(4)]
    layer_list = [l.astype(np.float32) for l in layer_list]
    rois = {"low": base @ rng.normal(size=(6, 9)) + rng.normal(size=(n, 9)),
            "faces": rng.normal(size=(n, 5)),
            "nsdgeneral": base @ rng.normal(size=(6, 20))}
    rois = {k: v.astype(np.float32) for k, v in rois.items()}
    roi_names = list(rois)
    rsa = np.array([[spearmanr(rdm(l), rdm(rois[r])).correlation for r in roi_names] for l in layer_list])
    ck = np.array([[cka(a, b) for b in layer_list] for a in layer_list])
    t = {f"layer.{i}": l for i, l in enumerate(layer_list)}
    t.update({f"roi.{k}": v for k, v in rois.items()})
    t["rsa"] = rsa; t["cka"] = ck
    eval_st.save(os.path.join(OUT, "layers.safetensors"), t, {"roi_order": ",".join(roi_names)})
    print("rsa", rsa); print("cka", ck)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    twoway(); layers()
