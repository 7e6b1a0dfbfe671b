# cli_checks.sh - what the command-line test scripts share. Sourcing it sets Q (the qsmrim binary,
# from $QSMRIM), PY (the Python with the reference libraries), T (a scratch folder removed at exit)
# and fails=0, and defines:
#   check "description" command...        runs the command; "ok   - ..." or "FAIL - ..." (counted)
#   one_line_error CODE NEEDLE command...   the command exits with CODE and prints exactly one line
#                                           on stderr, containing NEEDLE
Q=${QSMRIM:?set QSMRIM to the qsmrim binary}
PY=${QSMRIM_PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
check() {
  local d=$1; shift
  if "$@"; then echo "ok   - $d"; else echo "FAIL - $d"; fails=$((fails + 1)); fi
}
one_line_error() {
  local want=$1 needle=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  [ "$rc" -eq "$want" ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- "$needle" "$T/err" ||
    { echo "  rc=$rc stderr: $(cat "$T/err")"; return 1; }
}
