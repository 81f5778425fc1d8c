#!/usr/bin/python3
"""A miniature NSD release written with the reference tools, plus Brain-Diffuser's prepared outputs for it.

Run with Debian's python:  /usr/bin/python3 tests/fixtures-gen/nsd_release_fixture.py
Output: tests/BrainMClip.Tests/Fixtures/data/nsd_release/ (committed, < 1 MB). Tests never run this script.

Independent of `brainmclip synth --nsd-release` (other sizes, other writers): scipy.io.savemat writes the design,
nibabel the 4-D betas and the ROI masks, h5py the HDF5 betas and nsd_stimuli.hdf5.

release/  (the NSD layout; subject 3 only)
  nsddata/experiments/nsd/nsd_expdesign.mat   masterordering 1x30000, subjectim 8x10000, sharedix 1x1000 (1-based),
                                               plus unrelated variables (a char array, a 3-D matrix) as the real
                                               file has; compressed (MATLAB -v7 style)
  nsddata_betas/ppdata/subj03/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session0{1,2,3}.nii.gz
      int16 5x4x3x750 (x, y, z, trial); the same values as .hdf5 (dataset 'betas', int16 750x3x4x5, gzip, chunks of
      10 trials so reads cross chunk boundaries)
  nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5   imgBrick 73000x2x2x3 uint8 (gzip), pixels encode the 73k id
  nsddata/ppdata/subj03/func1pt8mm/roi/{nsdgeneral,prf-visualrois,floc-*}.nii.gz on the 5x4x3 grid
      (nsdgeneral stored as float32 with -1/0/1; the others int16 labels)

The first three sessions show only 240 of the subject's training images and 40 shared ones (each many times), so
the expected matrices stay small; the real design shows each image 3 times over 40 sessions, which the code does
not assume. Voxel 5 (C order) is constant in session 2, for the z-score path.

expected/  computed exactly as Brain-Diffuser's data/prepare_nsddata.py does (float32 betas from get_fdata(),
  fmri[sorted(trials)].mean(0) into float64 rows, distinct images in order of first appearance):
  {all,s2,z}_{train,test}_fmri.npy   all 3 sessions / --sessions 2 / all 3 with --zscore-sessions (float64)
  {all,s2}_{train,test}_nsdid.npy    0-based 73k ids (int64), row order
  all_{train,test}_stim.npy          uint8 rows of imgBrick
  counts.json                         rows, trials and repetitions per case
"""
import json
import os
import shutil

import h5py
import nibabel as nib
import numpy as np
import scipy.io as sio

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "BrainMClip.Tests", "Fixtures", "data", "nsd_release")
SUB = 3
GRID = (5, 4, 3)           # x, y, z: non-cubic so order mistakes show
SESSIONS = 3
T = 750
S = 2                      # image side


def design(rng):
    shared = rng.choice(73000, 1000, replace=False) + 1
    subjectim = np.zeros((8, 10000), dtype=np.float64)
    for s in range(8):
        rest = np.setdiff1d(np.arange(1, 73001), shared)
        subjectim[s, :1000] = shared
        subjectim[s, 1000:] = rng.choice(rest, 9000, replace=False)
    mo = np.zeros(30000, dtype=np.float64)
    first = SESSIONS * T
    # Early sessions: 240 training 10k-indices (1001..1240) and 40 shared ones (1..40), ~1/8 of trials shared.
    is_test = rng.random(first) < 0.125
    mo[:first] = np.where(is_test, rng.integers(1, 41, first), rng.integers(1001, 1241, first))
    mo[first:] = rng.integers(1, 10001, 30000 - first)
    # Integer classes, as Brain-Diffuser's direct indexing implies the real file has.
    return (mo.reshape(1, 30000).astype(np.uint16), subjectim.astype(np.int32),
            shared.astype(np.int32).reshape(1, 1000))


def masks(rng):
    n = int(np.prod(GRID))
    general = np.where(rng.random(n) < 0.7, 1.0, 0.0)
    general[:3] = -1.0                              # outside the brain
    general[10] = 0.0
    vols = {"nsdgeneral": general.reshape(GRID).astype(np.float32)}
    labels = {"prf-visualrois": 7, "floc-faces": 5, "floc-bodies": 4, "floc-places": 3, "floc-words": 5}
    for name, k in labels.items():
        v = np.where(rng.random(n) < 0.3, rng.integers(1, k + 1, n), 0)
        vols[name] = v.reshape(GRID).astype(np.int16)
    return vols


def write_nifti(path, arr, dtype):
    img = nib.Nifti1Image(arr.astype(dtype), np.diag([1.8, 1.8, 1.8, 1.0]))
    img.header.set_data_dtype(dtype)
    nib.save(img, path)


def betas(rng, subjectim, mo):
    """(sessions, 750, x, y, z) int16: an image-dependent signal plus small trial noise."""
    n = int(np.prod(GRID))
    tuning = rng.integers(-40, 40, (73000 % 997 + 1, n))
    out = np.zeros((SESSIONS, T, n), dtype=np.int16)
    for s in range(SESSIONS):
        for j in range(T):
            t = s * T + j
            img = int(subjectim[SUB - 1, int(mo[0, t]) - 1]) - 1
            out[s, j] = tuning[img % tuning.shape[0]] + rng.integers(-6, 7, n)
    out[1, :, 5] = 123                              # constant in session 2 (voxel 5 in C order)
    return out.reshape(SESSIONS, T, *GRID)


