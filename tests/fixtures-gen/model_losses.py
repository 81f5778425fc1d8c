"""Reference values for the BrainMCLIP loss terms (docs/model.md), computed independently with PyTorch.

Run with Debian's /usr/bin/python3 (torch 1.13):  /usr/bin/python3 tests/fixtures-gen/model_losses.py
Writes tests/BrainMClip.Tests/Fixtures/model/losses.json.
soft_clip_loss is MindBridge's function (utils.py) verbatim in behaviour.
"""
import json, os
import torch
import torch.nn.functional as F

def soft_clip_loss(preds, targs, temp=0.125):
    clip_clip = (targs @ targs.T) / temp
    brain_clip = (preds @ targs.T) / temp
    loss1 = -(brain_clip.log_softmax(-1) * clip_clip.softmax(-1)).sum(-1).mean()
    loss2 = -(brain_clip.T.log_softmax(-1) * clip_clip.softmax(-1)).sum(-1).mean()
    return (loss1 + loss2) / 2

torch.manual_seed(7)
cases = []
for (b, t, c, temp) in [(3, 2, 4, 0.5), (4, 3, 5, 0.005), (5, 2, 3, 0.1)]:
    p = torch.randn(b, t, c, dtype=torch.float64)
    y = p * 0.5 + torch.randn(b, t, c, dtype=torch.float64)
    pn = F.normalize(p.flatten(1), dim=-1)
    yn = F.normalize(y.flatten(1), dim=-1)
    glob = soft_clip_loss(pn, yn, temp)
    tok = (1 - F.cosine_similarity(p, y, dim=-1)).mean()
    mse = F.mse_loss(pn, yn)
    cases.append(dict(shape=[b, t, c], temperature=temp,
                      preds=p.flatten().tolist(), targets=y.flatten().tolist(),
                      global_=glob.item(), token=tok.item(), mse=mse.item()))
out = os.path.join(os.path.dirname(__file__), "..", "BrainMClip.Tests", "Fixtures", "model", "losses.json")
with open(out, "w") as f:
    json.dump({"generator": "tests/fixtures-gen/model_losses.py (torch %s)" % torch.__version__,
               "cases": [{("global" if k == "global_" else k): v for k, v in cs.items()} for cs in cases]}, f, indent=1)
print("wrote", out)
