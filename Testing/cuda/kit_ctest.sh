#!/bin/bash
# kit_ctest.sh KIT [-L REGEX] [-R REGEX] [-V] - run the tests of a GPU kit (KIT/tests.list, written
# by make_gpu_kit.py) on a machine without cmake/ctest, the way ctest runs them in a build tree:
# -L selects tests with a label matching REGEX, -R tests whose name matches, both: both must match;
# -V prints each test's output with its number in front. Each test runs in its working folder
# (under KIT), with its environment, a time limit, and its skip code counted as skipped. The
# summary lines are ctest's ("Test #N: name ... Passed", "100% tests passed, 0 tests failed out of
# N"). Exit status 0 when no test failed. Placeholders in the list: @KIT@ the kit, @SRC@ the source
# tree ($QSMRIM_SOURCE_DIR, default the kit's parent folder), @PY@ the Python that writes parity
# states ($QSMRIM_TORCH_PYTHON, default python3).
set -u
usage="usage: kit_ctest.sh KIT [-L REGEX] [-R REGEX] [-V]"
[ $# -ge 1 ] && [ -f "$1/tests.list" ] || { echo "kit_ctest.sh: no KIT/tests.list ($usage)" >&2; exit 2; }
kit=$(cd "$1" && pwd)
shift
label="" regex="" verbose=0
while [ $# -gt 0 ]; do
    case $1 in
    -L) label=${2:?$usage}; shift 2 ;;
    -R) regex=${2:?$usage}; shift 2 ;;
    -V) verbose=1; shift ;;
    *) echo "kit_ctest.sh: unknown option $1 ($usage)" >&2; exit 2 ;;
    esac
done
src=${QSMRIM_SOURCE_DIR:-$(cd "$kit/.." && pwd)}
py=${QSMRIM_TORCH_PYTHON:-python3}
sub() { local s=${1//@KIT@/$kit}; s=${s//@SRC@/$src}; printf '%s' "${s//@PY@/$py}"; }

# read the list: one block per test
names=() timeouts=() skips=() dirs=() envs=() cmds=()
while IFS= read -r line; do
    case $line in
    "#"* | "") ;;
    "test "*) name=${line#test } lab="" tmo=1500 skp=77 dir=$kit env=() cmd=() ;;
    "labels "*) lab=${line#labels } ;;
    "timeout "*) tmo=${line#timeout } ;;
    "skip "*) skp=${line#skip } ;;
    "dir "*) dir=$(sub "${line#dir }") ;;
    "env "*) env+=("$(sub "${line#env }")") ;;
    "arg "*) cmd+=("$(sub "${line#arg }")") ;;
    "end")
        keep=1
        [ -n "$regex" ] && ! [[ $name =~ $regex ]] && keep=0
        if [ -n "$label" ]; then
            hit=0
            for l in $lab; do [[ $l =~ $label ]] && hit=1; done
            [ $hit -eq 1 ] || keep=0
        fi
        if [ $keep -eq 1 ]; then
            names+=("$name") timeouts+=("$tmo") skips+=("$skp") dirs+=("$dir")
            # environment and command kept as strings separated by \037 (unit separator)
            e=""
            [ ${#env[@]} -gt 0 ] && e=$(printf '%s\037' "${env[@]}")
            envs+=("$e") cmds+=("$(printf '%s\037' "${cmd[@]}")")
        fi ;;
    *) echo "kit_ctest.sh: bad line in tests.list: $line" >&2; exit 2 ;;
    esac
done < "$kit/tests.list"

n=${#names[@]}
failed=() skipped=()
echo "Test project $kit (kit of $(sed -n 's/^commit: //p' "$kit/KIT.txt" 2> /dev/null))"
for ((i = 0; i < n; i++)); do
    num=$((i + 1))
    IFS=$'\037' read -r -a env <<< "${envs[i]}"
    IFS=$'\037' read -r -a cmd <<< "${cmds[i]}"
    mkdir -p "${dirs[i]}"
    log=$(mktemp)
    t0=$(date +%s.%N)
    (cd "${dirs[i]}" && exec env "${env[@]+"${env[@]}"}" timeout "${timeouts[i]}" "${cmd[@]}") > "$log" 2>&1
    rc=$?
    t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    bad=0
    if [ $rc -eq 0 ]; then verdict="   Passed"
    elif [ $rc -eq "${skips[i]}" ]; then verdict="***Skipped"; skipped+=("${names[i]}")
    elif [ $rc -eq 124 ]; then verdict="***Timeout"; bad=1
    else verdict="***Failed"; bad=1
    fi
    [ $bad -eq 1 ] && failed+=("${names[i]}")
    # the output: always with -V, else of failed tests only
    [ $verbose -eq 1 ] || [ $bad -eq 1 ] && sed "s/^/$num: /" "$log"
    printf '%*d/%d Test #%d: %s %s %s   %s sec\n' ${#n} $num $n $num "${names[i]}" \
        "$(printf '%*s' $((40 - ${#names[i]})) '' | tr ' ' .)" "$verdict" "$t"
    rm -f "$log"
done
echo
echo "$(( n > 0 ? 100 * (n - ${#failed[@]}) / n : 100 ))% tests passed, ${#failed[@]} tests failed out of $n"
if [ ${#skipped[@]} -gt 0 ]; then
    echo "The following tests did not run:"
    for s in "${skipped[@]}"; do echo "	$s (Skipped)"; done
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "The following tests FAILED:"
    for f in "${failed[@]}"; do echo "	$f (Failed)"; done
    exit 8
fi
exit 0
