#!/usr/bin/env bash
# qsmrim under an address-space limit (`ulimit -v`, what a cluster's h_vmem sets). At every limit
# from the lowest the program starts under (below it the dynamic loader or GDCM's start-up code
# fails, before qsmrim runs) up to one it completes under, `predict`, `features --lesions` and
# `evaluate` either succeed or end with exit 1 and one error line saying memory ran out - never a
# crash, an abort, libgomp's own "Thread creation failed" line, or a message calling the input
# damaged or an output short-written (outputs are read back to be checked) - and a failed run
# leaves the output it would replace as it was.
# Not under AddressSanitizer, which needs far more address space than any limit tried here.
set -uo pipefail
source "$(dirname "$0")/../cli_checks.sh"
# (ldd's output is captured first: under pipefail, `ldd | grep -q` fails at random when grep stops
# reading before ldd has written everything and ldd dies of SIGPIPE)
if [[ "$(ldd "$Q" 2>/dev/null)" == *libasan* ]]; then
  echo "skip: an AddressSanitizer build cannot run under an address-space limit"
  exit 77
fi
# six subjects: rim+ lesions in more than one (evaluate's folds need them)
"$Q" phantom --out "$T/ph" --subjects 6 --seed 4 --threads 2 --quiet >/dev/null || { echo "FAIL - phantom"; exit 1; }
S="$T/ph/sub-001/sub-001"

# the lowest limit (MB) at which the program starts at all
floor=40
{ until (ulimit -v $((floor * 1024)); exec "$Q" --version) >/dev/null 2>&1; do
  floor=$((floor + 2))
  [ $floor -le 400 ] || { echo "FAIL - qsmrim does not start under 400 MB"; exit 1; }
done; } 2>/dev/null # (the shell's "Aborted" for each try)
floor=$((floor + 4)) # a margin: what start-up needs grows a little with the command line
echo "starts from $floor MB"
step=${QSMRIM_LOW_MEMORY_STEP:-3}

# sweep NAME OUT command...: limits from the floor up in steps of QSMRIM_LOW_MEMORY_STEP MB
# (default 3; 1 for a thorough run) until three runs in a row succeed; every run is one of the
# two outcomes above. OUT is an output file the command replaces (it holds OLD to begin with).
sweep() {
  local name=$1 out=$2; shift 2
  local mb=$floor okrow=0 runs=0 failed=0 bad=0
  mkdir -p "$(dirname "$out")"
  echo OLD >"$out"
  while [ $okrow -lt 3 ] && [ $mb -le 1024 ]; do
    cp "$out" "$T/before"
    (ulimit -v $((mb * 1024)); exec "$@") >"$T/o" 2>"$T/e"
    local rc=$?
    runs=$((runs + 1))
    if [ $rc -eq 0 ]; then
      okrow=$((okrow + 1))
      [ "$(head -c 3 "$out")" != OLD ] || { echo "  $mb MB: success but $out not written"; bad=$((bad + 1)); }
    else
      okrow=0
      failed=$((failed + 1))
      if [ $rc -ne 1 ] || [ "$(wc -l <"$T/e")" -ne 1 ] ||
         ! grep -q "^qsmrim $name: error: .*out of memory" "$T/e" || ! cmp -s "$out" "$T/before"; then
        echo "  $mb MB: rc=$rc, output $(head -c 20 "$out" | tr '\n' ' '), stderr: $(head -c 300 "$T/e" | tr '\n' '|')"
        bad=$((bad + 1))
      fi
    fi
    mb=$((mb + step))
  done
  echo "$name: $runs runs from $floor MB, $failed out of memory, completes from $((mb - 3 * step)) MB"
  [ $bad -eq 0 ] && [ $okrow -eq 3 ] && [ $failed -gt 5 ]
}

check "predict under every address-space limit: a result, or one out-of-memory line and the old table kept" \
  sweep predict "$T/t.tsv" "$Q" predict --qsm "${S}_qsm.nii.gz" --flair "${S}_flair.nii.gz" \
  --lesions "${S}_lesions.nii.gz" --out-table "$T/t.tsv" --out-prob "$T/p.nii.gz" --out-labels "$T/o.nrrd" \
  --threads 2 --quiet
