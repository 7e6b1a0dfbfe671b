#!/usr/bin/env python3
"""Write the seed inputs of the fuzz targets (corpus/<target>/seed-*). Seeds are small valid
examples of each input, the start of libFuzzer's search; the inputs that found bugs are kept beside
them (corpus/<target>/bug-*) and are not written here. Run from anywhere:
    /usr/bin/python3 Testing/fuzz/make_seeds.py
Needs numpy only. Each image seed is a selector byte (fuzz_image.c) followed by the file."""
import gzip
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def nifti(arr, datatype, bitpix, pixdim=(0.75, 0.75, 3.0), qform=1, sform=0, srow=None, scl=(0.0, 0.0)):
    """A single-file NIfTI-1 (n+1) header + data, little endian, written field by field."""
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    dims = [3, *arr.shape[::-1], 1, 1, 1, 1]  # arr is (z, y, x): NIfTI dims are x, y, z
    struct.pack_into("<8h", h, 40, *dims)
    struct.pack_into("<hh", h, 70, datatype, bitpix)
    struct.pack_into("<8f", h, 76, 1.0, *pixdim, 1, 1, 1, 1)
    struct.pack_into("<f", h, 108, 352.0)
    struct.pack_into("<ff", h, 112, *scl)
    h[123] = 2 | 8  # xyzt_units: mm, s
    struct.pack_into("<hh", h, 252, qform, sform)
    struct.pack_into("<6f", h, 256, 0.0, 0.0, 1.0, -40.0, 30.5, -12.0)  # quatern b c d, offsets
    if srow is not None:
        struct.pack_into("<12f", h, 280, *np.asarray(srow, dtype=np.float32).ravel())
    h[344:348] = b"n+1\0"
    return bytes(h) + b"\0\0\0\0" + arr.tobytes()


