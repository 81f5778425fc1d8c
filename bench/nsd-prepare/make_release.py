#!/usr/bin/python3
"""A larger miniature NSD release for measuring `nsd prepare`'s peak memory (bench/nsd-prepare/run.sh).

Usage: /usr/bin/python3 make_release.py OUT [SESSIONS] [SIDE]
Grid SIDE^3 (default 40^3 = 64,000 voxels, about half in nsdgeneral), SESSIONS (default 4) NIfTI sessions of
750 random int16 trials, the real design structure (each 10k-index 3 times, shuffled), 2x2 stimuli.
"""
import os
import sys

import h5py
import nibabel as nib
import numpy as np
import scipy.io as sio

out = sys.argv[1]
sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 4
side = int(sys.argv[3]) if len(sys.argv) > 3 else 40
rng = np.random.default_rng(0)
grid = (side, side, side)
aff = np.diag([1.8, 1.8, 1.8, 1.0])

exp = os.path.join(out, "nsddata/experiments/nsd")
roi = os.path.join(out, "nsddata/ppdata/subj01/func1pt8mm/roi")
bdir = os.path.join(out, "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR")
sdir = os.path.join(out, "nsddata_stimuli/stimuli/nsd")
for d in (exp, roi, bdir, sdir):
    os.makedirs(d, exist_ok=True)

shared = rng.choice(73000, 1000, replace=False) + 1
rest = np.setdiff1d(np.arange(1, 73001), shared)
subjectim = np.stack([np.concatenate([shared, rng.choice(rest, 9000, replace=False)]) for _ in range(8)])
mo = rng.permutation(np.tile(np.arange(1, 10001), 3)).reshape(1, 30000)
sio.savemat(os.path.join(exp, "nsd_expdesign.mat"),
            {"masterordering": mo.astype(np.float64), "subjectim": subjectim.astype(np.float64),
             "sharedix": shared.reshape(1, 1000).astype(np.float64)}, do_compression=True)
general = (rng.random(grid) < 0.5).astype(np.float32)
nib.save(nib.Nifti1Image(general, aff), os.path.join(roi, "nsdgeneral.nii.gz"))
for m in ("prf-visualrois", "floc-faces", "floc-bodies", "floc-places", "floc-words"):
    nib.save(nib.Nifti1Image((rng.random(grid) < 0.1).astype(np.int16), aff), os.path.join(roi, m + ".nii.gz"))
for s in range(sessions):
    b = rng.integers(-2000, 2000, grid + (750,), dtype=np.int16)
    nib.save(nib.Nifti1Image(b, aff), os.path.join(bdir, f"betas_session{s + 1:02d}.nii.gz"))
with h5py.File(os.path.join(sdir, "nsd_stimuli.hdf5"), "w") as f:
    f.create_dataset("imgBrick", data=np.zeros((73000, 2, 2, 3), dtype=np.uint8), chunks=(1000, 2, 2, 3),
                     compression="gzip")
print("nsdgeneral voxels", int((general > 0).sum()))
