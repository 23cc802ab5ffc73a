#!/usr/bin/env bash
# libFuzzer harnesses for every parser of untrusted bytes (Tests/Fuzz/README.md, Docs/fuzzing.md).
#
#   scripts/fuzz.sh build              build .build/fuzz/ckpt-fuzz-release (-O; FUZZ_CONFIG=debug: -Onone)
#                                      with -sanitize=fuzzer,address
#   scripts/fuzz.sh seeds              write the seed corpora into .build/fuzz/seeds/ (from the fixtures)
#   scripts/fuzz.sh run [SECONDS] [HARNESS...]
#                                      fuzz each harness for SECONDS (default $FUZZ_SECONDS or 600), one after
#                                      another; the corpus grows in .build/fuzz/corpus/HARNESS, crashes land in
#                                      .build/fuzz/crashes/HARNESS, the log in .build/fuzz/logs/HARNESS.log;
#                                      a table (executions, exec/s, cov, ft, corpus, new crashes) is printed
#                                      and written to out/fuzz/summary.txt ($FUZZ_SUMMARY)
#   scripts/fuzz.sh smoke [SECONDS]    every harness for SECONDS each (default 3): what `make test` runs
#   scripts/fuzz.sh list               the harness names
#
# The sanitizer build lives in its own scratch path, so `swift build` and `make test` never see its flags.
# Exit status: 0 when no harness crashed; 1 when one did (its input is named in the output).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SWIFT=${SWIFT:-swift}
PY=${PY:-$ROOT/.venv/bin/python}
OUT=${FUZZ_DIR:-$ROOT/.build/fuzz}
CONFIG=${FUZZ_CONFIG:-release}
OPT=$([[ $CONFIG == release ]] && echo -O || echo -Onone)
BIN=$OUT/ckpt-fuzz-$CONFIG
HARNESSES=(safetensors-header safetensors-index json yaml-table run-config pickle zip torch-save dcp-metadata config image
  tokenizer-file tokenizer-encode)
# Inputs past this size are not generated unless a harness sets its own (max_len_for).
MAX_LEN=131072
# The growing corpus (FUZZ_CORPUS_DIR=an empty folder measures a harness from its seeds alone) and the table.
CORPUS=${FUZZ_CORPUS_DIR:-$OUT/corpus}
SUMMARY=${FUZZ_SUMMARY:-$ROOT/out/fuzz/summary.txt}

dict_for() {
  case $1 in
    pickle|dcp-metadata) echo Tests/Fuzz/Dictionaries/pickle.dict ;;
    zip|torch-save) echo Tests/Fuzz/Dictionaries/zip.dict ;;
    json|safetensors-header|safetensors-index|config|tokenizer-file) echo Tests/Fuzz/Dictionaries/json.dict ;;
    tokenizer-encode) echo Tests/Fuzz/Dictionaries/text.dict ;;
    yaml-table|run-config) echo Tests/Fuzz/Dictionaries/yaml.dict ;;
    image) echo Tests/Fuzz/Dictionaries/image.dict ;;
  esac
}

