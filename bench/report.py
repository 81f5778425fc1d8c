"""Aggregates bench/run's raw JSON lines into bench/results.json and prints the comparison table.

Medians pool the timed repetitions of all rounds of a side. With `bench/run --only`, workloads not measured in
this run are kept from the existing results file (each workload records when and under which load it was measured).
With an empty RAW (bench/run --count-flops passes /dev/null) nothing new was measured: the stored results are
re-rendered, i.e. their roofline figures recomputed from the current bench/flops.json, and the file keeps its
run's metadata (threads, machine, BLAS, commit, generated_at) plus the time of the re-render.
Usage: report.py RAW.jsonl OUT.json --threads N [--quick] [--rounds N]
       report.py --merge-flops ROWS.jsonl FLOPS.json   (bench/run --count-flops: merge new counts, keep other rows)
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return f"{cpu}, {os.cpu_count()} logical CPUs, {mem} MB RAM, {platform.system()} {platform.release()}"


FLOPS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flops.json")
# reconstruct_*: K images x steps guided UNet forwards (2 rows each); FLOPs from the batch-2 UNet step of the same model.
PER_ROW_PAIR = {"reconstruct_pixel": "generator_denoise_b2", "reconstruct_vd16": "unet_vd16_b2"}


def flops_of(name, entry, table):
    """FLOPs of one timed call (bench/flops.json, counted from the shapes), or None."""
    base, _, _ = name.partition("@")
    if base in PER_ROW_PAIR:
        pair = table.get(PER_ROW_PAIR[base])
        return pair["flops"] * entry.get("steps", 0) * entry.get("batch", 0) if pair else None
    if base in table:
        return table[base]["flops"]
    return entry.get("harness_flops")  # counted by the harness itself from the shapes (train_step_paper_gemms)


FLOPS_WHAT = ("FLOPs per timed call, counted from the shapes by torch.profiler(with_flops=True) (PyTorch 1.13) running "
              "one call of bench/pytorch/bench.py: mm, addmm, bmm, baddbmm (2MNK; attention's q.k^T and w.v run as "
              "bmm there and are counted) and conv2d (2 x output elements x Cin/groups x kh x kw); conv2d x3 in "
              "training steps (the profiler does not count conv backward); elementwise, normalisation and softmax "
              "work not counted. bench/hand_flops.py counts the CLIP towers, the VD UNet and the VAE decoder by hand "
              "from the layer shapes: equal to the FLOP. Rows with counted_at were (re)counted then. Regenerate: "
              "bench/run --count-flops [--only NAME,...] (merges into this file, then re-renders results.json)")


def merge_flops(rows_path, flops_path):
    """bench/run --count-flops: put the newly counted rows into bench/flops.json, keeping every other row."""
    rows = [json.loads(l) for l in open(rows_path) if l.strip()]
    if not rows:
        raise SystemExit("report.py --merge-flops: no counts in " + rows_path)
    table = json.load(open(flops_path)).get("workloads", {}) if os.path.exists(flops_path) else {}
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for r in rows:
        r["counted_at"] = now
        table[r["name"]] = r
    tmp = flops_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"what": FLOPS_WHAT, "workloads": table}, f, indent=1)
        f.write("\n")
    os.replace(tmp, flops_path)
    import hand_flops  # bench/hand_flops.py: the independent count from the layer shapes
    for r in rows:
        hand = hand_flops.WORKLOADS.get(r["name"])
        check = "" if hand is None else f"; by hand {hand() / 1e9:.1f} GFLOP (difference {r['flops'] - hand()})"
        print(f"flops {r['name']}: {r['flops'] / 1e9:.1f} GFLOP per call ({r['counted']}){check}")


def roofline(name, entry, table, peak):
    """FLOPs, GFLOP/s (wall and CPU time) and the fraction of the BrainMClip GEMM peak measured in the same run."""
    f = flops_of(name, entry, table)
    if not f:
        return
    entry["flops"] = f
    entry["flops_counted"] = "harness (from the shapes)" if f == entry.get("harness_flops") else "bench/flops.json"
    for side in ("brainmclip", "pytorch"):
        times = entry.get(f"{side}_times_ms")
        if not times:
            continue
        call_ms = median(times)  # per call (predict_*: *_ms is per sample)
        entry[f"{side}_gflops"] = f / (call_ms / 1000) / 1e9
        if f"{side}_cpu_ms" in entry and entry[f"{side}_cpu_ms"] > 0:
            # CPU time spread over the threads: what the call needed of the machine when other jobs take turns.
            entry[f"{side}_gflops_cpu"] = f / (entry[f"{side}_cpu_ms"] / 1000 / entry.get("threads", 1)) / 1e9
        if peak.get(side):
            # PyTorch's fraction is of its own BLAS's peak (OpenBLAS), BrainMClip's of MKL's.
            entry[f"{side}_fraction_of_gemm_peak"] = entry[f"{side}_gflops"] / peak[side]
            if f"{side}_gflops_cpu" in entry:
                entry[f"{side}_fraction_of_gemm_peak_cpu"] = entry[f"{side}_gflops_cpu"] / peak[side]


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--merge-flops":
        return merge_flops(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.raw) if l.strip()]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    old = {}
    if os.path.exists(a.out):
        try:
            old = json.load(open(a.out)).get("workloads", {})
        except (ValueError, OSError):
            old = {}

    blas = {}
    for r in rows:
        if r["name"] == "blas_check":
            blas[r["side"]] = {k: r[k] for k in ("gflops", "blas", "blas_libs", "torch_config", "torch") if k in r}
            blas[r["side"]]["matmul"] = "512x2048 @ 2048x2048 float32"
            blas[r["side"]]["load_before"] = r.get("load_before")

    workloads = dict(old)
    names = []
    for r in rows:
        if r["name"] != "blas_check" and r["name"] not in names:
            names.append(r["name"])
    for name in names:
        entry = {"measured_at": now, "quick": a.quick, "rounds": a.rounds}
        for side in ("brainmclip", "pytorch"):
            runs = [r for r in rows if r["name"] == name and r["side"] == side]
            if not runs:
                continue
            errors = [r["error"] for r in runs if "error" in r]
            ok = [r for r in runs if "error" not in r]
            if errors and not ok:
                entry[f"{side}_error"] = errors[0]
                continue
            times = [t for r in ok for t in r.get("times_ms", [r["median_ms"]])]
            m = median(times)
            per = ok[0].get("per") if name.startswith("predict") else None
            # predict_*: latency per fMRI sample (the call's time / batch); everything else: time per call.
            entry[f"{side}_ms"] = m / per if per else m
            entry[f"{side}_times_ms"] = times
            entry[f"{side}_load"] = [r.get("load_before") for r in ok]
            entry[f"{side}_peak_rss_mb"] = max(r.get("peak_rss_mb", -1) for r in ok)
            entry["threads"] = ok[0].get("threads", a.threads)
            if "median_cpu_ms" in ok[0]:
                entry[f"{side}_cpu_ms"] = median([r["median_cpu_ms"] for r in ok])
            if "flops" in ok[0]:
                entry["harness_flops"] = ok[0]["flops"]
            if "phases" in ok[0]:  # --phases: per phase of the step, from the last round
                entry[f"{side}_phases"] = ok[-1]["phases"]
            for k in ("megabytes", "batch", "parameters", "voxels", "preset", "cfg", "output", "tokens", "command", "full",
                      "exit_code", "cold_ms", "decided_route", "probe_runs", "reason", "conv_route", "route", "shapes",
                      "steps", "guidance", "unet_rows", "model", "identical_to_b1", "max_abs_diff_to_b1",
                      "png_bytes_differing_from_b1", "what"):
                if k in ok[0]:
                    entry[k] = ok[0][k]
            if "megabytes" in ok[0]:
                entry[f"{side}_mb_per_s"] = ok[0]["megabytes"] / (m / 1000)
            if "items" in ok[0]:
                entry[f"{side}_images_per_s"] = ok[0]["items"] / (m / 1000)
        if name.startswith("predict"):
            entry["unit"] = "ms per fMRI sample"
        elif name == "demo":
            entry["unit"] = "wall ms of the whole command (no PyTorch counterpart)"
        else:
            entry["unit"] = "ms per call"
        b, p = entry.get("brainmclip_ms"), entry.get("pytorch_ms")
        entry["ratio"] = b / p if b is not None and p else None
        if name in old and "note" in old[name]:
            entry["note"] = old[name]["note"]
        workloads[name] = entry

    table = json.load(open(FLOPS_FILE)) if os.path.exists(FLOPS_FILE) else {}
    table = table.get("workloads", table)
    prev_blas = json.load(open(a.out)).get("blas", {}) if os.path.exists(a.out) else {}
    peak = {side: (blas.get(side) or prev_blas.get(side) or {}).get("gflops") for side in ("brainmclip", "pytorch")}
    for name, entry in workloads.items():
        # Entries measured in this run use this run's GEMM peak; entries kept from earlier runs keep theirs (or take
        # the peak stored with them in the results file), so every fraction compares figures of one run.
        if name in names:
            entry["gemm_peak_gflops"] = peak.get("brainmclip")
            entry["pytorch_gemm_peak_gflops"] = peak.get("pytorch")
        own = {"brainmclip": entry.get("gemm_peak_gflops") or (prev_blas.get("brainmclip") or {}).get("gflops"),
               "pytorch": entry.get("pytorch_gemm_peak_gflops") or (prev_blas.get("pytorch") or {}).get("gflops")}
        entry["gemm_peak_gflops"], entry["pytorch_gemm_peak_gflops"] = own["brainmclip"], own["pytorch"]
        roofline(name, entry, table, own)

    if not rows and os.path.exists(a.out):
        # Re-render (bench/run --count-flops): nothing measured now; keep the run's own metadata.
        result = json.load(open(a.out))
        result["workloads"] = workloads
        result["roofline_rerendered_at"] = now
        result["roofline_rerendered_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                                              capture_output=True, text=True).stdout.strip()
    else:
        result = new_result(a, workloads, blas, now)
    write_and_print(a, result, workloads, names)


def new_result(a, workloads, blas, now):
    return {
        "workloads": workloads,
        "threads": a.threads,
        "machine": machine(),
        "blas": blas or json.load(open(a.out)).get("blas", {}) if os.path.exists(a.out) else blas,
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "GLIBC_TUNABLES")},
        "load_average_at_report": open("/proc/loadavg").read().split()[:3],
        "generated_at": now,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
    }


def write_and_print(a, result, workloads, names):
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(tmp, a.out)

    print(f"{'workload':<18} {'BrainMClip ms':>14} {'PyTorch ms':>12} {'ratio':>7}  extra")
    for name, e in workloads.items():
        b, p, r = e.get("brainmclip_ms"), e.get("pytorch_ms"), e.get("ratio")
        extra = []
        if "brainmclip_cpu_ms" in e and name.split("@")[0] in ("conv_probe", "conv_tail_layers", "generator_step", "generator_denoise_b2"):
            extra.append(f"CPU {e['brainmclip_cpu_ms']:.1f} ms")
        if "cold_ms" in e:
            extra.append(f"first probe of a process {e['cold_ms']:.0f} ms -> {e.get('decided_route')}")
        if "brainmclip_images_per_s" in e:
            extra.append(f"img/s {e['brainmclip_images_per_s']:.2f} vs {e.get('pytorch_images_per_s', float('nan')):.2f}")
        if "brainmclip_gflops" in e:
            extra.append(f"{e['flops'] / 1e9:.1f} GFLOP, {e['brainmclip_gflops']:.1f} GFLOP/s = "
                         f"{100 * e.get('brainmclip_fraction_of_gemm_peak', 0):.0f}% of GEMM peak"
                         + (f" (CPU time: {100 * e['brainmclip_fraction_of_gemm_peak_cpu']:.0f}%)"
                            if "brainmclip_fraction_of_gemm_peak_cpu" in e else ""))
        if "brainmclip_peak_rss_mb" in e and name != "demo":
            extra.append(f"RSS {e['brainmclip_peak_rss_mb']} / {e.get('pytorch_peak_rss_mb', '-')} MB")
        if "identical_to_b1" in e:
            extra.append(f"identical to K=1: {e['identical_to_b1']}"
                         + (f" (max |d| {e['max_abs_diff_to_b1']:.1e}, {e.get('png_bytes_differing_from_b1')} PNG bytes)"
                            if "max_abs_diff_to_b1" in e else ""))
        if "brainmclip_mb_per_s" in e:
            extra.append(f"MB/s {e['brainmclip_mb_per_s']:.0f} vs {e.get('pytorch_mb_per_s', float('nan')):.0f}")
        if name == "demo":
            extra.append(f"peak RSS {e.get('brainmclip_peak_rss_mb')} MB, {e.get('command')}")
        if "brainmclip_error" in e or "pytorch_error" in e:
            extra.append("error: " + str(e.get("brainmclip_error") or e.get("pytorch_error")))
        fmt = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "-"
        mark = "" if name in names else " (earlier run)"
        print(f"{name:<18} {fmt(b):>14} {fmt(p):>12} {fmt(r):>7}  {'; '.join(extra)}{mark}")
    for side, info in result["blas"].items():
        print(f"BLAS {side}: {info.get('gflops', 0):.1f} GFLOP/s matmul; {info.get('blas') or ', '.join(info.get('blas_libs', []))}")
    print(f"threads {result['threads']}; {result['machine']}; load at report {' '.join(result['load_average_at_report'])}; wrote {a.out}")


if __name__ == "__main__":
    main()
