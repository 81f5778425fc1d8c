#!/usr/bin/python3
"""Writes the data-layer test fixtures with an independent writer (numpy + nibabel).

Run with Debian's python:  /usr/bin/python3 tests/fixtures-gen/data_fixtures.py
Output: tests/BrainMClip.Tests/Fixtures/data/ (small; committed). Tests never run this script.

- npy/: arrays in .npy format versions 1.0, 2.0 and 3.0 for float64/float32/int16/uint8, a Fortran-order file,
  and npy_expected.json with each array's shape and values (C order).
- nifti/: 5x6x7 volumes as .nii and .nii.gz for uint8/int16/int32/float32/float64, an int16 file with
  scl_slope/scl_inter, a big-endian file, a 4-D file with dim[4] = 1, a complex64 file (unsupported), and
  nifti_expected.json with nibabel's get_fdata() values in C order over [x, y, z].
- nsd/: a tiny Brain-Diffuser-layout data root (docs/data.md) with subjects 1 and 2, ROI masks on a 5x6x7 grid
  (non-cubic so voxel-order mistakes show) and, under nsd/expected/, the detail/semantic/low matrices computed
  with numpy's mask[mask > 0] C-order indexing, raw (beta-scaled) and z-scored with training statistics.
"""
import json
import os
import shutil

import nibabel as nib
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "BrainMClip.Tests", "Fixtures", "data")
AFFINE = np.diag([1.8, 1.8, 1.8, 1.0])
SHAPE = (5, 6, 7)


def write_npy(path, arr, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version, allow_pickle=False)


def npy_fixtures(rng):
    d = os.path.join(OUT, "npy")
    os.makedirs(d, exist_ok=True)
    arrays = {
        "float64": rng.normal(size=(3, 4)) * 100,
        "float32": (rng.normal(size=(2, 3, 4)) * 10).astype(np.float32),
        "int16": rng.integers(-30000, 30000, size=(5, 3)).astype(np.int16),
        "uint8": rng.integers(0, 256, size=(2, 4, 4, 3)).astype(np.uint8),
    }
    expected = {}
    for name, a in arrays.items():
        for v in (1, 2, 3):
            fn = f"{name}_v{v}.npy"
            write_npy(os.path.join(d, fn), a, (v, 0))
            expected[fn] = {"dtype": name, "shape": list(a.shape), "values": [float(x) for x in a.ravel(order="C")]}
    vec = np.arange(7, dtype=np.float64) * 0.5
    np.save(os.path.join(d, "vector_v1.npy"), vec)
    expected["vector_v1.npy"] = {"dtype": "float64", "shape": [7], "values": vec.tolist()}
    fort = np.asfortranarray(rng.normal(size=(3, 5)))
    np.save(os.path.join(d, "fortran.npy"), fort)
    assert b"'fortran_order': True" in open(os.path.join(d, "fortran.npy"), "rb").read(128)
    with open(os.path.join(d, "npy_expected.json"), "w") as f:
        json.dump(expected, f)


def nifti_fixtures(rng):
    d = os.path.join(OUT, "nifti")
    os.makedirs(d, exist_ok=True)
    expected = {}

    def save(img, fn):
        path = os.path.join(d, fn)
        nib.save(img, path)
        back = nib.load(path)
        # The loaded image's header has its scaling reset; the array proxy keeps the file's values.
        slope, inter = float(back.dataobj.slope), float(back.dataobj.inter)
        expected[fn] = {
            "shape": list(back.shape[:3]),
            "datatype": int(back.header["datatype"]),
            "slope": slope,
            "inter": inter,
            "values": [float(x) for x in np.asarray(back.get_fdata()).reshape(back.shape[:3]).ravel(order="C")],
        }

    datas = {
        "uint8": rng.integers(0, 256, size=SHAPE).astype(np.uint8),
        "int16": rng.integers(-2000, 2000, size=SHAPE).astype(np.int16),
        "int32": rng.integers(-100000, 100000, size=SHAPE).astype(np.int32),
        "float32": rng.normal(size=SHAPE).astype(np.float32),
        "float64": rng.normal(size=SHAPE) * 1e3,
    }
    for name, a in datas.items():
        for ext in (".nii", ".nii.gz"):
            img = nib.Nifti1Image(a, AFFINE)
            img.set_data_dtype(a.dtype)
            save(img, name + ext)

    # Float values stored as int16: nibabel picks scl_slope/scl_inter itself; we check it really scaled.
    f = rng.uniform(100.0, 130.0, size=SHAPE)
    img = nib.Nifti1Image(f, AFFINE)
    img.set_data_dtype(np.int16)
    save(img, "int16_scaled.nii.gz")
    e = expected["int16_scaled.nii.gz"]
    assert e["slope"] != 1.0 and e["inter"] != 0.0, (e["slope"], e["inter"])

    hdr = nib.Nifti1Header(endianness=">")
    img = nib.Nifti1Image(datas["float32"], AFFINE, header=hdr)
    img.set_data_dtype(np.dtype(">f4"))
    save(img, "float32_bigendian.nii")
    assert open(os.path.join(d, "float32_bigendian.nii"), "rb").read(4) == (348).to_bytes(4, "big")

    img = nib.Nifti1Image(datas["int16"][..., None], AFFINE)
    save(img, "int16_4d.nii.gz")
    assert expected["int16_4d.nii.gz"]["shape"] == list(SHAPE)

    # A header extension moves vox_offset beyond 352.
    img = nib.Nifti1Image(datas["float64"], AFFINE)
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"BrainMClip fixture: vox_offset > 352"))
    save(img, "float64_extension.nii")
    raw = open(os.path.join(d, "float64_extension.nii"), "rb").read(352)
    assert np.frombuffer(raw[108:112], "<f4")[0] > 352 and raw[348] == 1, "extension not written" 

    img = nib.Nifti1Image(rng.normal(size=SHAPE).astype(np.complex64), AFFINE)
    nib.save(img, os.path.join(d, "complex64.nii.gz"))

    with open(os.path.join(d, "nifti_expected.json"), "w") as f:
        json.dump(expected, f)


