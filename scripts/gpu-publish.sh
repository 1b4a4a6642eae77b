#!/usr/bin/env bash
# Builds a self-contained linux-x64 `sac` into publish/gpu/ for a GPU machine that has the CUDA driver and cuBLAS but
# no .NET, checks that it fits the 64 MiB a device run may carry, and prints the commands to run there.
set -euo pipefail
cd "$(dirname "$0")/.."
out=publish/gpu
rm -rf "$out"
# Single file, compressed, untrimmed (trimming would need the reflection Argu and System.Text.Json rely on checked);
# the PTX kernels travel inside Sac.Cuda.dll.
dotnet publish Sac.Cli -c Release -r linux-x64 --self-contained true \
    -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:PublishTrimmed=false \
    -p:IncludeNativeLibrariesForSelfExtract=true -p:DebugType=none -o "$out"
size=$(du -sb "$out" | cut -f1)
echo "publish/gpu: $((size / 1024 / 1024)) MiB ($size bytes)"
if [ "$size" -gt $((64 * 1024 * 1024)) ]; then
    echo "publish/gpu is larger than 64 MiB: it will not fit a device run" >&2
    exit 1
fi
cat <<'RUN'
On the GPU machine, from the repository root, in this order:
  ./publish/gpu/sac check-device                     # kernels vs CPU twins, 100 SAC updates vs the CPU update, graphs vs none
  ./publish/gpu/sac bench --filter cuda              # copy_bandwidth, polyak, adam (fraction_of_copy >= 0.7);
                                                     # sac_update, and sac_update_graph (without and with CUDA graphs), on the GPU
  ./publish/gpu/sac bench --filter sac_update        # sac_update at batch 256 and 4096, CPU and GPU in one run
RUN
