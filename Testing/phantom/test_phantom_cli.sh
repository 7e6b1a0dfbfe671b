#!/usr/bin/env bash
# test_phantom_cli.sh - `qsmrim phantom` from the command line.
#   bad arguments (usage errors, exit 2) and bad inputs (one-line errors, exit 1)
#   folder rules: existing cohort refused, foreign folder refused, nothing touched; --overwrite
#     removes the earlier cohort's files it does not write, keeps users' files
#   interruption: Ctrl-C leaves no cohort.tsv, a rerun into the folder completes it
#   determinism: same seed -> same bytes with 1 and 2 threads; another seed -> other bytes
#   manifest, grid, geometry, dtypes, labels vs tables (check_cohort.py, nibabel)
#   the difficulty report (phantom_difficulty.py, scikit-learn) on the small cohort
# Env (from CTest): QSMRIM, QSMRIM_SOURCE_DIR, QSMRIM_TEST_DATA, QSMRIM_PYTHON.
set -u
Q=${QSMRIM:?}
PY=${QSMRIM_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${QSMRIM_TEST_DATA:?}/open_ms_data
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
failn=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { failn=$((failn + 1)); echo "FAIL $1"; }

# expect CODE NAME -- command...: exit code and exactly one stderr line for errors
expect() {
    local want=$1 name=$2
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" != "$want" ]; then
        bad "$name: exit $got, expected $want ($(head -c 300 "$T/err"))"
        return
    fi
    if [ "$want" != 0 ] && [ "$(wc -l <"$T/err")" != 1 ]; then
        bad "$name: expected one line on stderr, got: $(cat "$T/err")"
        return
    fi
    ok "$name"
}

if ! "$PY" -c "import nibabel, sklearn, scipy" 2>/dev/null; then
    echo "skip: $PY lacks nibabel/scikit-learn/scipy"
    exit 77
fi

# ---- usage errors (exit 2) ----
expect 2 "no options" -- "$Q" phantom
expect 2 "missing --out" -- "$Q" phantom --subjects 2
expect 2 "--subjects 0" -- "$Q" phantom --out "$T/x" --subjects 0
expect 2 "--subjects abc" -- "$Q" phantom --out "$T/x" --subjects abc
expect 2 "--subjects too many" -- "$Q" phantom --out "$T/x" --subjects 100001
expect 2 "--seed negative" -- "$Q" phantom --out "$T/x" --seed -1
expect 2 "--seed not a number" -- "$Q" phantom --out "$T/x" --seed 1e3
expect 2 "--seed too large" -- "$Q" phantom --out "$T/x" --seed 18446744073709551616
expect 2 "--threads 0" -- "$Q" phantom --out "$T/x" --threads 0
expect 2 "unknown option" -- "$Q" phantom --out "$T/x" --frobnicate
expect 2 "stray argument" -- "$Q" phantom --out "$T/x" extra
expect 0 "--help" -- "$Q" phantom --help
grep -q "cohort.tsv" "$T/out" && ok "--help describes the outputs" || bad "--help does not describe the outputs"
[ ! -e "$T/x" ] && ok "usage errors create nothing" || bad "a usage error created $T/x"

# ---- bad inputs (exit 1, one line naming the input) ----
expect 1 "missing data folder" -- "$Q" phantom --out "$T/x" --subjects 1 --data "$T/nodata"
grep -q "$T/nodata" "$T/err" && ok "error names the data folder" || bad "error does not name the data folder: $(cat "$T/err")"
mkdir -p "$T/emptydata"
expect 1 "data folder without the anatomy" -- "$Q" phantom --out "$T/x" --subjects 1 --data "$T/emptydata"
touch "$T/afile"
expect 1 "--out is a file" -- "$Q" phantom --out "$T/afile" --subjects 1 --data "$DATA"
mkdir -p "$T/foreign" && echo keep >"$T/foreign/notes.txt"
expect 1 "foreign non-empty folder" -- "$Q" phantom --out "$T/foreign" --subjects 1 --data "$DATA"
[ "$(ls "$T/foreign")" = "notes.txt" ] && ok "foreign folder untouched" || bad "foreign folder changed: $(ls "$T/foreign")"
# a user's own phantom_info.txt does not make a folder a cohort
mkdir -p "$T/forged" && echo "my notes" >"$T/forged/phantom_info.txt" && echo data >"$T/forged/results.csv"
expect 1 "a folder with a user's phantom_info.txt is refused" -- "$Q" phantom --out "$T/forged" --subjects 1 --data "$DATA"
[ "$(cat "$T/forged/phantom_info.txt")" = "my notes" ] && [ "$(ls "$T/forged" | wc -l)" = 2 ] && ok "that folder untouched" \
    || bad "forged folder changed: $(ls "$T/forged")"

# ---- a small cohort, 1 thread and 2 threads ----
expect 0 "generate 3 subjects, 1 thread" -- "$Q" phantom --out "$T/a" --subjects 3 --seed 5 --threads 1 --data "$DATA"
grep -q "3 subjects, 73 lesions, 3 rim+" "$T/err" && ok "summary line" || bad "summary line: $(tail -1 "$T/err")"
expect 0 "generate 3 subjects, 2 threads" -- "$Q" phantom --out "$T/b" --subjects 3 --seed 5 --threads 2 --quiet --data "$DATA"
[ ! -s "$T/err" ] && ok "--quiet prints nothing" || bad "--quiet printed: $(cat "$T/err")"
if diff -r "$T/a" "$T/b" >/dev/null; then ok "same seed, 1 vs 2 threads: identical bytes"; else bad "1 vs 2 threads differ: $(diff -rq "$T/a" "$T/b" | head -3)"; fi
[ "$(ls "$T/a" | tr '\n' ' ')" = "cohort.tsv phantom_info.txt sub-001 sub-002 sub-003 " ] && ok "folder layout" || bad "folder layout: $(ls "$T/a")"
[ "$(ls -A "$T/a/sub-001" | tr '\n' ' ')" = "sub-001_annotations.tsv sub-001_flair.nii.gz sub-001_lesions.nii.gz sub-001_qsm.nii.gz " ] \
    && ok "subject files, no temporaries left" || bad "subject files: $(ls -A "$T/a/sub-001")"
printf 'subject\tqsm\tflair\tlesions\tannotations\n' >"$T/header"
head -1 "$T/a/cohort.tsv" | cmp -s - "$T/header" && ok "manifest header" || bad "manifest header: $(head -1 "$T/a/cohort.tsv")"
if "$PY" "$HERE/check_cohort.py" "$T/a" --subjects 3 --lesions 73 --rimpos 3 >"$T/check" 2>&1; then
    ok "manifest, grid, geometry, dtypes, tables ($(tail -1 "$T/check"))"
else
    bad "check_cohort: $(cat "$T/check")"
fi

# another seed: other bytes; a single subject with --truth
expect 0 "generate with seed 6 and --truth" -- "$Q" phantom --out "$T/c" --subjects 1 --seed 6 --threads 1 --truth --quiet --data "$DATA"
cmp -s "$T/a/sub-001/sub-001_qsm.nii.gz" "$T/c/sub-001/sub-001_qsm.nii.gz" && bad "seeds 5 and 6 gave the same QSM" || ok "another seed, another QSM"
[ -f "$T/c/sub-001/sub-001_chi.nii.gz" ] && [ -f "$T/c/sub-001/sub-001_rim.nii.gz" ] && ok "--truth writes chi and rim" || bad "--truth files missing"

# ---- folder rules ----
sum_before=$(md5sum "$T/a/cohort.tsv")
expect 1 "existing cohort refused" -- "$Q" phantom --out "$T/a" --subjects 2 --seed 9 --data "$DATA"
grep -q "overwrite" "$T/err" && ok "refusal mentions --overwrite" || bad "refusal message: $(cat "$T/err")"
[ "$(md5sum "$T/a/cohort.tsv")" = "$sum_before" ] && ok "existing cohort untouched" || bad "existing cohort changed"
echo keep >"$T/a/mine.txt"
mkdir "$T/a/sub-0003" && cp "$T/a/sub-003/sub-003_qsm.nii.gz" "$T/a/sub-0003/sub-0003_qsm.nii.gz" && echo keep >"$T/a/sub-0003/notes.txt"
# a name the generator never writes (sub-03), a linked subject folder whose target lies outside,
# a stale folder with a write-protected file, a temporary file of a killed run
mkdir "$T/a/sub-03" && echo keep >"$T/a/sub-03/sub-03_qsm.nii.gz"
mkdir -p "$T/user/sub-004" && echo keep >"$T/user/sub-004/sub-004_qsm.nii.gz" && ln -s "$T/user/sub-004" "$T/a/sub-004"
mv "$T/a/sub-002" "$T/user/sub-002" && ln -s "$T/user/sub-002" "$T/a/sub-002" # a subject the new run writes through a link
mkdir "$T/a/sub-005" && echo keep >"$T/a/sub-005/sub-005_lesions.nii.gz" && chmod 444 "$T/a/sub-005/sub-005_lesions.nii.gz"
sh -c 'exit 0' & dead=$!
wait "$dead"
tok=$("$PY" "$HERE/../leftover_token.py") # the boot and PID namespace (Logic/core/fileutil.c)
echo partial >"$T/a/.cohort.tsv.qsmrim-tmp-$tok-$dead-1"
expect 0 "--overwrite replaces the cohort" -- "$Q" phantom --out "$T/a" --subjects 2 --seed 9 --threads 2 --quiet --overwrite --data "$DATA"
[ "$(tail -n +2 "$T/a/cohort.tsv" | wc -l)" = 2 ] && ok "new manifest lists 2 subjects" || bad "manifest after --overwrite: $(cat "$T/a/cohort.tsv")"
[ -f "$T/a/mine.txt" ] && ok "--overwrite keeps other files" || bad "--overwrite removed mine.txt"
# what the earlier cohort wrote and this one does not is gone; a subject folder holding a user's file
# keeps that file and is named in a warning
[ "$(LC_ALL=C ls -A "$T/a" | tr '\n' ' ')" = "cohort.tsv mine.txt phantom_info.txt sub-0003 sub-001 sub-002 sub-004 sub-005 sub-03 " ] \
    && ok "--overwrite removes the earlier cohort's extra subject and a killed run's temporary file" \
    || bad "folder after --overwrite: $(ls -A "$T/a")"
[ "$(LC_ALL=C ls -A "$T/a/sub-0003" | tr '\n' ' ')" = "notes.txt sub-0003_qsm.nii.gz " ] \
    && ok "a subject folder holding a user's file is kept whole" || bad "sub-0003 after --overwrite: $(ls -A "$T/a/sub-0003")"
[ -f "$T/a/sub-03/sub-03_qsm.nii.gz" ] && ok "a folder name the generator never writes is left alone" || bad "sub-03 was emptied"
[ -L "$T/a/sub-004" ] && [ -f "$T/user/sub-004/sub-004_qsm.nii.gz" ] && ok "a linked subject folder is not followed" \
    || bad "linked folder or its target changed: $(ls -A "$T/user/sub-004")"
[ -f "$T/a/sub-005/sub-005_lesions.nii.gz" ] && ok "a stale folder with a write-protected file is kept" || bad "write-protected file removed"
grep -q "kept 3 subject folders of an earlier cohort as they are: " "$T/err" && grep -q "sub-0003 (holds other files)" "$T/err" &&
    grep -q "sub-004 (a link, not followed)" "$T/err" && grep -q "sub-005 (holds write-protected files)" "$T/err" &&
    ok "warning names each folder kept and why" || bad "kept-folder warning: $(cat "$T/err")"
! grep -q "sub-002" "$T/err" && [ -L "$T/a/sub-002" ] && [ -f "$T/user/sub-002/sub-002_qsm.nii.gz" ] &&
    ok "a linked subject folder of the new cohort is written through, not warned about" || bad "linked sub-002: $(cat "$T/err")"
chmod 644 "$T/a/sub-005/sub-005_lesions.nii.gz"
expect 0 "--overwrite without --truth over a --truth cohort" -- "$Q" phantom --out "$T/c" --subjects 1 --seed 6 --threads 1 --overwrite --data "$DATA"
[ "$(ls -A "$T/c/sub-001" | tr '\n' ' ')" = "sub-001_annotations.tsv sub-001_flair.nii.gz sub-001_lesions.nii.gz sub-001_qsm.nii.gz " ] \
    && ok "truth maps of the earlier run removed" || bad "sub-001 after --overwrite: $(ls -A "$T/c/sub-001")"
grep -q "removed 2 files of an earlier cohort" "$T/err" && ok "notice counts the removed files" || bad "removal notice: $(cat "$T/err")"
# a foreign folder written with --overwrite: nothing in it is removed, whatever its names
mkdir -p "$T/foreign/sub-009" && echo keep >"$T/foreign/sub-009/sub-009_qsm.nii.gz"
expect 0 "--overwrite into a foreign folder" -- "$Q" phantom --out "$T/foreign" --subjects 1 --seed 6 --threads 1 --quiet --overwrite --data "$DATA"
[ -f "$T/foreign/sub-009/sub-009_qsm.nii.gz" ] && [ -f "$T/foreign/notes.txt" ] && ok "foreign folder's files kept" \
    || bad "foreign folder after --overwrite: $(ls -R "$T/foreign")"

# ---- interruption: SIGINT, no cohort.tsv, then a rerun completes the folder ----
"$Q" phantom --out "$T/i" --subjects 3 --seed 5 --threads 1 --data "$DATA" >"$T/iout" 2>"$T/ierr" &
pid=$!
for _ in $(seq 1 600); do
    [ -e "$T/i/phantom_info.txt" ] && break
    sleep 0.05
done
sleep 1
kill -INT "$pid"
wait "$pid"
code=$?
if [ "$code" = 130 ]; then ok "Ctrl-C: exit 130"; else bad "Ctrl-C: exit $code ($(tail -2 "$T/ierr"))"; fi
[ ! -e "$T/i/cohort.tsv" ] && ok "interrupted run: no cohort.tsv" || bad "interrupted run left cohort.tsv"
grep -q "in progress" "$T/i/phantom_info.txt" && ok "interrupted run marked in progress" || bad "phantom_info.txt: $(cat "$T/i/phantom_info.txt")"
[ -z "$(find "$T/i" -name '.*' -print)" ] && ok "no temporaries left" || bad "temporaries left: $(find "$T/i" -name '.*')"
expect 0 "rerun into the interrupted folder" -- "$Q" phantom --out "$T/i" --subjects 3 --seed 5 --threads 2 --quiet --data "$DATA"
if diff -r "$T/i" "$T/b" >/dev/null; then ok "rerun gives the same cohort"; else bad "rerun differs: $(diff -rq "$T/i" "$T/b" | head -3)"; fi

# ---- difficulty report ----
if "$PY" "$HERE/phantom_difficulty.py" "$T/b" --json "$T/d.json" >"$T/dout" 2>&1; then
    ok "difficulty report runs"
else
    bad "difficulty report: $(tail -5 "$T/dout")"
fi
if "$PY" - "$T/d.json" <<'EOF'; then ok "difficulty report values"; else bad "difficulty report values: $(cat "$T/d.json" | head -c 600)"; fi
import json, sys
d = json.load(open(sys.argv[1]))
assert d["subjects"] == 3 and d["lesions"] == 73 and d["rim_positive"] == 3, d
for s in ("mean_qsm", "shell_qsm", "volume_mm3", "ring_qsm", "shell_minus_core"):
    v = d["pr"][s]
    for k in ("average_precision", "pr_auc_trapezoid", "roc_auc"):
        assert 0.0 <= v[k] <= 1.0, (s, k, v[k])
assert 1.0 < d["flair_ratio_median"] < 1.6, d["flair_ratio_median"]
EOF

# a full disk (a 300 kB tmpfs, where this process may mount one): compressed images cannot be
# checked for room before they are written; the NIfTI writer's own message of the short write is
# kept off stderr, so the run ends with its one error line
mkdir -p "$T/tiny"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=300k qsmrim-test "$T/tiny" 2>/dev/null; then
    expect 1 "phantom onto a full disk: one error line" -- "$Q" phantom --out "$T/tiny/ph" --subjects 1 --seed 3 --quiet --data "$DATA"
    grep -q "the file written is incomplete or unreadable (disk full" "$T/err" && ok "... which says the disk may be full" ||
        bad "full disk: $(cat "$T/err")"
    umount "$T/tiny"
else
    echo "(no tmpfs could be mounted here: the full-disk case is not run)"
fi

echo "$pass passed, $failn failed"
[ "$failn" = 0 ]