PRF_NAMES = ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"]
FLOC = {
    "floc-faces": ["OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"],
    "floc-bodies": ["EBA", "FBA-1", "FBA-2", "mTL-bodies"],
    "floc-places": ["OPA", "PPA", "RSC"],
    "floc-words": ["OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"],
}


def nsd_subject(rng, root, subj, n_train, n_test, fmri_dtype, stim_float, scale):
    roi_dir = os.path.join(root, "nsddata", "ppdata", f"subj0{subj}", "func1pt8mm", "roi")
    proc = os.path.join(root, "processed_data", f"subj0{subj}")
    os.makedirs(roi_dir, exist_ok=True)
    os.makedirs(proc, exist_ok=True)

    brain = rng.random(SHAPE) < 0.85
    nsdgeneral = np.where(brain, (rng.random(SHAPE) < 0.55).astype(np.int16), -1).astype(np.int16)
    masks = {"nsdgeneral": nsdgeneral}

    def labels(n_labels, frac):
        lab = rng.integers(1, n_labels + 1, size=SHAPE)
        m = np.where(rng.random(SHAPE) < frac, lab, 0)
        return np.where(brain, m, -1).astype(np.int16)

    masks["prf-visualrois"] = labels(7, 0.35)
    for name, names in FLOC.items():
        masks[name] = labels(len(names), 0.15)
    for name, m in masks.items():
        # prf-visualrois as float32 to exercise a float mask; the others int16 as in NSD.
        dt = np.float32 if name == "prf-visualrois" else np.int16
        img = nib.Nifti1Image(m.astype(dt), AFFINE)
        img.set_data_dtype(dt)
        nib.save(img, os.path.join(roi_dir, name + ".nii.gz"))

    sel = nsdgeneral > 0
    n_d = int(sel.sum())
    # The protocol's indexing: boolean mask on the [x, y, z] array = C order, z fastest.
    flocs = np.stack([masks[n][sel] > 0 for n in FLOC])
    semantic = np.nonzero(flocs.any(axis=0))[0]
    low = np.nonzero(masks["prf-visualrois"][sel] > 0)[0]
    rois = {}
    for i, n in enumerate(PRF_NAMES):
        rois[n] = int((masks["prf-visualrois"][sel] == i + 1).sum())
    for mname, names in FLOC.items():
        for i, n in enumerate(names):
            rois[n] = int((masks[mname][sel] == i + 1).sum())

    data = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.normal(size=(n, n_d)) + rng.normal(size=(1, n_d)) * 0.5
        x = x * scale
        if fmri_dtype == np.int16:
            x = np.round(x)
        x = x.astype(fmri_dtype)
        data[split] = x
        np.save(os.path.join(proc, f"nsd_{split}_fmriavg_nsdgeneral_sub{subj}.npy"), x)
        stim = rng.integers(0, 256, size=(n, 8, 10, 3))
        stim = stim.astype(np.float64) if stim_float else stim.astype(np.uint8)
        np.save(os.path.join(proc, f"nsd_{split}_stim_sub{subj}.npy"), stim)

    # The beta-scale rule of docs/data.md (auto): /300 when int16 or train |mean| > 30.
    train = data["train"].astype(np.float64)
    divisor = 300.0 if (fmri_dtype == np.int16 or np.abs(train).mean() > 30) else 1.0
    exp_dir = os.path.join(root, "expected")
    os.makedirs(exp_dir, exist_ok=True)
    scaled = {s: data[s].astype(np.float64) / divisor for s in data}
    streams = {"detail": np.arange(n_d), "semantic": semantic, "low": low}
    for sname, idx in streams.items():
        tr = scaled["train"][:, idx].astype(np.float32).astype(np.float64)
        mean = tr.mean(axis=0)
        std = tr.std(axis=0, ddof=1)
        std[std == 0] = 1.0
        for split in ("train", "test"):
            # Column fancy-indexing yields Fortran-ordered arrays; store C order like real exchange files.
            raw = np.ascontiguousarray(scaled[split][:, idx].astype(np.float32))
            np.save(os.path.join(exp_dir, f"subj0{subj}_{split}_{sname}.npy"), raw)
            z = np.ascontiguousarray(((raw.astype(np.float64) - mean) / std).astype(np.float32))
            np.save(os.path.join(exp_dir, f"subj0{subj}_{split}_{sname}_z.npy"), z)
    info = {
        "subject": subj, "train_samples": n_train, "test_samples": n_test, "voxels_detail": n_d,
        "voxels_semantic": int(len(semantic)), "voxels_low": int(len(low)), "image_shape": [8, 10, 3],
        "beta_divisor": divisor, "rois": rois,
    }
    with open(os.path.join(exp_dir, f"subj0{subj}_info.json"), "w") as f:
        json.dump(info, f, indent=1)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    rng = np.random.default_rng(20260127)
    npy_fixtures(rng)
    nifti_fixtures(rng)
    root = os.path.join(OUT, "nsd")
    nsd_subject(rng, root, 1, 6, 4, np.float64, False, 300.0)  # NSD-like ×300 betas: auto divides by 300
    nsd_subject(rng, root, 2, 5, 3, np.float32, True, 1.0)     # already-scaled float32, float64 stimuli
    nsd_subject(rng, root, 3, 4, 2, np.int16, False, 300.0)    # int16 betas: auto divides by 300
    print("wrote", OUT)


if __name__ == "__main__":
    main()
