#!/usr/bin/env python3
"""The seal of qsmrim's HDF5 files (Logic/core/h5util.h), for files written from Python.

A model or cache file qsmrim writes starts with a 512-byte HDF5 user block, which every HDF5
reader skips, holding
    "QSMRIM-HDF5-SEAL 1\\nsize <bytes after the block>\\ncrc32 <8 hex digits>\\n" + zero bytes
qsmrim checks it before libhdf5 reads the file, so a damaged copy is refused with a message instead
of reaching libhdf5's parser.

  h5py.File(path, "w", userblock_size=512) ... close ...; h5seal.seal(path)

As a command, re-seals files after a deliberate edit with another HDF5 tool (h5py keeps the user
block when a file is opened with "r+"):

  python3 h5seal.py FILE.h5 [FILE.h5 ...]        seal (or re-seal)
  python3 h5seal.py --check FILE.h5 [...]        say whether each seal matches
  python3 h5seal.py --copy IN.h5 OUT.h5          a sealed copy of a file without a user block
                                                 (objects and attributes copied by HDF5, h5py)
"""
import sys
import zlib

BLOCK = 512
MAGIC = b"QSMRIM-HDF5-SEAL 1\n"


def _crc_rest(fp):
    crc, n = 0, 0
    while True:
        b = fp.read(1 << 16)
        if not b:
            return crc & 0xFFFFFFFF, n
        crc = zlib.crc32(b, crc)
        n += len(b)


def seal(path):
    """Write the seal of `path`, whose first 512 bytes are an HDF5 user block (empty or an old seal)."""
    with open(path, "r+b") as fp:
        head = fp.read(BLOCK)
        if len(head) < BLOCK or not (head.startswith(MAGIC) or head == bytes(BLOCK)):
            raise ValueError(f"{path} has no 512-byte user block to hold a seal "
                             "(create it with h5py.File(path, 'w', userblock_size=512))")
        crc, n = _crc_rest(fp)
        text = MAGIC + b"size %d\ncrc32 %08x\n" % (n, crc)
        fp.seek(0)
        fp.write(text + bytes(BLOCK - len(text)))


def check(path):
    """'sealed', 'unsealed', or a sentence saying what does not match."""
    with open(path, "rb") as fp:
        head = fp.read(BLOCK)
        if len(head) < BLOCK or not head.startswith(MAGIC):
            return "unsealed"
        crc, n = _crc_rest(fp)
    fields = dict(line.split(" ", 1) for line in head[len(MAGIC):].rstrip(b"\0").decode().splitlines() if " " in line)
    if int(fields.get("size", -1)) != n or int(fields.get("crc32", "-1"), 16) != crc:
        return f"damaged: {n} bytes with CRC-32 {crc:08x}, sealed as {fields.get('size')} bytes, {fields.get('crc32')}"
    return "sealed"


def sealed_copy(src, dst):
    """Copy every object and root attribute of `src` into a new file `dst` with a user block; seal it."""
    import h5py
    with h5py.File(src, "r") as fi, h5py.File(dst, "w", userblock_size=BLOCK) as fo:
        for name in fi:
            fi.copy(fi[name], fo, name=name)
        for k, v in fi.attrs.items():
            fo.attrs.create(k, v, dtype=fi.attrs.get_id(k).dtype)
    seal(dst)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    if argv[0] == "--check":
        states = {p: check(p) for p in argv[1:]}
        for p, s in states.items():
            print(f"{p}: {s}")
        return 0 if all(s in ("sealed", "unsealed") for s in states.values()) else 1
    if argv[0] == "--copy":
        if len(argv) != 3:
            print("h5seal: usage: h5seal.py --copy IN.h5 OUT.h5", file=sys.stderr)
            return 2
        sealed_copy(argv[1], argv[2])
        return 0
    for p in argv:
        try:
            seal(p)
        except (OSError, ValueError) as e:
            print(f"h5seal: error: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
