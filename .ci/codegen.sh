#!/usr/bin/env bash
# Codegen check for ksync-atomic's x86-64 asm backend.
#
# Compiles ksync-atomic (release, feature `codegen`, one codegen unit) to assembly and checks that
# each `ksync_codegen_*` wrapper (crates/atomic/src/__codegen.rs) contains the kernel's
# instruction for its operation (`lock xadd`, `lock cmpxchg`, `xchg`, `lock dec` + `sete`, ...)
# and none of the instructions that would betray a fallback (`mfence` from the portable
# backend's fences, a `lock` on a plain read or store). Needs only the toolchain. Fails loudly,
# listing every check that did not hold.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
  x86_64-*) ;;
  *) echo "codegen.sh: host $host is not x86-64; the asm backend is not built here, nothing to check"; exit 0 ;;
esac

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
asm="$out/ksync_atomic.s"

# No RUSTFLAGS: the default (asm) backend. Intel syntax, to match the asm! templates.
echo "+ cargo rustc -p ksync-atomic --release --features codegen --lib -- --emit asm"
env -u RUSTFLAGS CARGO_TARGET_DIR="${CODEGEN_TARGET_DIR:-target/codegen}" \
  cargo rustc --quiet -p ksync-atomic --release --features codegen --lib -- \
  -C codegen-units=1 -C llvm-args=-x86-asm-syntax=intel --emit "asm=$asm"

[ -s "$asm" ] || { echo "codegen.sh: FAILED: no assembly was produced at $asm"; exit 1; }

# Prints the body of function $1 (from its label to the end of the function). LLVM merges
# identical functions (`ksync_codegen_fetch_add_relaxed = ksync_codegen_fetch_add`): follow that.
body() {
  local f=$1 alias
  alias=$(sed -n "s/^$f = \([A-Za-z0-9_]*\)\$/\1/p" "$asm" | head -n1)
  [ -z "$alias" ] || f=$alias
  awk -v f="$f" '
    $0 == f ":" { on = 1; next }
    on && /^\.Lfunc_end/ { exit }
    on && /\.cfi_endproc/ { exit }
    on { print }
  ' "$asm"
}

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# check SYMBOL 'required regex;...' 'forbidden regex;...'
check() {
  local sym="ksync_codegen_$1" need=$2 forbid=${3:-} b re before=$failures
  b=$(body "$sym" | grep -v '^[[:space:]]*[.#]' || true)
  if [ -z "$b" ]; then fail "$sym: function not found in the assembly"; return; fi
  IFS=';' read -ra res <<< "$need"
  for re in "${res[@]}"; do
    [ -n "$re" ] || continue
    grep -Eiq -- "$re" <<< "$b" || fail "$sym: expected /$re/, got:"$'\n'"$(sed 's/^/    /' <<< "$b")"
  done
  # Always forbidden: a fence (`mfence`, or LLVM's `lock or [rsp - N], 0` for `fence(SeqCst)`),
  # the signature of the portable backend's fully ordered mapping.
  IFS=';' read -ra res <<< "mfence;${LOCK}[a-z]+[[:space:]]+[a-z]+ ptr \[rsp;$forbid"
  for re in "${res[@]}"; do
    [ -n "$re" ] || continue
    if grep -Eiq -- "$re" <<< "$b"; then
      fail "$sym: unexpected /$re/ (a slower fallback?), got:"$'\n'"$(sed 's/^/    /' <<< "$b")"
    fi
  done
  [ "$failures" -ne "$before" ] || echo "ok   $sym"
}

LOCK='lock[[:space:]]+'
# Plain reads and stores: one mov, no locked instruction, no fence.
check read              'mov[[:space:]].*dword ptr'  "$LOCK;xchg"
check read_acquire      'mov[[:space:]].*dword ptr'  "$LOCK;xchg"
check set_release       'mov[[:space:]]+dword ptr'   "$LOCK;xchg"
# Unordered RMWs.
check add               "${LOCK}add[[:space:]]+dword ptr"
check inc               "${LOCK}inc[[:space:]]+dword ptr"
check dec               "${LOCK}dec[[:space:]]+dword ptr"
check or                "${LOCK}or[[:space:]]+dword ptr"
# Value-returning RMWs: one locked instruction in every ordering.
check fetch_add         "${LOCK}xadd[[:space:]]+dword ptr"
check fetch_add_relaxed "${LOCK}xadd[[:space:]]+dword ptr"
check add_return        "${LOCK}xadd[[:space:]]+dword ptr"
check fetch_or          "${LOCK}cmpxchg[[:space:]]+dword ptr"
check xchg              '(^|[[:space:]])xchg[[:space:]]+dword ptr' "$LOCK"
check cmpxchg           "${LOCK}cmpxchg[[:space:]]+dword ptr"
check try_cmpxchg       "${LOCK}cmpxchg[[:space:]]+dword ptr"
check dec_and_test      "${LOCK}dec[[:space:]]+dword ptr;sete"
check inc_and_test      "${LOCK}inc[[:space:]]+dword ptr;sete"
check sub_and_test      "${LOCK}sub[[:space:]]+dword ptr;sete"
check add_negative      "${LOCK}add[[:space:]]+dword ptr;sets"
check inc_not_zero      "${LOCK}cmpxchg[[:space:]]+dword ptr"
check fetch_add64       "${LOCK}xadd[[:space:]]+qword ptr"
check cmpxchg64         "${LOCK}cmpxchg[[:space:]]+qword ptr"
check xchg_long         '(^|[[:space:]])xchg[[:space:]]+qword ptr' "$LOCK"
# Lock-word bits.
check test_and_set_bit   "${LOCK}bts[[:space:]]+dword ptr;set(b|c)[[:space:]]"
check test_and_clear_bit "${LOCK}btr[[:space:]]+dword ptr;set(b|c)[[:space:]]"
check set_bit            "${LOCK}bts[[:space:]]+dword ptr"
check clear_bit_unlock   "${LOCK}btr[[:space:]]+dword ptr"
# Sub-word operations of the qspinlock: byte/halfword instructions, never a CAS loop.
check store_byte_release 'mov[[:space:]]+byte ptr'   "$LOCK;xchg;cmpxchg"
check store_half_relaxed 'mov[[:space:]]+word ptr'   "$LOCK;xchg;cmpxchg"
check xchg_half          '(^|[[:space:]])xchg[[:space:]]+word ptr' "$LOCK;cmpxchg"
check cmpxchg_byte       "${LOCK}cmpxchg[[:space:]]+byte ptr"
# Bitmaps.
check bitmap_test_and_set_bit "${LOCK}bts[[:space:]]+qword ptr;set(b|c)[[:space:]]"
check bitmap_set_bit          "${LOCK}bts[[:space:]]+qword ptr"

if [ "$failures" -ne 0 ]; then
  echo "codegen.sh: FAILED: $failures check(s) did not hold (see above)"
  exit 1
fi
echo "codegen.sh: all ksync-atomic codegen checks passed"
