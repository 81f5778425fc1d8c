#!/usr/bin/python3
"""Writes the MAT-v5 reader's fixtures with SciPy's independent writer (scipy.io.savemat).

Run with Debian's python:  /usr/bin/python3 tests/fixtures-gen/mat_fixtures.py
Output: tests/BrainMClip.Tests/Fixtures/data/mat/ (a few KB; committed). Tests never run this script.

- numeric.mat (do_compression=False) and numeric_z.mat (do_compression=True): one variable per numeric class
  (double, single, int8..uint64), a non-symmetric 3x4 matrix (so row/column-major mistakes show), a row vector,
  a scalar, a 3-D 2x3x4 array, a logical array and short names (SciPy packs <= 4-byte payloads as "small data
  elements").
- unsupported.mat: a cell, a struct, a sparse matrix, a complex matrix and a char array beside one readable matrix.
- mat_expected.json: each numeric variable's MATLAB dims, class name and values in C (row-major) order.
"""
import json
import os

import numpy as np
import scipy.io as sio
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "BrainMClip.Tests", "Fixtures", "data", "mat")


def numeric_vars():
    a = np.arange(12, dtype=np.float64).reshape(3, 4) * 10 + np.array([0.5, 1.25, -2, 3])
    return {
        "a": a,                                                        # double 3x4
        "single32": np.array([[1.5, -2.25, 3], [4, 5e-3, -6e7]], dtype=np.float32),
        "i8": np.array([[-128, 0, 127], [1, -1, 5]], dtype=np.int8),
        "u8": np.array([[0, 255], [7, 9], [100, 3]], dtype=np.uint8),
        "i16": np.array([[-32768, 32767, -300, 12]], dtype=np.int16),
        "u16": np.array([[65535], [0], [1234]], dtype=np.uint16),
        "i32": np.array([[-2147483648, 2147483647], [-5, 6]], dtype=np.int32),
        "u32": np.array([[4294967295, 1, 2]], dtype=np.uint32),
        "i64": np.array([[-(2 ** 52), 2 ** 52, 3], [4, -5, 6]], dtype=np.int64),
        "u64": np.array([[2 ** 53, 0], [17, 99]], dtype=np.uint64),
        "row": np.array([9.0, 8, 7, 6, 5]),                            # 1-D: saved as 1x5
        "s": np.array([[42]], dtype=np.uint8),                           # scalar, 1 byte: small data element
        "cube": np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 1.5 - 7,
        "flag": np.array([[True, False, True]]),                         # logical (uint8 class)
        "masterordering": (np.arange(30, dtype=np.float64) * 7 % 30 + 1).reshape(1, 30),
    }


def class_of(arr):
    return {
        np.float64: "double", np.float32: "single", np.int8: "int8", np.uint8: "uint8", np.int16: "int16",
        np.uint16: "uint16", np.int32: "int32", np.uint32: "uint32", np.int64: "int64", np.uint64: "uint64",
        np.bool_: "uint8",
    }[arr.dtype.type]


def cell_array():
    c = np.empty((1, 2), dtype=object)
    c[0, 0] = np.array([[1.0]])
    c[0, 1] = np.array([[2.0, 3.0]])
    return c


def main():
    os.makedirs(OUT, exist_ok=True)
    v = numeric_vars()
    sio.savemat(os.path.join(OUT, "numeric.mat"), v, do_compression=False)
    sio.savemat(os.path.join(OUT, "numeric_z.mat"), v, do_compression=True)
    expected = {}
    for name in v:
        back = sio.loadmat(os.path.join(OUT, "numeric.mat"))[name]   # MATLAB's view: at least 2-D
        expected[name] = {
            "dims": list(back.shape),
            "class": class_of(v[name]),
            "values": [float(x) for x in np.ascontiguousarray(back).astype(np.float64).ravel(order="C")],
        }
    with open(os.path.join(OUT, "mat_expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    sio.savemat(os.path.join(OUT, "unsupported.mat"), {
        "cellvar": cell_array(),
        "structvar": {"x": np.array([[1.0]]), "y": np.array([[2.0]])},
        "sparsevar": sp.csc_matrix(np.array([[0, 1.0], [2.0, 0]])),
        "complexvar": np.array([[1 + 2j, 3 - 4j]]),
        "charvar": "hello",
        "ok": np.array([[1.0, 2.0], [3.0, 4.0]]),
    }, do_compression=False)


if __name__ == "__main__":
    main()
