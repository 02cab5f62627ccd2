#!/usr/bin/env bash
# Fuzzes every parser of untrusted input (the targets in dev/fuzz/fuzz_targets: ID tokens, verified
# claims, the JWKS document, Gateway client contexts, tool arguments, page tokens, the events
# API Gateway hands the authorizer and request-proxy, and the agent's invocation bodies, MCP
# results, model replies and SSE frames) with
# cargo-fuzz (libFuzzer), on the stable toolchain (RUSTC_BOOTSTRAP lets cargo-fuzz pass its
# flags; no sanitizer, so no nightly is needed). Starts from the committed seeds in
# dev/fuzz/corpus/<target>; new inputs go to .tools/fuzz/<target>; a crash is saved under
# dev/fuzz/artifacts/<target>/ and fails the run.
# Usage: scripts/fuzz.sh [--smoke | --seconds N] [target ...]
#   --smoke      each target: the seeds plus 20000 generated inputs (the test command runs this)
#   --seconds N  each target for N seconds (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=seconds seconds=120 targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) mode=smoke ;;
    --seconds) seconds=${2:?--seconds needs a number}; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[[ -x .tools/cargo/bin/cargo-fuzz ]] || scripts/install-standins.sh
export PATH="$PWD/.tools/cargo/bin:$PATH" RUSTC_BOOTSTRAP=1
if [[ ${#targets[@]} == 0 ]]; then
  mapfile -t targets < <(cargo fuzz list --fuzz-dir dev/fuzz)
fi
echo "==> Building the fuzz targets (instrumented; several minutes the first time)"
# --fuzz-dir: cargo-fuzz looks for fuzz/ at the project root by default.
cargo fuzz build --fuzz-dir dev/fuzz --sanitizer none --release
for t in "${targets[@]}"; do
  mkdir -p ".tools/fuzz/$t"
  if [[ $mode == smoke ]]; then
    limit=(-runs=20000)
    echo "==> $t: the seeds and 20000 generated inputs"
  else
    limit=(-max_total_time="$seconds")
    echo "==> $t: $seconds s"
  fi
  log=".tools/fuzz/$t.log"
  if ! cargo fuzz run --fuzz-dir dev/fuzz --sanitizer none --release "$t" ".tools/fuzz/$t" "dev/fuzz/corpus/$t" -- \
    "${limit[@]}" -max_len=16384 > "$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "error: $t failed; the input is saved under dev/fuzz/artifacts/$t/ (reproduce: cargo fuzz run --fuzz-dir dev/fuzz $t <file>); log: $log" >&2
    exit 1
  fi
  echo "    $(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true); $(grep -E '^Done ' "$log" | tail -n 1)"
done
echo "==> Fuzzing: ${#targets[@]} targets, no failures"
