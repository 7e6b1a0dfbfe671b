#!/usr/bin/env python3
"""make_gpu_kit.py - pack a CUDA build's GPU tests and the qsmrim command into a kit that runs on
a GPU machine without the project's build dependencies (no ITK, HDF5, cmake or compiler there).

  make_gpu_kit.py --build BUILD --out KIT [--tar KIT.tar.gz] [--python PY] [--no-states]

BUILD is a configured and built tree with the CUDA backend, best made for the target's CPU family
rather than this machine's (the default CMAKE_CUDA_ARCHITECTURES 90 is H100/H200):

  cmake -S . -B build-kit -DQSMRIM_CUDA=ON -DQSMRIM_WIDGETS=OFF -DCMAKE_BUILD_TYPE=Release \\
        -DQSMRIM_MARCH=x86-64-v4 && cmake --build build-kit -j

The kit (KIT/, and KIT.tar.gz with --tar) holds
  real/bin/qsmrim, real/tests/...   the executables the GPU and CUDA tests run (from ctest's list)
  bin/qsmrim, tests/...             wrappers with the same names: each runs its executable through
                                    the kit's own dynamic loader and libraries (lib/), so the target's
                                    C library version does not matter
  lib/                              every shared library they link (C library and loader included),
                                    except the NVIDIA driver (libcuda), cuDNN and cuBLAS
  tests.list                        ctest's test list for the labels gpu|cuda and the learner tests,
                                    paths rewritten to @KIT@ / @SRC@ / @PY@ (Testing/cuda/kit_ctest.sh
                                    runs it the way ctest would)
  parity/                           the small PyTorch parity states, written here with this machine's
                                    torch (the full-width state is about 0.45 GB: written on the target if
                                    its Python has torch and h5py, otherwise that test is skipped)
  kit-env.sh                        finds cuDNN 9 and cuBLAS on the target (CUDA toolkit, or the
                                    nvidia-* wheels beside PyTorch) and the source tree's data
  KIT.txt                           what was packed, from which commit, and what the target needs

The target needs the NVIDIA driver (CUDA 13 or newer), cuDNN 9 and cuBLAS 13, and the project's
source tree (Resources/, ExternalData/ and the test scripts: the kit is unpacked inside it).
Run there:  QSMRIM_GPU_KIT=$PWD/KIT bash Testing/cuda/run_gpu_check.sh OUT_DIR
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

LABELS = "gpu|cuda"
EXTRA_TESTS = "^test_train_learner$"  # GPU- against host-sampled training (skips without a GPU)
# libraries the target provides: the driver, cuDNN, cuBLAS (dlopened by the backend)
TARGET_LIBS = re.compile(r"lib(cuda|nvidia-[a-z-]+|cudnn[a-z_]*|cublas(Lt)?)\.so")
MAX_STATE_WIDTH = 16  # parity states up to this width are written here (a few MB each)


def fail(msg):
    sys.exit("make_gpu_kit: error: " + msg)


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def cache_value(build, key):
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split("=", 1)[1].strip()
    return ""


def ctest_list(build, args):
    r = subprocess.run(["ctest", "--show-only=json-v1"] + args, cwd=build, capture_output=True, text=True)
    if r.returncode != 0:
        fail("ctest --show-only failed in %s: %s" % (build, r.stderr.strip()))
    return json.loads(r.stdout)["tests"]


def shared_libs(elf):
    """(soname-as-linked, resolved path) of every library the dynamic loader maps for elf."""
    r = subprocess.run(["ldd", elf], capture_output=True, text=True)
    if r.returncode != 0:
        fail("ldd %s: %s" % (elf, r.stderr.strip()))
    libs, loader = [], None
    for line in r.stdout.splitlines():
        line = line.strip()
        m = re.match(r"(\S+) => (\S+) \(0x", line)
        if m:
            libs.append((m.group(1), m.group(2)))
        elif "not found" in line:
            fail("%s: %s" % (elf, line))
        else:
            m = re.match(r"(/\S*ld-linux\S*) \(0x", line)
            if m:
                loader = m.group(1)
    return libs, loader


class Rewriter:
    """Paths of this machine -> placeholders the kit's runner fills in on the target."""

    def __init__(self, build, src, python):
        self.pairs = [(build, "@KIT@"), (src, "@SRC@")]  # the build tree may lie inside the source tree
        self.python = python

    def __call__(self, s):
        if s == self.python:
            return "@PY@"
        if s in ("/usr/bin/bash", "/bin/bash"):
            return "bash"
        for path, tag in self.pairs:
            if s == path or s.startswith(path + "/"):
                return tag + s[len(path):]
        return s

    def env(self, kv):
        k, v = kv.split("=", 1)
        return k + "=" + ":".join(self(p) for p in v.split(":"))


