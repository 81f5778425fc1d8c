"""Reference scheduler math for tests/BrainMClip.Tests/Fixtures/diffusion/schedulers.safetensors.

Written from the published algorithms, not from diffusers (which is not installed here):
- DDIM (Song et al. 2021, eq. 12 with eta = 0) with diffusers' timestep spacings ("leading", "trailing",
  "linspace"), prev_t = t - T // N, final alpha = alphas_cumprod[0] when set_alpha_to_one is false.
- DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2: multistep second order, data prediction) with
  sigma_t = sqrt((1 - abar_t) / abar_t), alpha_t = 1 / sqrt(sigma_t^2 + 1), lambda_t = log(alpha_t / sigma_t);
  first step and (lower_order_final) last step first order; final sigma 0 ("zero") or sigma(t=0) ("sigma_min").
Math in float64 from the float32 alphas_cumprod. Run: /usr/bin/python3 tests/fixtures-gen/diffusion_schedulers.py
"""
import os

import numpy as np
import torch

from diffusion_common import alphas_cumprod, save_safetensors

OUT = os.path.join(os.path.dirname(__file__), "..", "BrainMClip.Tests", "Fixtures", "diffusion", "schedulers.safetensors")
SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def ddim_timesteps(spacing, n, T=1000, offset=1):
    if spacing == "leading":
        return (np.arange(0, n) * (T // n)).round()[::-1].astype(np.int64) + offset
    if spacing == "trailing":
        return np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
    return np.linspace(0, T - 1, n).round()[::-1].astype(np.int64)


def ddim_step(ac, final, eps, t, x, n, T=1000, prediction="epsilon"):
    prev = t - T // n
    a_t = ac[t].double()
    a_p = ac[prev].double() if prev >= 0 else torch.tensor(float(final), dtype=torch.float64)
    x = x.double(); eps = eps.double()
    if prediction == "epsilon":
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        e = eps
    else:  # v_prediction
        x0 = a_t.sqrt() * x - (1 - a_t).sqrt() * eps
        e = a_t.sqrt() * eps + (1 - a_t).sqrt() * x
    return a_p.sqrt() * x0 + (1 - a_p).sqrt() * e, x0


def dpm_timesteps(spacing, n, T=1000, offset=1):
    if spacing == "linspace":
        return np.linspace(0, T - 1, n + 1).round()[::-1][:-1].astype(np.int64)
    if spacing == "leading":
        return (np.arange(0, n + 1) * (T // (n + 1))).round()[::-1][:-1].astype(np.int64) + offset
    return np.arange(T, 0, -T / n).round().astype(np.int64) - 1


def dpm_solver_pp_2m(ac, ts, x, outputs, final_sigmas_type):
    """Returns sigmas and the sample after every step. outputs[i] is the epsilon prediction at step i."""
    sig = ((1 - ac) / ac) ** 0.5  # float32 as in diffusers
    sigmas = [float(sig[t]) for t in ts]
    sigmas.append(0.0 if final_sigmas_type == "zero" else float(sig[0]))
    sigmas = torch.tensor(sigmas, dtype=torch.float32).double()

    def a_s(s):
        a = 1 / torch.sqrt(s * s + 1)
        return a, s * a

    x = x.double()
    prev_x0, samples, x0s = None, [], []
    n = len(ts)
    for i in range(n):
        alpha_s0, sigma_s0 = a_s(sigmas[i])
        x0 = (x - sigma_s0 * outputs[i].double()) / alpha_s0
        lower_final = i == n - 1 and (n < 15 or final_sigmas_type == "zero")
        if sigmas[i + 1] == 0:
            x_next = x0.clone()
        else:
            alpha_t, sigma_t = a_s(sigmas[i + 1])
            lam_t = torch.log(alpha_t) - torch.log(sigma_t)
            lam_s0 = torch.log(alpha_s0) - torch.log(sigma_s0)
            h = lam_t - lam_s0
            if prev_x0 is None or lower_final:
                x_next = (sigma_t / sigma_s0) * x - alpha_t * (torch.exp(-h) - 1) * x0
            else:
                alpha_s1, sigma_s1 = a_s(sigmas[i - 1])
                lam_s1 = torch.log(alpha_s1) - torch.log(sigma_s1)
                r0 = (lam_s0 - lam_s1) / h
                d1 = (x0 - prev_x0) / r0
                x_next = (sigma_t / sigma_s0) * x - alpha_t * (torch.exp(-h) - 1) * x0 \
                    - 0.5 * alpha_t * (torch.exp(-h) - 1) * d1
        prev_x0 = x0
        x = x_next
        samples.append(x.float())
        x0s.append(x0.float())
    return sigmas.float(), torch.stack(samples), torch.stack(x0s)


def main():
    g = torch.Generator().manual_seed(3)
    ac = alphas_cumprod(SD)
    out = {"alphas_cumprod": ac}
    # DDIM: other spacings and a v_prediction step.
    for spacing, n in [("trailing", 7), ("linspace", 10), ("leading", 6)]:
        ts = ddim_timesteps(spacing, n)
        out[f"ddim_{spacing}_timesteps"] = torch.from_numpy(ts.copy())
        x = torch.randn(2, 4, 5, 6, generator=g)
        eps = torch.randn(2, 4, 5, 6, generator=g)
        out[f"ddim_{spacing}_sample"] = x
        out[f"ddim_{spacing}_model_output"] = eps
        prevs, x0s = [], []
        for t in ts:
            p, x0 = ddim_step(ac, ac[0], eps, int(t), x, n)
            prevs.append(p.float()); x0s.append(x0.float())
        out[f"ddim_{spacing}_prev_sample"] = torch.stack(prevs)
        out[f"ddim_{spacing}_pred_original_sample"] = torch.stack(x0s)
    p, x0 = ddim_step(ac, ac[0], out["ddim_trailing_model_output"], 500, out["ddim_trailing_sample"], 7, prediction="v_prediction")
    out["ddim_vpred_t500_prev_sample"] = p.float()
    out["ddim_vpred_t500_pred_original_sample"] = x0.float()
    # DPM-Solver++(2M): a multi-step run with a fixed sequence of model outputs.
    for name, spacing, n, final in [("dpm_linspace_zero", "linspace", 6, "zero"),
                                    ("dpm_leading_sigmamin", "leading", 5, "sigma_min"),
                                    ("dpm_trailing_zero", "trailing", 4, "zero")]:
        ts = dpm_timesteps(spacing, n)
        x = torch.randn(1, 4, 6, 5, generator=g)
        outputs = torch.randn(n, 1, 4, 6, 5, generator=g)
        sigmas, samples, x0s = dpm_solver_pp_2m(ac, ts, x, outputs, final)
        out[f"{name}_timesteps"] = torch.from_numpy(ts.copy())
        out[f"{name}_sigmas"] = sigmas
        out[f"{name}_sample"] = x
        out[f"{name}_model_outputs"] = outputs
        out[f"{name}_samples"] = samples
        out[f"{name}_pred_original_samples"] = x0s
    save_safetensors(OUT, out)
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