# the FLAIR on a grid shifted by a fraction of a voxel: resampled by ITK's filter, whose threads
# cannot always start under the limit (it then runs on the calling thread; ITK's thread pool
# ended the process in std::terminate when it could not start its threads)
"$PY" - "${S}_flair.nii.gz" "$T/flair_shift.nii.gz" <<'PYEOF'
import sys, nibabel as nib, numpy as np
im = nib.load(sys.argv[1])
aff = im.affine.copy()
aff[:3, 3] += [0.3, 0.2, 0.5]
nib.save(nib.Nifti1Image(np.asarray(im.dataobj), aff, im.header), sys.argv[2])
PYEOF
check "predict with a FLAIR to resample under every address-space limit: a result, or one out-of-memory line" \
  sweep predict "$T/t2.tsv" "$Q" predict --qsm "${S}_qsm.nii.gz" --flair "$T/flair_shift.nii.gz" \
  --lesions "${S}_lesions.nii.gz" --out-table "$T/t2.tsv" --out-prob "$T/p2.nii.gz" --threads 2 --quiet
check "features under every address-space limit: a result, or one out-of-memory line and the old table kept" \
  sweep features "$T/f.csv" "$Q" features --image "${S}_qsm.nii.gz" --lesions "${S}_lesions.nii.gz" \
  --out "$T/f.csv" --threads 2 --quiet
printf 'width: 2\nepochs: 2\nbatch_size: 16\n' >"$T/tiny.yaml"
check "evaluate under every address-space limit: a report, or one out-of-memory line and the old report kept" \
  sweep evaluate "$T/rep/report.html" "$Q" evaluate --manifest "$T/ph/cohort.tsv" --report "$T/rep" --arch aprl-nn \
  --folds 3 --seeds 1 --bootstrap 20 --config "$T/tiny.yaml" --no-cache --threads 2 --quiet

# A compressed NIfTI file whose header declares a volume far larger than the limit (1024 x 1024 x
# 512 float32, 2 GiB) and which holds one slice: the volume cannot be allocated, and the error
# still says what is wrong with the file (truncated), not that memory ran out. Read as an image
# (float32) and as a label map; without a limit the same error. The whole file (2 GiB of zeros,
# about 2 MB compressed) under the limit: out of memory, naming the file.
"$PY" - "$T/huge.nii.gz" <<'PYEOF'
import gzip, struct, sys
h = bytearray(348)
struct.pack_into("<i", h, 0, 348)
struct.pack_into("<8h", h, 40, 3, 1024, 1024, 512, 1, 1, 1, 1)
struct.pack_into("<hh", h, 70, 16, 32)  # float32
struct.pack_into("<8f", h, 76, 1, 1, 1, 1, 1, 1, 1, 1)
struct.pack_into("<f", h, 108, 352)
struct.pack_into("<h", h, 254, 1)  # sform_code: scanner
for row, v in ((280, (-1, 0, 0, 0)), (296, (0, -1, 0, 0)), (312, (0, 0, 1, 0))):
    struct.pack_into("<4f", h, row, *v)
h[344:348] = b"n+1\0"
with gzip.open(sys.argv[1], "wb") as f:
    f.write(bytes(h) + bytes(4) + bytes(4 * 1024 * 1024))
PYEOF
limited() { (ulimit -v $(((floor + 200) * 1024)); exec "$@"); }
check "a short .nii.gz declaring 2 GiB, read as an image under ${floor}+200 MB: 'truncated', not out of memory" \
  one_line_error 1 "voxel data truncated" limited "$Q" features \
  --image "$T/huge.nii.gz" --mask "$T/huge.nii.gz" --out "$T/huge.csv" --quiet
check "the same file read as a label map under the limit: 'truncated'" \
  one_line_error 1 "voxel data truncated" limited "$Q" lesions \
  --mask "$T/huge.nii.gz" --out "$T/huge.tsv"
"$PY" - "$T/whole.nii.gz" "$T/huge.nii.gz" <<'PYEOF'
import gzip, sys
head = gzip.open(sys.argv[2]).read(352)
with gzip.open(sys.argv[1], "wb", compresslevel=1) as f:
    f.write(head)
    for _ in range(512):
        f.write(bytes(4 * 1024 * 1024))
PYEOF
check "a whole 2 GiB .nii.gz under the limit: out of memory, naming the file" \
  one_line_error 1 "whole.nii.gz: out of memory" limited "$Q" lesions \
  --mask "$T/whole.nii.gz" --out "$T/huge.tsv"
check "the same file without a limit: 'truncated'" \
  one_line_error 1 "voxel data truncated" "$Q" lesions --mask "$T/huge.nii.gz" --out "$T/huge.tsv"

[ $fails -eq 0 ] && echo "all passed" || { echo "$fails failed"; exit 1; }
