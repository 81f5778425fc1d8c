"""Seed files for the reader fuzz tests (tests/BrainMClip.Tests/Reliability).

Run with Debian's python:  /usr/bin/python3 tests/fixtures-gen/reliability_fixtures.py
Writes small, valid files in the layouts real tools produce (h5py for HDF5, Pillow for JPEG) under
tests/BrainMClip.Tests/Fixtures/reliability/. The fuzzer mutates them; they only need to be valid and tiny.
"""
import os

import h5py
import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "BrainMClip.Tests", "Fixtures", "reliability")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(8)

# MindEye-style image dataset: (N, 3, H, W) float16 in [0, 1], contiguous layout (as coco_images_224_float16.hdf5).
with h5py.File(os.path.join(OUT, "images_f16.hdf5"), "w", libver="earliest") as f:
    f.create_dataset("images", data=rng.random((3, 3, 8, 8)).astype(np.float16))

# Chunked + gzip + shuffle float32, newest file format (v2 superblock, v2 object headers), plus a second dataset.
with h5py.File(os.path.join(OUT, "images_gzip.h5"), "w", libver="latest") as f:
    f.create_dataset("images", data=rng.random((2, 3, 8, 8)).astype(np.float32), chunks=(1, 3, 8, 8),
                     compression="gzip", compression_opts=4, shuffle=True)
    f.create_dataset("labels", data=np.arange(2, dtype=np.int64))

# uint8 0-255 images inside a group, read as FILE:stimuli/images.
with h5py.File(os.path.join(OUT, "images_u8.hdf5"), "w") as f:
    f.create_group("stimuli").create_dataset("images", data=rng.integers(0, 256, (2, 3, 6, 6), dtype=np.uint8))

# Datasets whose header claims far more data than the file holds (never written, so the file stays tiny): a reader
# that trusted the shape would allocate ~60 GB. Both must be rejected by the size cap.
with h5py.File(os.path.join(OUT, "claims_huge.h5"), "w") as f:
    f.create_dataset("images", shape=(100000, 3, 224, 224), dtype=np.float32, chunks=(1, 3, 224, 224))
    f.create_dataset("contiguous", shape=(100000, 3, 224, 224), dtype=np.float32)

# Baseline and progressive JPEG seeds.
px = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)
Image.fromarray(px).save(os.path.join(OUT, "seed.jpg"), quality=90)
Image.fromarray(px).save(os.path.join(OUT, "seed_progressive.jpg"), quality=75, progressive=True)

# Expected values of the HDF5 seeds, so a test can check the unmutated files decode exactly.
for name in ["images_f16.hdf5", "images_gzip.h5"]:
    with h5py.File(os.path.join(OUT, name)) as f:
        np.save(os.path.join(OUT, name.split(".")[0] + "_expected.npy"), f["images"][()].astype(np.float32))
with h5py.File(os.path.join(OUT, "images_u8.hdf5")) as f:
    np.save(os.path.join(OUT, "images_u8_expected.npy"), f["stimuli/images"][()])
