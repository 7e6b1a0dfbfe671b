#!/usr/bin/env python3
"""Pixel and file checks for the qsmrim-review tests (Debian's python3 with numpy, scipy,
nibabel and PIL). Each subcommand exits 0 when the check holds, 1 with a message otherwise.

  voxel STATE VIEW LESIONS CENTER_I CENTER_J CENTER_K [--outline] [--label ID]
      a voxel of the lesion whose centre is given (or, in a label map, of label ID), on the
      slice VIEW shows (from STATE): the
      lesion voxel nearest the centre whose 8 in-plane neighbours are in the lesion too, or with
      --outline a background voxel next to the lesion (4 in-plane neighbours), off the crosshair
      lines; prints "i j k"
  pixel STATE VIEW PNG I J K R G B TOL
      the view screenshot PNG shows colour (R, G, B) +- TOL at voxel (I, J, K)
  color-blend R G B OPACITY VALUE WINDOW LEVEL
      prints the expected colour of an overlay colour blended over a grey value mapped by
      window/level (VTK: grey = clip((v - (L - W/2)) / W, 0, 1) * 255)
  probability-color P
      prints the colour of P(rim+) by the viewer's documented map (ColorBrewer RdYlBu anchors)
  centroid PNG R G B TOL
      prints the centroid "x y" (fractions of width and height) of the pixels of that colour,
      and their count
"""
import json
import sys

import numpy as np


def load_state(path):
    with open(path) as f:
        return json.load(f)


def voxel_to_px(view, ijk):
    o = np.array(view["index_origin_px"], float)
    d = [np.array(view[k], float) for k in ("di_px", "dj_px", "dk_px")]
    return o + ijk[0] * d[0] + ijk[1] * d[1] + ijk[2] * d[2]


def cmd_voxel(args):
    import nibabel as nib
    import scipy.ndimage as nd

    state, name, lesions = args[0], args[1], args[2]
    c = np.array([float(a) for a in args[3:6]])
    outline = "--outline" in args
    view = load_state(state)["views"][name]
    axis, sl = view["slice_axis"], view["slice"]
    data = np.asarray(nib.load(lesions).dataobj)
    mask = data > 0
    if "--label" in args:
        comp = data == int(args[args.index("--label") + 1])
    else:
        lab, _ = nd.label(mask, np.ones((3, 3, 3)))
        comp = lab == lab[tuple(int(round(x)) for x in c)]
        if not comp[tuple(int(round(x)) for x in c)]:
            sys.exit("voxel: the centre voxel is not in a lesion")
    plane = np.take(comp, sl, axis=axis)  # 2D, axes = the other two in order
    inplane = [a for a in range(3) if a != axis]
    ca, cb = c[inplane[0]], c[inplane[1]]
    best, bestd = None, 1e30
    for a in range(1, plane.shape[0] - 1):
        for b in range(1, plane.shape[1] - 1):
            if outline:
                ok = (not plane[a, b]) and (plane[a - 1, b] or plane[a + 1, b] or plane[a, b - 1] or plane[a, b + 1])
                # off the crosshair lines through the centre, and not next to another lesion
                ok = ok and abs(a - ca) > 2 and abs(b - cb) > 2
                other = np.take(mask & ~comp, sl, axis=axis)[a - 1:a + 2, b - 1:b + 2].any()
                ok = ok and not other
            else:
                ok = plane[a - 1:a + 2, b - 1:b + 2].all()
            if ok:
                d = (a - ca) ** 2 + (b - cb) ** 2
                if d < bestd:
                    best, bestd = (a, b), d
    if best is None:
        sys.exit("voxel: no suitable voxel on slice %d" % sl)
    ijk = [0, 0, 0]
    ijk[axis] = sl
    ijk[inplane[0]], ijk[inplane[1]] = best
    print(*ijk)


def cmd_pixel(args):
    from PIL import Image

    state, name, png = args[0], args[1], args[2]
    ijk = [float(x) for x in args[3:6]]
    want = np.array([float(x) for x in args[6:9]])
    tol = float(args[9])
    view = load_state(state)["views"][name]
    img = np.asarray(Image.open(png).convert("RGB")).astype(float)
    h, w = img.shape[:2]
    if [w, h] != view["size"]:
        sys.exit("pixel: screenshot %dx%d but the view is %dx%d" % (w, h, *view["size"]))
    x, y = voxel_to_px(view, ijk)
    xi, yi = int(np.floor(x)), int(np.floor(y))
    if not (0 <= xi < w and 0 <= yi < h):
        sys.exit("pixel: voxel %s is outside the view (%.1f, %.1f)" % (ijk, x, y))
    got = img[yi, xi]
    if np.max(np.abs(got - want)) > tol:
        sys.exit("pixel: %s at voxel %s (pixel %d,%d) is %s, expected %s +- %g" % (name, ijk, xi, yi, got, want, tol))
    print("pixel ok: %s at (%d, %d) = %s" % (name, xi, yi, got.astype(int).tolist()))


def cmd_color_blend(args):
    r, g, b, op, v, W, L = [float(a) for a in args[:7]]
    grey = np.clip((v - (L - W / 2.0)) / W, 0.0, 1.0) * 255.0
    print(*[round(op * c + (1.0 - op) * grey, 1) for c in (r, g, b)])


ANCHORS = np.array([[49, 54, 149], [116, 173, 209], [255, 255, 191], [244, 109, 67], [165, 0, 38]], float)


def cmd_probability_color(args):
    p = min(max(float(args[0]), 0.0), 1.0)
    x = p * 4.0
    k = min(int(x), 3)
    t = x - k
    c = ANCHORS[k] + t * (ANCHORS[k + 1] - ANCHORS[k])
    print(*[int(np.floor(v + 0.5)) for v in c])


def cmd_centroid(args):
    from PIL import Image

    img = np.asarray(Image.open(args[0]).convert("RGB")).astype(float)
    want = np.array([float(x) for x in args[1:4]])
    tol = float(args[4])
    m = np.max(np.abs(img - want), axis=2) <= tol
    n = int(m.sum())
    if n == 0:
        print("nan nan 0")
        return
    ys, xs = np.nonzero(m)
    print(xs.mean() / img.shape[1], ys.mean() / img.shape[0], n)


if __name__ == "__main__":
    cmds = {"voxel": cmd_voxel, "pixel": cmd_pixel, "color-blend": cmd_color_blend,
            "probability-color": cmd_probability_color, "centroid": cmd_centroid}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])
