# viewer_common.sh - shared by the test_viewer_*.sh scripts (sourced).
#   $1 = the qsmrim-review binary, $2 = the viewer_fixture binary (from CMake)
# Provides: $VIEWER $FIXTURE $PY $CHECKS $T (temporary folder, removed at exit), check,
# one_line_error, run_viewer (the viewer under Xvfb), field (a value of a JSON state file).
set -u
VIEWER=${1:?usage: test.sh QSMRIM_REVIEW VIEWER_FIXTURE}
FIXTURE=${2:?usage: test.sh QSMRIM_REVIEW VIEWER_FIXTURE}
PY=${QSMRIM_PYTHON:-/usr/bin/python3}
CHECKS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/viewer_checks.py"
command -v Xvfb >/dev/null || { echo "Xvfb not found (Debian package xvfb): skipped"; exit 77; }
T=$(mktemp -d)
XVFB_PID=
cleanup() { # end viewers this test left running (a failed check before a kill), the X server, the files
  local p
  for p in $(pgrep -x qsmrim-review); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$T/" && kill -9 "$p"
  done
  [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
# One virtual screen for the whole test (what `xvfb-run -a -s "-screen 0 1280x1024x24"` gives, without
# its per-call start-up and clean-up): Xvfb picks a free display number and reports it on fd 3.
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$T/display" >"$T/xvfb.log" 2>&1 &
XVFB_PID=$!
for _ in $(seq 1 100); do [ -s "$T/display" ] && break; sleep 0.1; done
[ -s "$T/display" ] || { echo "Xvfb did not start: $(cat "$T/xvfb.log")"; exit 1; }
export DISPLAY=":$(head -1 "$T/display")"
export QSMRIM_REVIEW_TIME=2026-01-02T03:04:05Z
export XDG_RUNTIME_DIR="$T/xdg"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fails=0

check() { # check "description" command...
  local d=$1; shift
  if "$@"; then echo "ok   - $d"; else echo "FAIL - $d"; fails=$((fails + 1)); fi
}

one_line_error() { # expected exit code, needle, command... : stderr holds exactly one line with the needle
  local want=$1 needle=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  # (display-stack chatter that some machines print is not the viewer's output)
  grep -v -e 'XDG_RUNTIME_DIR' -e '^$' -e '^QStandardPaths' -e '^qt\.qpa' -e '^MESA' -e '^libEGL' -e '^libGL' \
    "$T/err" >"$T/err1"
  [ "$rc" -eq "$want" ] && [ "$(wc -l <"$T/err1")" -eq 1 ] && grep -q -- "$needle" "$T/err1" ||
    { echo "  rc=$rc (want $want) stderr: $(cat "$T/err1")"; return 1; }
}

run_viewer() { # run_viewer args... : the viewer on the virtual 1280x1024 screen
  "$VIEWER" "$@"
}

field() { # field STATE.json python-expression-on-s
  "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$1"
}

viewer_pid() { # viewer_pid TEXT: pid of the running qsmrim-review whose command line holds TEXT
  local p
  for p in $(pgrep -x qsmrim-review); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$1" && { echo "$p"; return 0; }
  done
  return 1
}

finish() {
  if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
  echo "all checks passed"
}
