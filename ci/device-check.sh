#!/usr/bin/env bash
# The device kit's one-shot GPU check (ci/device-kit copies this file to target/device-kit/run.sh).
# Runs on a machine with an NVIDIA GPU and no Rust toolchain: the kit's prebuilt binaries, its OpenUSD
# libraries and plugins, and the sample plant stage. Results, three files (the device tool brings back at
# most 8 from $OUT): $OUT/summary.txt, PASS / FAIL / NO-GPU / SKIP per step and the benches' JSON lines;
# $OUT/steps.txt, every step's full output, appended as each step ends; $OUT/bench.json, the JSON lines.
# Without a GPU every step still runs (the GPU parts report NO-GPU), which is how the kit is dry-run on a
# CPU-only machine.
#
# Usage: OUT=/some/dir target/device-kit/run.sh
# Environment: OUT (default: /tmp/twinloom-device-kit-out), KIT_BUDGET_S (whole-run budget in seconds, default 480),
#   NVRTC_DIR (a folder holding libnvrtc.so*, when it is not found by itself).
# Exit status: 0 when every step passed on a GPU; 1 when a step failed; 2 when none failed but there was
# no GPU (a dry run: the CUDA launches were not exercised).
set -uo pipefail
KIT=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/twinloom-device-kit-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUDGET=${KIT_BUDGET_S:-480}
START=$SECONDS
SUMMARY=$OUT/summary.txt
STEPS=$OUT/steps.txt
: >"$SUMMARY"
: >"$STEPS"
LOGS=$(mktemp -d)
FAILED=0
# shellcheck source=/dev/null
. "$KIT/kit.env"

say() { echo "$*" | tee -a "$SUMMARY"; }
# Moves the step logs written so far (oldest first) into $STEPS.
flush_logs() {
    local f
    for f in $(ls -tr "$LOGS"); do
        { echo "===== $f"; cat "$LOGS/$f"; echo; } >>"$STEPS"
        rm -f "$LOGS/$f"
    done
}
# record STEP STATUS DETAIL: one line of the summary; the step's logs go to $STEPS.
record() {
    printf '%-22s %-7s %s\n' "$1" "$2" "$(echo "$3" | tr '\n' ' ' | sed 's/ *$//' | cut -c1-400)" | tee -a "$SUMMARY"
    [ "$2" = FAIL ] && FAILED=1
    flush_logs
    return 0
}
# Seconds a step may take: its own limit, or what is left of the budget (at least 5).
limit() {
    local left=$((BUDGET - (SECONDS - START)))
    [ "$left" -lt 5 ] && left=5
    [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}
over_budget() { [ $((SECONDS - START)) -ge "$BUDGET" ]; }
# run_step LOG LIMIT_S CMD... : runs with a timeout, output to $LOGS/LOG.txt; returns the command's status.
run_step() {
    local log=$LOGS/$1.txt t
    t=$(limit "$2")
    shift 2
    {
        echo "\$ $*   (timeout ${t}s)"
        timeout -k 5 "$t" "$@"
        local rc=$?
        echo "== exit status $rc"
        return $rc
    } >"$log" 2>&1
}
status_of() { [ "$1" = 0 ] && echo PASS || echo FAIL; }
why() { case $1 in 0) echo "" ;; 124 | 137) echo "timed out; " ;; *) echo "exit $1; " ;; esac; }