build() {
  # The libraries with coverage instrumentation and ASan (their own scratch path), then the entry points
  # linked by swiftc against them: SwiftPM would give an executable its own main, which libFuzzer provides.
  # Optimized by default (FUZZ_CONFIG=release, swiftc -O): the sanitizers instrument the optimized code just
  # the same, and an unoptimized Swift build spends most of each execution in retain/release and
  # un-inlined generics, which costs 2-10x the executions. FUZZ_CONFIG=debug keeps -Onone for debugging.
  "$SWIFT" build -c "$CONFIG" --scratch-path "$OUT" --target FuzzTargets \
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address 2>&1 | grep -v "ld.gold: warning" >&2
  local B
  B=$("$SWIFT" build -c "$CONFIG" --scratch-path "$OUT" --show-bin-path)
  local objs=()
  for m in TensorCore SafeTensors TorchFormats ModelSpec Bridge Yams CYaml CCRC32 CSystem CSHA256 CTranspose CImageCodecs ImageCodecs Tokenizer FuzzTargets; do
    while IFS= read -r o; do objs+=("$o"); done < <(find "$B/$m.build" -name '*.o' | sort)
  done
  local inputs=(Tests/Fuzz/Harness/main.swift "${objs[@]}")
  if [[ -x $BIN && -z $(find "${inputs[@]}" -newer "$BIN" -print -quit) ]]; then
    echo "fuzz: $BIN is up to date" >&2
    return
  fi
  swiftc -sanitize=fuzzer,address -parse-as-library -g "$OPT" -I "$B/Modules" \
    -Xcc "-fmodule-map-file=$ROOT/Sources/CXXHash/module.modulemap" -Xcc "-fmodule-map-file=$ROOT/Sources/CZstd/module.modulemap" \
    -Xcc "-fmodule-map-file=$B/CCRC32.build/module.modulemap" -Xcc -I -Xcc "$ROOT/Sources/CCRC32/include" \
    -Xcc "-fmodule-map-file=$B/CSystem.build/module.modulemap" -Xcc -I -Xcc "$ROOT/Sources/CSystem/include" \
    -Xcc "-fmodule-map-file=$B/CSHA256.build/module.modulemap" -Xcc -I -Xcc "$ROOT/Sources/CSHA256/include" \
    -Xcc "-fmodule-map-file=$B/CTranspose.build/module.modulemap" -Xcc -I -Xcc "$ROOT/Sources/CTranspose/include" \
    -Xcc "-fmodule-map-file=$B/CImageCodecs.build/module.modulemap" -Xcc -I -Xcc "$ROOT/Sources/CImageCodecs/include" \
    -Xcc "-fmodule-map-file=$OUT/checkouts/Yams/Sources/CYaml/include/module.modulemap" \
    "${inputs[@]}" $(pkg-config --libs libzstd libxxhash libpng libjpeg) -o "$BIN" 2>&1 | grep -v "ld.gold: warning" >&2 || true
  [[ -x $BIN ]] || { echo "fuzz: linking $BIN failed" >&2; exit 1; }
  echo "fuzz: built $BIN" >&2
}

seeds() {
  local stamp=$OUT/seeds/.complete
  if [[ -f $stamp && -z $(find Tests/Fuzz/make_seeds.py Fixtures -newer "$stamp" -print -quit) ]]; then return; fi
  local oracle=$ROOT/Fixtures/.cache/oracle
  if [[ ! -d $oracle ]]; then
    oracle=$OUT/oracle
    if [[ ! -d $oracle ]]; then
      mkdir -p "$oracle.tmp" && zstd -dc --long=27 Fixtures/oracle.tar.zst | tar -x -C "$oracle.tmp" && mv "$oracle.tmp" "$oracle"
    fi
  fi
  rm -rf "$OUT/seeds"
  "$PY" Tests/Fuzz/make_seeds.py "$OUT/seeds" "$oracle" 2> >(grep -v "UserWarning\|return func" >&2)
  touch "$stamp"
}

# The longest input libFuzzer may make, per harness: a little above the largest real file of that kind, so
# that mutations stay at sizes where one execution takes microseconds, not milliseconds (the pickle VM and
# the YAML parser are linear, but a 70 KB .metadata still costs ~100x a 700-byte one). FUZZ_MAX_LEN overrides.
max_len_for() {
  case $1 in
    pickle|dcp-metadata) echo 16384 ;;
    run-config|yaml-table|config|json|safetensors-index) echo 32768 ;;
    image) echo 65536 ;;
    tokenizer-encode) echo 4096 ;;
    tokenizer-file) echo 65536 ;;
    *) echo "$MAX_LEN" ;;
  esac
}

