#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (docs/gpu-runs.md says how it runs and what the runs found).
#
#   scripts/device-check.sh pack            here: Release build, then .device/ with the .NET runtime and the
#                                           test + CLI build as one xz archive (Linux x64 natives only, the
#                                           fixtures with the block files the GPU block tests read), checked <= 60 MiB
#   scripts/device-check.sh run [--budget S] [--memcheck] [--no-demo] [--no-bench] [--class NAME | --method NAME]...
#                                           on the GPU machine (no .NET there): unpack the runtime, run `cudai2v
#                                           info`, every GPU test with CUDAI2V_REQUIRE_GPU=1 (or those of the named
#                                           classes or methods; again under compute-sanitizer memcheck with
#                                           --memcheck), the demo twice on one kernel cache, and the benchmarks;
#                                           each step is cut off so that the whole run ends within --budget seconds
#                                           (default 420); the logs come back as $OUT/device-logs.tar.gz, the
#                                           first failures and a short table are printed last.
#
# Typical lease: bash scripts/device-check.sh pack, then the device tool runs
#   bash scripts/device-check.sh run          with carry [".device"].
set -uo pipefail
cd "$(dirname "$0")/.."

DEVICE_DIR=.device
LIMIT_MIB=60
GPU_TRAIT="Category=GPU"
# Test classes of kernels that have not yet passed on a device, run in a process of their own first (see run);
# for example "CudaI2V.Tests.Gpu.GpuFlashAttentionTests" until its first device run (2026-11-26). None now.
ISOLATED_CLASSES=""

# Packs this machine's .NET runtime (the host, Microsoft.NETCore.App, and Microsoft.AspNetCore.App, which the
# server project of `cudai2v serve` and so the CLI and the tests need) into $1 as
# dotnet-runtime-<version>-aspnetcore-linux-x64.tar.xz, for the GPU machine, which has no .NET; an archive of the same
# version already there is kept, and older archives are removed (run unpacks dotnet-runtime-*.tar.xz).
pack_runtime() {
  local dir=$1 root version aspnet archive
  root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  version=$(ls "$root/shared/Microsoft.NETCore.App" | sort -V | tail -1)
  aspnet=$(ls "$root/shared/Microsoft.AspNetCore.App" | sort -V | tail -1)
  archive="$dir/dotnet-runtime-$version-aspnetcore-linux-x64.tar.xz"
  find "$dir" -maxdepth 1 -name 'dotnet-runtime-*.tar.xz' ! -path "$archive" -delete
  if [ ! -s "$archive" ]; then
    tar -C "$root" -cf - dotnet host "shared/Microsoft.NETCore.App/$version" "shared/Microsoft.AspNetCore.App/$aspnet" | xz -6 -T0 > "$archive.tmp"
    mv "$archive.tmp" "$archive"
  fi
}

pack() {
  set -e
  dotnet build CudaI2V.sln -c Release -nologo -v quiet
  rm -rf "$DEVICE_DIR"/app "$DEVICE_DIR"/out "$DEVICE_DIR"/app.tar.xz
  mkdir -p "$DEVICE_DIR"
  pack_runtime "$DEVICE_DIR"
  # The test build holds the CLI too (cudai2v.dll and its runtimeconfig). Leave out what the GPU never needs:
  # ONNX Runtime's natives for other platforms, Selenium's driver manager (the browser test runs here), XML docs and
  # satellite folders.
  (cd tests/bin/Release/net10.0 && tar --exclude='./runtimes/[!l]*' --exclude='./runtimes/linux-[!x]*' \
      --exclude='./runtimes/*/native/selenium-manager*' --exclude='./selenium-manager' \
      --exclude='*.xml' \
      --exclude='./??' --exclude='./??-??' --exclude='./zh-Hans' --exclude='./zh-Hant' -cf - .) | xz -6 -T0 > "$DEVICE_DIR/app.tar.xz"
  local size
  size=$(du -sm "$DEVICE_DIR" | cut -f1)
  echo "packed $DEVICE_DIR: ${size} MiB (limit ${LIMIT_MIB} MiB)"
  if [ "$size" -gt "$LIMIT_MIB" ]; then
    echo "too large to carry; remove something from $DEVICE_DIR" >&2
    exit 1
  fi
}