def write_state(python, src, out, args):
    script = os.path.join(src, "Resources", "python", "make_parity_state.py")
    tmp = out + ".tmp"
    r = subprocess.run([python, script, "--out", tmp] + args, capture_output=True, text=True)
    if r.returncode != 0:
        if os.path.exists(tmp):
            os.remove(tmp)
        return r.stderr.strip().splitlines()[-1:] or ["failed"]
    os.replace(tmp, out)
    return None


KIT_ENV = r"""# kit-env.sh - sourced by the kit's wrappers: where the target's cuDNN 9 and cuBLAS are, and the
# source tree's data. Computed once per process tree (exported), or set by hand:
#   QSMRIM_KIT_CUDA_LIBS   folders with libcudnn.so.9 and libcublas.so.@CUBLAS_MAJOR@, ':'-separated
#   QSMRIM_SOURCE_DIR      the project's source tree (default: the folder the kit lies in)
# the CPU must have what the kit was compiled for (else a clear line, not "Illegal instruction")
if [ -n "@CPU_FLAG@" ] && [ -r /proc/cpuinfo ]; then
    while read -r _qk_k _qk_flags; do [ "$_qk_k" = flags ] && break; done < /proc/cpuinfo
    case " $_qk_flags " in
    *" @CPU_FLAG@ "*) ;;
    *) echo "qsmrim kit: this CPU lacks @CPU_FLAG@, which the kit's -march=@MARCH@ build needs; make the kit with -DQSMRIM_MARCH=@FALLBACK@" >&2
       exit 1 ;;
    esac
    unset _qk_k _qk_flags
fi
if [ -z "${QSMRIM_KIT_CUDA_LIBS+x}" ]; then
    _qk_dirs="" _qk_dnn=0 _qk_blas=0
    _qk_add() { case ":$_qk_dirs:" in *":$1:"*) ;; *) _qk_dirs=${_qk_dirs:+$_qk_dirs:}$1 ;; esac; }
    _qk_scan() { # the first folder that has each library
        for _qk_d in "$@"; do
            [ $_qk_dnn = 0 ] && [ -e "$_qk_d/libcudnn.so.9" ] && _qk_add "$_qk_d" && _qk_dnn=1
            [ $_qk_blas = 0 ] && [ -e "$_qk_d/libcublas.so.@CUBLAS_MAJOR@" ] && _qk_add "$_qk_d" && _qk_blas=1
        done
    }
    _qk_scan "${CUDA_HOME:-/usr/local/cuda}/lib64" /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu \
        /usr/local/lib/python3*/dist-packages/nvidia/*/lib /usr/local/lib/python3*/site-packages/nvidia/*/lib \
        /usr/lib/python3/dist-packages/nvidia/*/lib /opt/conda/lib/python3*/site-packages/nvidia/*/lib \
        "$HOME"/.local/lib/python3*/site-packages/nvidia/*/lib
    if [ $_qk_dnn = 0 ] || [ $_qk_blas = 0 ]; then
        # the wheels beside the Python that has PyTorch (a virtual environment, say)
        for _qk_py in ${QSMRIM_TORCH_PYTHON:-} python3; do
            _qk_sp=$("$_qk_py" -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2> /dev/null) || continue
            for _qk_s in $_qk_sp; do _qk_scan "$_qk_s"/nvidia/*/lib; done
        done
    fi
    # cuDNN from a wheel loads other wheels' libraries (NVRTC for its runtime-compiled engines):
    # every nvidia/*/lib folder beside the one that holds it
    for _qk_d in ${_qk_dirs//:/ }; do
        case $_qk_d in */nvidia/*/lib) for _qk_s in "${_qk_d%/*/lib}"/*/lib; do _qk_add "$_qk_s"; done ;; esac
    done
    # the driver (libcuda.so.1) where the loader's own search would miss it
    for _qk_d in $(ldconfig -p 2> /dev/null | sed -n 's|.*libcuda\.so\.1 .*=> \(.*\)/libcuda\.so\.1$|\1|p') \
        /usr/local/nvidia/lib64 /usr/lib/wsl/lib /usr/lib64; do
        [ -e "$_qk_d/libcuda.so.1" ] && _qk_add "$_qk_d"
    done
    export QSMRIM_KIT_CUDA_LIBS=$_qk_dirs
    unset -f _qk_add _qk_scan
    unset _qk_dirs _qk_d _qk_py _qk_sp _qk_s _qk_dnn _qk_blas
fi
export QSMRIM_SOURCE_DIR=${QSMRIM_SOURCE_DIR:-$(cd "$QSMRIM_KIT/.." && pwd)}
export QSMRIM_RESOURCE_DIR=${QSMRIM_RESOURCE_DIR:-$QSMRIM_SOURCE_DIR/Resources}
export QSMRIM_PHANTOM_DATA=${QSMRIM_PHANTOM_DATA:-$QSMRIM_SOURCE_DIR/ExternalData/open_ms_data}
# qsmrim re-executes itself (/proc/self/exe) to set this when unset; under the kit's loader
# /proc/self/exe is the loader, so it is set here instead (same value)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
"""

