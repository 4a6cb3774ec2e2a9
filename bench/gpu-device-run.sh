#!/usr/bin/env bash
# The issue-16 GPU check, as one prepared script (docs/performance.md, "GPU").
#
# Here (no GPU needed):   bench/gpu-device-run.sh pack
#   bundles bench/gpu.ts and the engine into dist/bench-gpu.mjs (esbuild; onnxruntime-node and
#   sharp stay external) and packs node, those modules and the Vulkan loader into .gpu/
#   (../shared/gpu/pack.sh). Then check it at toy sizes: bench/gpu-device-run.sh smoke
# On the lent machine (the device tool): `pack` prints the calls — the pack travels in pieces
#   (.gpu-1 … .gpu-N, one carried per call, since the tracked files alone are most of the 64 MiB
#   a call may carry), the last call ends with `bash bench/gpu-device-run.sh run`, which writes
#   $OUT/bench-gpu.json (the numbers) and $OUT/bench-gpu.log (the readable lines).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}

bundle() {
  npx esbuild bench/gpu.ts --bundle --platform=node --format=esm --target=node20 \
    --external:onnxruntime-node --alias:sharp=./bench/sharp-stub.ts --outfile=dist/bench-gpu.mjs --log-level=warning \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
}

case "$mode" in
  pack)
    bundle
    ../shared/gpu/pack.sh
    # The tree that travels is at most 64 MiB, and the tracked files alone are most of it: the
    # pack goes over in pieces (ignored folders .gpu-1 … .gpu-N, one carried per call; see
    # docs/performance.md, "GPU"), the last piece with the bundle.
    rm -rf .gpu-[0-9]*
    tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
    room=$(( (64 << 20) - tracked - (2 << 20) ))
    (( room > (1 << 20) )) || { echo "pack: the tracked files ($tracked bytes) leave no room under 64 MiB" >&2; exit 1; }
    piece=$(( room < (24 << 20) ? room : (24 << 20) ))
    tar -cf - .gpu dist/bench-gpu.mjs | split -b "$piece" -d -a 1 - .gpu-piece.
    n=0
    for f in .gpu-piece.*; do n=$((n + 1)); mkdir -p ".gpu-$n"; mv "$f" ".gpu-$n/part"; done
    grep -qxF '/.gpu-*/' .git/info/exclude || echo '/.gpu-*/' >> .git/info/exclude
    echo "pack: $n pieces of at most $piece bytes (tracked files: $tracked bytes)"
    for i in $(seq 1 "$n"); do
      if (( i < n )); then echo "  run carry [\".gpu-$i\"]: bash bench/gpu-device-run.sh receive $i"
      else echo "  run carry [\".gpu-$i\"], timeout_s 480: bash bench/gpu-device-run.sh receive $i && bash bench/gpu-device-run.sh run"; fi
    done
    ;;
  receive)
    # one piece, kept outside the tree (/tmp stays while the machine is warm); `run` joins them
    mkdir -p /tmp/gpu-pieces
    cp ".gpu-$2/part" "/tmp/gpu-pieces/$(printf %03d "$2")"
    echo "receive: $(ls /tmp/gpu-pieces | wc -l) pieces here"
    ;;
  smoke)
    # the bundle as the GPU machine runs it, at toy sizes on the CPU (PYTHON: a python3 with torch)
    bundle
    node dist/bench-gpu.mjs --device cpu --smoke --dir "${TMPDIR:-/tmp}/atelier-bench-gpu-bundle-smoke"
    ;;
  run)
    if [[ ! -f .gpu/unpack.sh && -d /tmp/gpu-pieces ]]; then
      cat /tmp/gpu-pieces/* | tar -xf -
    fi
    # shellcheck disable=SC1091
    source .gpu/unpack.sh
    out=${OUT:-/tmp/bench-gpu-out}
    mkdir -p "$out"
    # Dawn looks for the NVIDIA Vulkan driver unpack.sh names; XDG_RUNTIME_DIR silences a warning
    export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt" || true
    # SD 1.5 topology, fp16, 512², UNet step at batch 2 (CFG), 5 timed steps; then 20 steps end to
    # end at batch 1 and 4 (one UNet batch); PyTorch eager fp16 on CUDA on the same weights
    status=0
    node dist/bench-gpu.mjs --device webgpu --dtype float16 --size 512 --batch 2 --steps 5 \
      --e2e-size 512 --e2e-steps 20 --batches 1,4 --no-cache --dir /tmp/atelier-bench-gpu --json \
      > "$out/bench-gpu.json" 2> /tmp/bench-gpu.stderr || status=$?
    # Dawn's limit warnings say nothing about the run
    grep -v 'artificially reduced' /tmp/bench-gpu.stderr > "$out/bench-gpu.log" || true
    tail -n 40 "$out/bench-gpu.log"
    exit "$status"
    ;;
  *)
    echo "usage: bench/gpu-device-run.sh pack|smoke|run" >&2
    exit 2
    ;;
esac