# The gzipped binaries (twinloom) unpack into a temporary folder; the kit itself stays as it came.
RUNBIN=$(mktemp -d)
trap 'rm -rf "$RUNBIN" "$LOGS"' EXIT
for z in "$KIT"/packed/*.gz; do
    [ -e "$z" ] || continue
    gzip -dc "$z" >"$RUNBIN/$(basename "$z" .gz)" && chmod +x "$RUNBIN/$(basename "$z" .gz)"
done

say "twinloom device kit: built $KIT_BUILT from $KIT_COMMIT; run $(date -u +%FT%TZ) on $(uname -n)"

# --- OpenUSD: the binaries look for their libraries and plugins at the paths of the build machine -----
# (rpath and the compiled-in plugin folders). Recreate them from the kit where they are missing.
{
    echo "USD root at build: $USD_ROOT"
    if [ -e "$USD_ROOT" ] || [ -L "$USD_ROOT" ]; then
        echo "present: left as it is"
    elif mkdir -p "$(dirname "$USD_ROOT")" && ln -s "$KIT/usd" "$USD_ROOT"; then
        echo "linked $USD_ROOT -> $KIT/usd"
    else
        echo "could not create $USD_ROOT: the OpenUSD steps will fail"
    fi
    IFS=';' read -r -a plugin_paths <<<"$USD_PLUGIN_PATHS"
    i=0
    for p in "${plugin_paths[@]}"; do
        if [ -f "$p/plugInfo.json" ]; then
            echo "plugin folder present: $p"
        elif mkdir -p "$p" && cp "$KIT/plugins/$i/plugInfo.json" "$p/"; then
            echo "plugin folder recreated from the kit: $p"
        else
            echo "plugin folder missing and not creatable: $p"
        fi
        i=$((i + 1))
    done
} >"$LOGS/usd-setup.txt" 2>&1

# --- Library path: the kit's libraries, then NVRTC wherever this machine has it -----------------------
LD=$KIT/lib
for d in "$KIT"/usd/*/lib; do LD=$LD:$d; done
find_nvrtc() {
    local d py
    if [ -n "${NVRTC_DIR:-}" ] && ls "$NVRTC_DIR"/libnvrtc.so* >/dev/null 2>&1; then echo "$NVRTC_DIR"; return; fi
    d=$(ldconfig -p 2>/dev/null | awk '/libnvrtc\.so/ {print $NF; exit}')
    if [ -n "$d" ]; then dirname "$d"; return; fi
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/lib64 /usr/lib/x86_64-linux-gnu; do
        if ls "$d"/libnvrtc.so* >/dev/null 2>&1; then echo "$d"; return; fi
    done
    # pip's nvidia-cuda-nvrtc (the device image's python3; a repo venv beside the kit).
    for py in python3 "$KIT/../../.venv/bin/python"; do
        command -v "$py" >/dev/null 2>&1 || [ -x "$py" ] || continue
        d=$("$py" - 2>/dev/null <<'EOF'
import glob, os
try:
    import nvidia
except ImportError:
    raise SystemExit
for root in nvidia.__path__:
    for f in sorted(glob.glob(os.path.join(root, "**", "libnvrtc.so*"), recursive=True)):
        if "builtins" not in f:
            print(os.path.dirname(f)); raise SystemExit
EOF
)
        if [ -n "$d" ]; then echo "$d"; return; fi
    done
}
NVRTC=$(find_nvrtc)
[ -n "$NVRTC" ] && LD=$LD:$NVRTC
# libcuda: normally on the loader's path already; else the driver's usual folders.
CUDA_LIB=$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1/ {print $NF; exit}')
if [ -z "$CUDA_LIB" ]; then
    for d in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }} /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/cuda/compat; do
        if [ -e "$d/libcuda.so.1" ]; then CUDA_LIB=$d/libcuda.so.1; LD=$LD:$d; break; fi
    done
fi
export LD_LIBRARY_PATH=$LD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export RUST_BACKTRACE=1
say "NVRTC: ${NVRTC:-not found}; libcuda: ${CUDA_LIB:-not found}"