WRAPPER = """#!/bin/bash
# kit wrapper: @NAME@ with the kit's loader and libraries (see ../KIT.txt)
# (bash built-ins only: the target's other tools do not matter)
_qk_here=${BASH_SOURCE[0]%/*}
[ "$_qk_here" = "${BASH_SOURCE[0]}" ] && _qk_here=.
QSMRIM_KIT=$(cd "$_qk_here/@UP@" && pwd)
unset _qk_here
export QSMRIM_KIT
. "$QSMRIM_KIT/kit-env.sh"
exec "$QSMRIM_KIT/lib/@LOADER@" --argv0 "$0" \\
    --library-path "$QSMRIM_KIT/lib${QSMRIM_KIT_CUDA_LIBS:+:$QSMRIM_KIT_CUDA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \\
    "$QSMRIM_KIT/real/@NAME@" "$@"
"""


def main():
    head, _, rest = __doc__.partition("\n\n")
    ap = argparse.ArgumentParser(description=" ".join(head.split()), epilog=rest,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="CUDA build tree (configured and built)")
    ap.add_argument("--out", required=True, help="kit folder to write (replaced)")
    ap.add_argument("--tar", help="also pack the kit into this .tar.gz")
    ap.add_argument("--python", default="/usr/bin/python3", help="Python with torch + h5py for the parity states")
    ap.add_argument("--no-states", action="store_true", help="write no parity states here")
    a = ap.parse_args()

    build = os.path.realpath(a.build)
    if not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
        fail("%s is not a configured build tree (no CMakeCache.txt)" % a.build)
    src = os.path.realpath(cache_value(build, "CMAKE_HOME_DIRECTORY") or cache_value(build, "qsmrim_SOURCE_DIR"))
    if not os.path.isfile(os.path.join(build, "lib", "libqsmrim_cuda.a")):
        fail("%s was built without the CUDA backend (no lib/libqsmrim_cuda.a): configure with "
             "-DQSMRIM_CUDA=ON and build" % a.build)
    if not os.path.isfile(os.path.join(build, "tests", "test_cuda_layers")):
        fail("%s has no CUDA tests (tests/test_cuda_layers): build with -DQSMRIM_TESTS=ON" % a.build)
    qsmrim = os.path.join(build, "bin", "qsmrim")
    if not is_elf(qsmrim):
        fail("%s not built" % qsmrim)
    march = cache_value(build, "QSMRIM_MARCH") or "native"
    native = cache_value(build, "QSMRIM_NATIVE").upper() not in ("OFF", "0", "FALSE", "NO")
    if native and march == "native":
        print("make_gpu_kit: warning: %s is tuned for this machine's CPU (-march=native); a kit for another "
              "host is safer built with -DQSMRIM_MARCH=x86-64-v4 (AVX-512) or -DQSMRIM_NATIVE=OFF" % a.build,
              file=sys.stderr)

    tests = ctest_list(build, ["-L", LABELS, "-E", "^gpu_kit$"]) + ctest_list(build, ["-R", EXTRA_TESTS])
    if not tests:
        fail("ctest lists no tests with labels %s in %s" % (LABELS, a.build))
    rw = Rewriter(build, src, a.python)

    kit = os.path.realpath(a.out)
    if os.path.commonpath([kit, build]) == build or os.path.commonpath([kit, src]) == kit:
        fail("--out must not lie inside the build tree or contain the source tree")
    if os.path.exists(kit):
        shutil.rmtree(kit)
    for d in ("real", "lib", "parity"):
        os.makedirs(os.path.join(kit, d))

    # executables: qsmrim and every build-tree ELF a test names (command or environment)
    exes = {qsmrim}
    for t in tests:
        words = list(t["command"])
        for p in t.get("properties", []):
            if p["name"] == "ENVIRONMENT":
                words += [v.split("=", 1)[1] for v in p["value"] if "=" in v]
        exes |= {w for w in words if w.startswith(build + "/") and is_elf(w)}

    libs, loader = {}, None
    for exe in sorted(exes):
        rel = os.path.relpath(exe, build)
        dst = os.path.join(kit, "real", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(exe, dst)
        found, ld = shared_libs(exe)
        loader = loader or ld
        for name, path in found:
            if not TARGET_LIBS.match(name):
                libs[name] = path
        wrapper = os.path.join(kit, rel)
        os.makedirs(os.path.dirname(wrapper), exist_ok=True)
        up = "/".join([".."] * rel.count("/"))
        with open(wrapper, "w") as f:
            f.write(WRAPPER.replace("@NAME@", rel).replace("@UP@", up).replace("@LOADER@", os.path.basename(loader or "")))
        os.chmod(wrapper, 0o755)
    if not loader:
        fail("no dynamic loader found by ldd")
    for name, path in sorted(libs.items()):
        shutil.copy2(os.path.realpath(path), os.path.join(kit, "lib", name))
    shutil.copy2(os.path.realpath(loader), os.path.join(kit, "lib", os.path.basename(loader)))

    nvcc = cache_value(build, "CMAKE_CUDA_COMPILER")
    m = re.search(r"release (\d+\.\d+)", subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
                  if nvcc else "")
    cuda_version = m.group(1) if m else "13.0"
    cublas_major = cuda_version.split(".")[0]
    with open(os.path.join(kit, "kit-env.sh"), "w") as f:
        # the CPU feature each x86-64 level adds that a target might lack, and the level below
        flag, fallback = {"x86-64-v4": ("avx512f", "x86-64-v3"), "x86-64-v3": ("avx2", "x86-64-v2")}.get(
            march if native else "", ("", ""))
        f.write(KIT_ENV.replace("@CUBLAS_MAJOR@", cublas_major).replace("@CPU_FLAG@", flag)
                .replace("@MARCH@", march).replace("@FALLBACK@", fallback))

    # the test list; small parity states written now
    states, entries = [], []
    for t in tests:
        cmd = list(t["command"])
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        if len(cmd) > 5 and cmd[1].endswith("/cuda_parity.sh"):
            extra = cmd[5:]
            width = int(extra[extra.index("--width") + 1]) if "--width" in extra else 4
            name = os.path.basename(cmd[4])
            if not a.no_states and width <= MAX_STATE_WIDTH:
                err = write_state(a.python, src, os.path.join(kit, "parity", name), extra)
                if err is None:
                    cmd = cmd[:4] + ["@KIT@/parity/" + name]
                    states.append(name)
                else:
                    print("make_gpu_kit: %s not written here (%s): written on the target" % (name, err[0]),
                          file=sys.stderr)
        e = ["test " + t["name"], "labels " + " ".join(props.get("LABELS", [])),
             "timeout %d" % int(float(props.get("TIMEOUT", 1500))),
             "skip %d" % int(props.get("SKIP_RETURN_CODE", 77))]
        if "WORKING_DIRECTORY" in props:
            e.append("dir " + rw(props["WORKING_DIRECTORY"]))
        e += ["env " + rw.env(v) for v in props.get("ENVIRONMENT", []) if not v.startswith(("ASAN_", "UBSAN_", "LSAN_"))]
        e += ["arg " + rw(w) for w in cmd]
        entries.append("\n".join(e) + "\nend\n")
    with open(os.path.join(kit, "tests.list"), "w") as f:
        f.write("# qsmrim GPU kit test list (Testing/cuda/kit_ctest.sh); @KIT@ kit, @SRC@ source tree, @PY@ python\n")
        f.write("".join(entries))

    commit = subprocess.run(["git", "-C", src, "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip() or "?"
    glibc = subprocess.run(["ldd", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    size = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(kit) for n in ns)
    with open(os.path.join(kit, "KIT.txt"), "w") as f:
        f.write("qsmrim GPU kit\n")
        f.write("commit: %s\nmade: %s\n" % (commit, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
        f.write("build: %s, CUDA %s, architectures %s, CPU %s\n" % (
            cache_value(build, "CMAKE_BUILD_TYPE"), cuda_version, cache_value(build, "CMAKE_CUDA_ARCHITECTURES"),
            ("-march=" + march) if native else "portable"))
        f.write("C library packed: %s\n" % glibc)
        f.write("executables: %s\n" % " ".join(sorted(os.path.relpath(e, build) for e in exes)))
        f.write("libraries packed: %d (%s)\n" % (len(libs) + 1, " ".join(sorted(libs))))
        f.write("parity states packed: %s\n" % (" ".join(states) or "none"))
        f.write("tests: %d (%s)\n" % (len(tests), " ".join(t["name"] for t in tests)))
        f.write("size: %.1f MB\n" % (size / 1e6))
        f.write("target needs: NVIDIA driver for CUDA >= %s (libcuda.so.1), libcudnn.so.9, libcublas.so.%s "
                "(CUDA toolkit or PyTorch's nvidia-* wheels), bash, and the source tree around the kit\n"
                % (cuda_version, cublas_major))
    if a.tar:
        with tarfile.open(a.tar, "w:gz", compresslevel=6) as tf:
            tf.add(kit, arcname=os.path.basename(kit))
        print("make_gpu_kit: %s (%.1f MB packed)" % (a.tar, os.path.getsize(a.tar) / 1e6))
    print("make_gpu_kit: %s: %d executables, %d libraries, %d tests, %d parity states, %.1f MB" % (
        a.out, len(exes), len(libs) + 1, len(tests), len(states), size / 1e6))


if __name__ == "__main__":
    main()