def stimuli():
    ids = np.arange(73000)
    img = np.zeros((73000, S, S, 3), dtype=np.uint8)
    img[:, 0, 0, 0] = ids % 256
    img[:, 0, 0, 1] = ids // 256
    img[:, 1, 1, 2] = (ids * 7) % 251
    return img


def brain_diffuser(root, sessions, zscore=False):
    """prepare_nsddata.py's selection and averaging (its code reads 37 sessions; here `sessions`)."""
    d = sio.loadmat(os.path.join(root, "nsddata/experiments/nsd/nsd_expdesign.mat"), squeeze_me=True)
    sig_train, sig_test = {}, {}
    for idx in range(sessions * T):
        nsd_id = d["subjectim"][SUB - 1, d["masterordering"][idx] - 1] - 1
        target = sig_train if d["masterordering"][idx] > 1000 else sig_test
        target.setdefault(nsd_id, []).append(idx)
    roi = os.path.join(root, f"nsddata/ppdata/subj{SUB:02d}/func1pt8mm/roi/")
    mask = nib.load(roi + "nsdgeneral.nii.gz").get_fdata()
    nv = mask[mask > 0].shape[0]
    fmri = np.zeros((sessions * T, nv)).astype(np.float32)
    bdir = os.path.join(root, f"nsddata_betas/ppdata/subj{SUB:02d}/func1pt8mm/betas_fithrf_GLMdenoise_RR/")
    for i in range(sessions):
        beta_f = nib.load(bdir + f"betas_session{i + 1:02d}.nii.gz").get_fdata().astype(np.float32)
        x = beta_f[mask > 0].transpose()
        if zscore:   # MindEye's convention: each voxel over its session's trials, ddof 0, constant -> 0
            x64 = x.astype(np.float64)
            mu, sd = x64.mean(0), x64.std(0)
            x = np.where(sd > 0, (x64 - mu) / np.where(sd > 0, sd, 1), 0).astype(np.float32)
        fmri[i * T:(i + 1) * T] = x
    f = h5py.File(os.path.join(root, "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"), "r")
    stim = f["imgBrick"][:]
    res = {}
    for split, sig in (("train", sig_train), ("test", sig_test)):
        ids = list(sig.keys())
        arr = np.zeros((len(ids), nv))
        st = np.zeros((len(ids), S, S, 3), dtype=np.uint8)
        for i, idx in enumerate(ids):
            st[i] = stim[idx]
            arr[i] = fmri[sorted(sig[idx])].mean(0)
        res[split] = (arr, np.array(ids, dtype=np.int64), st, [len(sig[i]) for i in ids])
    return res


def main():
    rng = np.random.default_rng(26)
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    root = os.path.join(OUT, "release")
    exp = os.path.join(root, "nsddata/experiments/nsd")
    roi = os.path.join(root, f"nsddata/ppdata/subj{SUB:02d}/func1pt8mm/roi")
    bdir = os.path.join(root, f"nsddata_betas/ppdata/subj{SUB:02d}/func1pt8mm/betas_fithrf_GLMdenoise_RR")
    sdir = os.path.join(root, "nsddata_stimuli/stimuli/nsd")
    for d in (exp, roi, bdir, sdir, os.path.join(OUT, "expected")):
        os.makedirs(d)
    mo, subjectim, shared = design(rng)
    sio.savemat(os.path.join(exp, "nsd_expdesign.mat"), {
        "masterordering": mo, "subjectim": subjectim, "sharedix": shared,
        "stimpattern": rng.integers(0, 2, (4, 3, 5)).astype(np.float64), "note": "miniature",
    }, do_compression=True)
    for name, vol in masks(rng).items():
        write_nifti(os.path.join(roi, name + ".nii.gz"), vol, vol.dtype)
    b = betas(rng, subjectim, mo)
    for s in range(SESSIONS):
        write_nifti(os.path.join(bdir, f"betas_session{s + 1:02d}.nii.gz"), np.moveaxis(b[s], 0, -1), np.int16)
        with h5py.File(os.path.join(bdir, f"betas_session{s + 1:02d}.hdf5"), "w") as f:
            rev = np.ascontiguousarray(np.transpose(b[s], (0, 3, 2, 1)))   # 750 x Z x Y x X
            f.create_dataset("betas", data=rev, chunks=(10,) + rev.shape[1:], compression="gzip")
    with h5py.File(os.path.join(sdir, "nsd_stimuli.hdf5"), "w") as f:
        f.create_dataset("imgBrick", data=stimuli(), chunks=(1000, S, S, 3), compression="gzip")

    counts = {}
    for case, sessions, z in (("all", 3, False), ("s2", 2, False), ("z", 3, True)):
        res = brain_diffuser(root, sessions, z)
        counts[case] = {}
        for split, (arr, ids, st, reps) in res.items():
            np.save(os.path.join(OUT, "expected", f"{case}_{split}_fmri.npy"), arr)
            if case != "z":
                np.save(os.path.join(OUT, "expected", f"{case}_{split}_nsdid.npy"), ids)
            if case == "all":
                np.save(os.path.join(OUT, "expected", f"{case}_{split}_stim.npy"), st)
            counts[case][split] = {"rows": len(ids), "trials": int(sum(reps)), "repetitions": reps}
    with open(os.path.join(OUT, "expected", "counts.json"), "w") as f:
        json.dump(counts, f)


if __name__ == "__main__":
    main()