# --- 1. the GPU ------------------------------------------------------------------------------------------
GPU=0
if command -v nvidia-smi >/dev/null 2>&1; then
    run_step nvidia-smi 30 nvidia-smi -L
    rc=$?
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >>"$LOGS/nvidia-smi.txt" 2>&1
    if [ $rc -eq 0 ] && grep -q '^GPU 0' "$LOGS/nvidia-smi.txt"; then
        GPU=1
        record nvidia-smi PASS "$(grep -m1 '^GPU 0' "$LOGS/nvidia-smi.txt")"
    else
        record nvidia-smi NO-GPU "nvidia-smi -L lists no GPU (exit $rc)"
    fi
else
    echo "nvidia-smi is not installed: no GPU" >"$LOGS/nvidia-smi.txt"
    record nvidia-smi NO-GPU "nvidia-smi is not installed"
fi
gpu_or() { [ $GPU = 1 ] && echo "$1" || echo NO-GPU; }

# --- 2. libraries: every binary's shared libraries resolve --------------------------------------------
{
    for b in "$KIT"/bin/* "$RUNBIN"/*; do
        echo "== $b"
        ldd "$b"
    done
} >"$LOGS/ldd.txt" 2>&1
if grep -q 'not found' "$LOGS/ldd.txt"; then
    record ldd FAIL "$(grep 'not found' "$LOGS/ldd.txt" | sort -u | tr -s ' \t' ' ' | head -3 | tr '\n' ';')"
else
    record ldd PASS "all libraries of $(grep -c '^== ' "$LOGS/ldd.txt") binaries resolve"
fi

# --- 3. NVRTC compiles both kernels (no GPU needed) ----------------------------------------------------
if [ -n "$NVRTC" ]; then
    rc=0
    run_step nvrtc 60 env TWINLOOM_REQUIRE_NVRTC=1 bash -c \
        '"$1" nvrtc --nocapture && "$2" nvrtc --nocapture' _ "$KIT/bin/biw-gpu-test" "$KIT/bin/flow-maxplus-test" || rc=$?
    record nvrtc "$(status_of $rc)" "$(why $rc)kernels compiled by NVRTC: $(grep -c '\.\.\. ok' "$LOGS/nvrtc.txt") tests ok (biw study.cu, flow maxplus.cu)"
else
    record nvrtc SKIP "libnvrtc not found (set NVRTC_DIR)"
fi

# --- 4. GPU parity tests: the CUDA launches against the CPU (they fail, not skip, when a GPU is expected) --
require=()
[ $GPU = 1 ] && require=(TWINLOOM_REQUIRE_GPU=1)
for t in biw-gpu-test:120 flow-maxplus-test:90; do
    name=${t%%:*} secs=${t##*:}
    if over_budget; then record "test-$name" SKIP "out of time budget"; continue; fi
    rc=0
    run_step "test-$name" "$secs" env "${require[@]}" "$KIT/bin/$name" gpu --nocapture || rc=$?
    ok=$(grep -c '\.\.\. ok' "$LOGS/test-$name.txt")
    if [ $rc -ne 0 ]; then
        record "test-$name" FAIL "$(why $rc)$(grep -m1 -A1 -E "panicked|FAILED|error" "$LOGS/test-$name.txt")"
    elif grep -q 'no GPU here' "$LOGS/test-$name.txt"; then
        record "test-$name" "$(gpu_or FAIL)" "$ok tests ok, the CUDA launch was skipped: $(grep -m1 'no GPU here' "$LOGS/test-$name.txt")"
    else
        record "test-$name" "$(gpu_or PASS)" "$ok tests ok; $(grep -m1 '^GPU:' "$LOGS/test-$name.txt")"
    fi
done

# --- 5. benches: CPU and GPU on this machine -----------------------------------------------------------
# bench LOG LIMIT BIN PREFIX WANT_GPU_LINE
bench() {
    local log=$1 secs=$2 bin=$3 prefix=$4 gpu_line=$5 rc=0
    if over_budget; then record "$log" SKIP "out of time budget"; return; fi
    run_step "$log" "$secs" "$KIT/bin/$bin" "$prefix" --bench || rc=$?
    grep -E '^\{.*"name":' "$LOGS/$log.txt" >>"$OUT/bench.json"
    local lines
    lines=$(grep -cE '^\{.*"name":' "$LOGS/$log.txt")
    if [ $rc -ne 0 ]; then
        record "$log" FAIL "$(why $rc)$(grep -m1 -A1 -E 'panicked|error' "$LOGS/$log.txt")"
    elif grep -qE "^\{.*\"name\": ?\"$gpu_line\"" "$LOGS/$log.txt"; then
        record "$log" PASS "$lines JSON lines, $gpu_line included"
    else
        record "$log" "$(gpu_or FAIL)" "$lines JSON lines, no $gpu_line: $(grep -m1 "skipped" "$LOGS/$log.txt")"
    fi
}
: >"$OUT/bench.json"
bench bench-biw-study 180 biw-stage-bench biw_study biw_study_gpu_s
bench bench-maxplus 90 flow-bench maxplus maxplus_reps_per_s_gpu

# --- 6. twinloom analyze biw --gpu on / off on the sample plant: same results -------------------------
if [ -x "$RUNBIN/twinloom" ]; then
    work=$(mktemp -d)
    cp -r "$KIT/data/plant" "$work/"
    for mode in off on; do
        if over_budget; then record "analyze-gpu-$mode" SKIP "out of time budget"; continue; fi
        rc=0
        run_step "analyze-gpu-$mode" 90 "$RUNBIN/twinloom" analyze biw --stage "$work/plant/plant.usda" \
            --gpu "$mode" --json --out "$work/results-$mode.usda" || rc=$?
        grep '^{' "$LOGS/analyze-gpu-$mode.txt" | tail -1 >"$work/$mode.json"
        # Exit status 1 means the study found clashes or unreachable points (the sample plant has both).
        if [ $rc -le 1 ] && [ -s "$work/$mode.json" ]; then
            record "analyze-gpu-$mode" PASS "$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print("device", a["device"], "elapsed_s", a["elapsed_s"], "collision_s", a["collision_s"], "clashes", a["clashes"], "near_misses", a["near_misses"], "unreachable", a["unreachable_points"])' "$work/$mode.json" 2>&1)"
        elif [ "$mode" = on ] && [ $GPU = 0 ] && grep -q -- '--gpu on, but' "$LOGS/analyze-gpu-on.txt"; then
            record analyze-gpu-on NO-GPU "refused as expected: $(grep -m1 -- '--gpu on, but' "$LOGS/analyze-gpu-on.txt")"
        else
            record "analyze-gpu-$mode" FAIL "$(why $rc)$(grep -v -e '^[{$]' -e '^== exit' "$LOGS/analyze-gpu-$mode.txt" | tail -3)"
        fi
    done
    if [ -s "$work/on.json" ] && [ -s "$work/off.json" ]; then
        rc=0
        python3 "$KIT/json_same.py" "$work/off.json" "$work/on.json" >"$LOGS/analyze-diff.txt" 2>&1 || rc=$?
        record analyze-diff "$(status_of $rc)" "$(tail -1 "$LOGS/analyze-diff.txt")"
    else
        record analyze-diff "$(gpu_or FAIL)" "needs both the --gpu on and --gpu off results"
    fi
    rm -rf "$work"
else
    record analyze SKIP "the twinloom binary is not in this kit (see $KIT/README.txt)"
fi

say "--- bench JSON lines"
cat "$OUT/bench.json" | tee -a "$SUMMARY"
flush_logs
if [ $FAILED = 1 ]; then
    say "--- SOME STEPS FAILED (GPU present: $GPU) in $((SECONDS - START)) s"
    exit 1
elif [ $GPU = 0 ]; then
    say "--- DRY RUN: no step failed, but there is no GPU here: the CUDA launches were not exercised ($((SECONDS - START)) s)"
    exit 2
fi
say "--- ALL PASSED on the GPU in $((SECONDS - START)) s"