run() {
  local memcheck=0 bench=1 demo=1 budget=420
  local filter=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --budget) budget=$2; shift ;;
      --memcheck) memcheck=1 ;;
      --no-bench) bench=0 ;;
      --no-demo) demo=0 ;;
      --class|--method) filter+=("-${1#--}" "$2"); shift ;;
      *) echo "run: unknown option $1 (--budget S, --memcheck, --no-bench, --no-demo, --class NAME, --method NAME)" >&2; return 2 ;;
    esac
    shift
  done
  # At most 8 files come back from $OUT: the logs are written to a work folder and packed into one archive at the end.
  local deadline=$(($(date +%s) + budget - 15))
  local returned=${OUT:-$PWD/.device/out}
  local out
  out=$(mktemp -d)
  mkdir -p "$returned"
  local rt
  rt=$(mktemp -d)
  tar -xJf "$DEVICE_DIR"/dotnet-runtime-*.tar.xz -C "$rt"
  # Unpacked outside the carried folder, which must stay under the device's 64 MiB limit for the next call.
  local APP_DIR
  APP_DIR=$(mktemp -d)
  tar -xJf "$DEVICE_DIR/app.tar.xz" -C "$APP_DIR"
  export DOTNET_ROOT=$rt DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
  export CUDAI2V_CACHE_DIR=$rt/cache
  local dotnet=$rt/dotnet
  # The table's rows go to a file, so steps run in the background (memcheck) add theirs too.
  local table=$out/.table
  : >"$table"
  row() { printf '%s\n' "$1" >>"$table"; }

  step() { # name, seconds at most, log file, command... (cut off earlier when the run's budget ends)
    local name=$1 limit=$2 log=$3
    shift 3
    local left=$((deadline - $(date +%s)))
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 5 ]; then
      row "$(printf '%-28s %-6s' "$name" SKIP)  (the run's budget is spent)"
      return 1
    fi
    local start end status
    start=$(date +%s.%N)
    timeout --kill-after=5 "$limit" "$@" >"$out/$log" 2>&1
    status=$?
    [ $status -eq 124 ] && echo "[device-check] cut off after $limit s" >>"$out/$log"
    end=$(date +%s.%N)
    row "$(printf '%-28s %-6s %7.1f s  %s' "$name" "$([ $status -eq 0 ] && echo ok || { [ $status -eq 124 ] && echo CUTOFF; } || echo FAIL)" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$log")"
    return $status
  }

  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm --format=csv >"$out/nvidia-smi.log" 2>&1
  step "cudai2v info" 30 info.log "$dotnet" "$APP_DIR/cudai2v.dll" info
  if [ $bench -eq 1 ]; then # first: seconds, and they show whether cuBLAS is reached at all
    step "bench gemm 4096^3 fp16" 30 bench-gemm-fp16.log "$dotnet" "$APP_DIR/cudai2v.dll" bench gemm --m 4096 --n 4096 --k 4096 --dtype fp16
    step "bench gemm 4096^3 bf16" 30 bench-gemm-bf16.log "$dotnet" "$APP_DIR/cudai2v.dll" bench gemm --m 4096 --n 4096 --k 4096 --dtype bf16
  fi
  # Kernels new to the device run in a process of their own first, so that a fault there (a sticky CUDA error
  # poisons its context) cannot spoil the rest of the run.
  local isolated=()
  if [ ${#filter[@]} -eq 0 ] && [ -n "$ISOLATED_CLASSES" ]; then
    for class in $ISOLATED_CLASSES; do isolated+=(-class "$class"); done
    step "GPU tests (new kernels)" 120 gpu-tests-new.log env CUDAI2V_REQUIRE_GPU=1 "$dotnet" "$APP_DIR/CudaI2V.Tests.dll" -noColor -trait "$GPU_TRAIT" "${isolated[@]}"
    filter=()
    for class in $ISOLATED_CLASSES; do filter+=(-class- "$class"); done
  fi
  step "GPU tests" 240 gpu-tests.log env CUDAI2V_REQUIRE_GPU=1 "$dotnet" "$APP_DIR/CudaI2V.Tests.dll" -noColor -trait "$GPU_TRAIT" -xml "$out/gpu-tests.xml" "${filter[@]}"
  if [ ${#isolated[@]} -gt 0 ]; then filter=(); fi
  if ! grep -q 'Total: [1-9]' "$out/gpu-tests.log"; then
    row "$(printf '%-28s %-6s' "GPU tests: none ran" FAIL)  (no test has the trait $GPU_TRAIT)"
  fi
  if [ $memcheck -eq 1 ]; then
    # memcheck slows every launch down; four processes, each with a share of the test classes, run side by side. The
    # request-memory test fills the card to test a refusal, which would starve the other three, and launches nothing;
    # two runtime tests provoke API errors on purpose (an allocation too large, a launch of 2048 threads per block),
    # which memcheck would count as errors.
    local sanitizer
    sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    local g=CudaI2V.Tests.Gpu
    local groups=(
      "-class $g.GpuUNetBlockTests -class $g.GpuVaeBlockTests"
      "-class $g.GpuModelTests -class $g.GpuEngineTests -class $g.GpuPlannedForwardTests -class $g.GpuVaePrecisionTests"
      "-class $g.GpuGemmOpTests -class $g.GpuGemmTests -class $g.GpuGemmKernelTests -class $g.GpuFlashAttentionTests"
      "-class- $g.GpuUNetBlockTests -class- $g.GpuVaeBlockTests -class- $g.GpuModelTests -class- $g.GpuEngineTests -class- $g.GpuPlannedForwardTests -class- $g.GpuVaePrecisionTests -class- $g.GpuGemmOpTests -class- $g.GpuGemmTests -class- $g.GpuGemmKernelTests -class- $g.GpuFlashAttentionTests -class- $g.GpuRequestMemoryTests -method- $g.GpuRuntimeTests.Out_of_memory_is_a_cuda_exception_naming_the_call -method- $g.GpuRuntimeTests.A_launch_error_names_the_kernel"
    )
    [ ${#filter[@]} -gt 0 ] && groups=("${filter[*]}")
    local i=0 pids=()
    for group in "${groups[@]}"; do
      i=$((i + 1))
      # shellcheck disable=SC2086 # each group is a list of runner options
      step "GPU tests (memcheck $i)" 240 "gpu-tests-memcheck-$i.log" env CUDAI2V_REQUIRE_GPU=1 CUDAI2V_UNDER_SANITIZER=1 \
        "$sanitizer" --tool memcheck --target-processes all --error-exitcode 99 \
        "$dotnet" "$APP_DIR/CudaI2V.Tests.dll" -noColor -trait "$GPU_TRAIT" $group &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
  fi
  # A second process on the same kernel cache compiles nothing (issue 7); the first replays the UNet step as a CUDA
  # graph (the default), the second launches it directly, and both must give the same GIF.
  local demo_cache
  demo_cache=$(mktemp -d)
  if [ $demo -eq 1 ]; then
    step "generate --demo (cold cache)" 60 demo-cold.log "$dotnet" "$APP_DIR/cudai2v.dll" generate --demo --device cuda --cache-dir "$demo_cache" --out "$out/demo.gif" --seed 1
    step "generate --demo (warm, direct)" 60 demo-warm.log "$dotnet" "$APP_DIR/cudai2v.dll" generate --demo --device cuda --cache-dir "$demo_cache" --out "$out/demo-direct.gif" --seed 1 --no-cuda-graphs
    if ! grep -q 'kernels: 0 compiled by NVRTC' "$out/demo-warm.log"; then
      row "$(printf '%-28s %-6s' "second process compiled" FAIL)  (demo-warm.log: expected 'kernels: 0 compiled by NVRTC')"
    fi
    if ! cmp -s "$out/demo.gif" "$out/demo-direct.gif"; then
      row "$(printf '%-28s %-6s' "graphs change the demo" FAIL)  (demo.gif and demo-direct.gif differ)"
    fi
  fi
  if [ $bench -eq 1 ]; then
    step "bench unet 512x512x16" 90 bench-unet-512.log "$dotnet" "$APP_DIR/cudai2v.dll" bench --height 512 --width 512 --frames 16 --json "$out/bench-unet-512.json"
    step "bench unet 704x1280x16" 120 bench-unet-704x1280.log "$dotnet" "$APP_DIR/cudai2v.dll" bench --height 704 --width 1280 --frames 16 --json "$out/bench-unet-704x1280.json"
  fi
  # The resources ptxas gave the fused attention (registers, spills, shared memory), from the kernel cache the
  # benchmarks compiled into (the tests use caches of their own).
  find "$CUDAI2V_CACHE_DIR" "$demo_cache" -name 'FlashAttention-*.cubin' -exec "$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)" -res-usage {} \; >"$out/flash-resources.log" 2>&1

  echo
  echo "== first failures (full logs in \$OUT)"
  for log in "$out"/gpu-tests*.log; do
    [ -f "$log" ] || continue
    echo "-- $(basename "$log"): failures per test"
    grep -h "\[FAIL\]" "$log" | sed -E 's/^ *//; s/\(.*//; s/ \[FAIL\]//' | sort | uniq -c | sort -rn | head -30
    echo "-- $(basename "$log"): the first ten, with their first message line"
    grep -h -A1 "\[FAIL\]" "$log" | grep -v "^--$" | head -20
  done
  for log in "$out"/demo-*.log "$out"/bench-*.log; do
    [ -f "$log" ] && grep -l -i -E "exception|error|fail" "$log" >/dev/null && { echo "-- $(basename "$log")"; grep -i -E -m 5 "exception|error|fail" "$log"; }
  done
  for log in "$out"/gpu-tests-memcheck-*.log; do
    [ -f "$log" ] || continue
    echo "-- $(basename "$log"): memcheck"
    grep -h -E "^========= (Invalid|Program hit|Uninitialized|Leaked|Error)" "$log" | sort | uniq -c | sort -rn | head -8
    grep -h "ERROR SUMMARY" "$log"
  done
  if grep -q "REG" "$out/flash-resources.log"; then
    echo "-- fused attention resources (cuobjdump -res-usage)"
    grep -h -E "Function|REG" "$out/flash-resources.log" | sed -E 's/^ +//' | paste - - | head -8
  fi
  echo "== test summary"
  grep -h "Total:" "$out"/gpu-tests*.log 2>/dev/null
  grep -h "kernels:" "$out"/demo-*.log 2>/dev/null
  grep -h -i "tflop" "$out"/bench-*.log 2>/dev/null | grep -v "^  "
  echo "== device-check"
  head -2 "$out/nvidia-smi.log" | tail -1
  cat "$table"
  rm -f "$table"
  tar -czf "$returned/device-logs.tar.gz" -C "$out" .
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  *) echo "usage: scripts/device-check.sh pack | run [--memcheck] [--no-demo] [--no-bench] [--class NAME | --method NAME]..." >&2; exit 2 ;;
esac