def main():
    rng = np.random.default_rng(7)
    z, y, x = 3, 4, 5
    f32 = (rng.standard_normal((z, y, x)) * 20).astype("<f4")
    lab = np.zeros((z, y, x), dtype="<i2")
    lab[1, 1:3, 1:4] = 1
    lab[2, 3, 4] = 2
    u8 = (lab * 40).astype(np.uint8)
    c, s = np.cos(0.3), np.sin(0.3)
    srow = [[-0.75 * c, 0.0, 3.0 * s, 20.0], [0.0, 0.75, 0.0, -18.0], [-0.75 * s, 0.0, -3.0 * c, 7.5]]
    # image: selector bits 0-1 format (0 .nii, 1 .nii.gz, 2 .nrrd, 3 .mha), bit 2 int32 read
    put("image", "nii-float32", b"\x00" + nifti(f32, 16, 32))
    put("image", "nii-float32-sform", b"\x00" + nifti(f32, 16, 32, qform=0, sform=2, srow=srow))
    put("image", "niigz-int16-labels", b"\x05" + nifti(lab, 4, 16))
    put("image", "nii-uint8-scaled", b"\x00" + nifti(u8, 2, 8, scl=(0.5, -3.0)))
    put("image", "nii-float64", b"\x00" + nifti(f32.astype("<f8"), 64, 64))
    nrrd = ("NRRD0004\ntype: float\ndimension: 3\nspace: left-posterior-superior\nsizes: %d %d %d\n"
            "space directions: (0.75,0,0) (0,0.75,0) (0,0,3)\nkinds: domain domain domain\n"
            "endian: little\nencoding: raw\nspace origin: (10,-20,5.5)\n\n" % (x, y, z))
    put("image", "nrrd-float-raw", b"\x02" + nrrd.encode() + f32.tobytes())
    nrrd_gz = nrrd.replace("encoding: raw", "encoding: gzip").replace("type: float", "type: short")
    put("image", "nrrd-short-gzip-labels", b"\x06" + nrrd_gz.encode() + gzip.compress(lab.tobytes(), mtime=0))
    mha = ("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
           "TransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = -3 4 12\nElementSpacing = 0.75 0.75 3\n"
           "DimSize = %d %d %d\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n" % (x, y, z))
    put("image", "mha-float", b"\x03" + mha.encode() + f32.tobytes())
    mha_l = mha.replace("MET_FLOAT", "MET_UCHAR")
    put("image", "mha-uchar-labels", b"\x07" + mha_l.encode() + u8.tobytes())

    # text: selector % 7 = 0 tsv, 1 training settings, 2 annotations, 3 cohort, 4 radiomics
    # parameters, 5 evaluation summary, 6 command-line values
    put("text", "tsv", "\x00# a comment\nname\tvalue\t QSM \nx\t1.5\t-2\r\ny\t 3 \tnan\n")
    with open(os.path.join(ROOT, "Resources", "models", "qsmrim_demo.yaml")) as f:
        put("text", "config-demo", "\x01" + f.read())
    put("text", "config-small", "\x01width: 4\nepochs: 3\nrf_mtry: [2, 4]\nlr_milestones: [0.5]\n"
        "radiomics: params.yaml\nthreads: 2\n")
    put("text", "annotations", "\x02lesion_id\trim\n3\t0\n1\t1\n2\t0\n")
    put("text", "annotations-review", "\x02lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n"
        "3\trim+\tr1\t2026-11-24T03:00:00Z\t0.9\trim+\t\n1\tunsure\tr1\t2026-11-24T03:01:00Z\t0.4\treview\tedge\n"
        "2\tnone\t\t\t0.1\trim-\t\n4\trim-\tr1\t2026-11-24T03:02:00Z\t0.2\trim-\t\n")
    put("text", "cohort", "\x03subject\tqsm\tflair\tlesions\tannotations\n"
        "sub-001\tsub-001/qsm.nii.gz\tsub-001/flair.nii.gz\tsub-001/lesions.nii.gz\tsub-001/rim.tsv\n"
        "sub-002\t/data/q2.nrrd\t/data/f2.nrrd\t/data/l2.nrrd\t/data/r2.tsv\n")
    with open(os.path.join(ROOT, "Resources", "radiomics", "qsmrimnet.yaml")) as f:
        preset = f.read()
    put("text", "radiomics-preset", "\x04" + preset)
    small = ("imageType:\n  Original: {}\n  Wavelet: {wavelet: haar, level: 1}\nfeatureClass:\n  shape:\n"
             "  firstorder: [Mean, Energy]\n  glszm:\n  gldm:\n  ngtdm:\nsetting:\n  binCount: 8\n"
             "  label: 2\n  distances: [1, 2]\n  gldm_a: 1\n  resegmentRange: [-50, 50]\n")
    put("text", "radiomics-small", "\x04" + small)
    keys = ["proc_auc", "pr_auc", "f1", "sensitivity", "specificity", "ppv", "accuracy", "count_r", "count_mse",
            "review_fraction_at_high_sensitivity"]
    head = "method\tdescription\tdata\tn_subjects\tn_lesions\tn_rimpos\ttp\tfp\tfn\ttn"
    head += "".join("\t%s\t%s_lo\t%s_hi" % (k, k, k) for k in keys)
    row = "QSMRim-Net\twidth 16, fusion add\tphantom cohort (simulated QSM)\t40\t1000\t40\t30\t10\t10\t950"
    row += "".join("\t%.17g\t%.17g\t%.17g" % (0.5 + i / 40, 0.4, 0.6 + i / 100) for i in range(len(keys)))
    put("text", "summary", "\x05" + head + "\n" + row + "\n")
    for i, v in enumerate(["0.35", "cuda:1", "f1", "tf32", "labels", "released"]):
        put("text", "values-%d" % i, "\x06" + v)

    # radiomics: byte 0 grid (x 2-8, y 2-8, z 1-5), byte 1 even = preset / odd = parameter file up
    # to a NUL, then 3 bytes per voxel (bit 0 region, int16 value in 0.1 ppb)
    def voxels(nx, ny, nz, inside):
        out = bytearray()
        for k in range(nz):
            for j in range(ny):
                for i in range(nx):
                    v = int(300 * np.sin(0.9 * i + 0.4 * j) + 50 * k)
                    out += bytes([1 if inside(i, j, k) else 0]) + struct.pack("<h", v)
        return bytes(out)
    sel = (5 - 2) + 7 * (6 - 2) + 49 * (3 - 1)  # 5 x 6 x 3
    put("radiomics", "preset-block", bytes([sel, 0]) + voxels(5, 6, 3, lambda i, j, k: 1 <= i <= 3 and 1 <= j <= 4))
    put("radiomics", "preset-edge", bytes([sel, 0]) + voxels(5, 6, 3, lambda i, j, k: i == 0 or k == 2))
    put("radiomics", "params-small", bytes([sel, 1]) + small.replace("label: 2", "label: 1").encode() + b"\0"
        + voxels(5, 6, 3, lambda i, j, k: (i + j + k) % 3 != 0))

    # review files
    put("review", "basic", "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n"
        "1\trim+\tA. Reader\t2026-11-02T10:00:00Z\t0.91\trim+\tclear rim on 3 slices\n"
        "4\trim-\tA. Reader\t2026-11-02T10:01:30Z\t0.12\trim-\t\n"
        "2\tunsure\tB\t\t\treview\tcentral vein?\n")
    put("review", "extra-columns", "# reviewed at the lab\nlesion_id\tdecision\treviewer\ttime\tmodel_probability\t"
        "model_decision\tnote\tsite\tqc\n7\trim-\tC\t2026-11-03T08:00:00Z\t0.5\tnone\t\tZurich\tok\n")


if __name__ == "__main__":
    main()