# run_one HARNESS SECONDS [extra libFuzzer flags]: fuzzes one harness, appends its row to $ROWS; returns 1
# on a crash.
run_one() {
  local h=$1 secs=$2; shift 2
  local corpus=$CORPUS/$h crashes=$OUT/crashes/$h log=$OUT/logs/$h.log
  mkdir -p "$corpus" "$crashes" "$OUT/logs" "$OUT/tmp"
  local dict
  dict=$(dict_for "$h")
  # Seeds and committed regressions are read-only inputs; new units go to the first (writable) folder.
  local inputs=("$corpus" "$OUT/seeds/$h")
  [[ -d Tests/Fuzz/Regressions/$h ]] && inputs+=("Tests/Fuzz/Regressions/$h")
  local max_len=${FUZZ_MAX_LEN:-$(max_len_for "$h")}
  local before
  before=$(find "$crashes" -type f | wc -l)
  local rc=0
  rm -f "$log.time"
  local timer=()
  [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f "%U %S" -o "$log.time")
  # Swift's own backtracer is off: under ASan it trips over itself and holds the crash for minutes.
  # -detect_leaks=0: leaks are not looked for (ASan's detect_leaks=0; Swift's lazily built statics look like
  # them), so libFuzzer must not rerun every input that grows the heap to check for one (~12% of dcp-metadata).
  # malloc_context_size=8: ASan records 8 frames per allocation instead of 30 (its stack depot was ~15%
  # of every execution); a report still names the allocating function and its callers.
  SWIFT_BACKTRACE=enable=no FUZZ_TARGET=$h TMPDIR=$OUT/tmp CKPT_BRIDGE_MAPPINGS=$ROOT/Mappings \
    ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:handle_abort=1:malloc_context_size=8} \
    "${timer[@]}" "$BIN" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len="$max_len" \
      -dict="$dict" -artifact_prefix="$crashes/" -print_final_stats=1 -detect_leaks=0 "$@" "${inputs[@]}" > "$log" 2>&1 || rc=$?
  rm -rf "$OUT/tmp/ckpt-fuzz-"*
  local execs rate cov ft corp found cpu=- per_cpu=-
  # Executions per CPU second as well as per wall second: on a shared machine the second mostly measures
  # the neighbours. (GNU time's last line: user and system seconds; without /usr/bin/time the column is "-".)
  if [[ -s $log.time ]]; then
    cpu=$(tail -1 "$log.time" | awk '{printf "%.0f", $1 + $2}')
  fi
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  found=$(( $(find "$crashes" -type f | wc -l) - before ))
  [[ $cpu != - && $cpu -gt 0 ]] && per_cpu=$(( execs / cpu ))
  printf '%-20s %7s %7s %12s %9s %10s %7s %7s %7s %7s\n' "$h" "$secs" "$cpu" "$execs" "$rate" "$per_cpu" "$cov" "$ft" "$corp" "$found" >> "$ROWS"
  printf 'fuzz: %-20s %5ss (cpu %ss) execs %-10s exec/s %-7s exec/cpu-s %-7s cov %-6s ft %-6s new crash files %s\n' \
    "$h" "$secs" "$cpu" "$execs" "$rate" "$per_cpu" "$cov" "$ft" "$found"
  if [[ $rc -ne 0 ]]; then
    echo "fuzz: $h FAILED (exit $rc); log $log:" >&2
    grep -E "ERROR|SUMMARY|Fatal error|artifact_prefix|Test unit written" "$log" | head -8 >&2
    return 1
  fi
}

run() {
  local secs=${1:-${FUZZ_SECONDS:-600}}
  shift || true
  local list=("$@")
  [[ ${#list[@]} -gt 0 ]] || list=("${HARNESSES[@]}")
  build
  seeds
  mkdir -p "$(dirname "$SUMMARY")"
  ROWS=$(mktemp)
  local failed=0
  for h in "${list[@]}"; do run_one "$h" "$secs" || failed=1; done
  {
    echo "# scripts/fuzz.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) build=$CONFIG commit=$(git rev-parse --short HEAD 2>/dev/null || echo ?) cores=$(nproc)"
    printf '%-20s %7s %7s %12s %9s %10s %7s %7s %7s %7s\n' harness seconds cpu-s executions exec/s exec/cpu-s cov ft corpus crashes
    cat "$ROWS"
  } > "$SUMMARY"
  rm -f "$ROWS"
  echo "fuzz: summary ($SUMMARY)"
  cat "$SUMMARY"
  return $failed
}

case ${1:-} in
  build) build ;;
  seeds) seeds ;;
  run) shift; run "$@" ;;
  smoke) shift; run "${1:-3}" ;;
  list) printf '%s\n' "${HARNESSES[@]}" ;;
  *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
