#!/usr/bin/env bash
# Prepares the GPU check's payload on a development machine (.NET SDK, the NuGet cache):
#   1. a trimmed self-contained linux-x64 `medlm` (TrimmerRootAssembly: MeDlm.Cli, MeDlm, Spectre.Console,
#      Spectre.Console.Cli), checked here on the CPU with `medlm generate` on the bundled model;
#   2. ONNX Runtime's native libraries, the CUDA provider split (xz) into parts of at most 60 MiB.
# Output: tests/gpu/payload/ (ignored by git): part-1 (medlm + libonnxruntime), part-2.. (the provider),
# SHA256SUMS. Each part reaches the GPU machine with one run of tests/gpu/run.sh (see tests/gpu/README.md).
#   --dry-run       print the steps and sizes without publishing
#   --publish-only  the trimmed publish and its CPU check only (CI: .ci/run)
set -euo pipefail
cd "$(dirname "$0")/../.."
DRY=0; PUBLISH_ONLY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
[ "${1:-}" = "--publish-only" ] && PUBLISH_ONLY=1
OUT=tests/gpu/payload
PUB=$OUT/.publish
PART_MAX=$((60 * 1024 * 1024))
ORT_VER=$(sed -n 's/.*Include="Microsoft.ML.OnnxRuntime.Gpu.Linux" Version="\([^"]*\)".*/\1/p' Directory.Packages.props)
NATIVE="${NUGET_PACKAGES:-$HOME/.nuget/packages}/microsoft.ml.onnxruntime.gpu.linux/$ORT_VER/runtimes/linux-x64/native"

step() { echo "== $*"; }
# The natives come with the ONNX Runtime package: restore first (a fresh machine has an empty NuGet cache).
step "restore src/MeDlm.Cli (linux-x64)"
dotnet restore src/MeDlm.Cli -r linux-x64 --nologo -v q
step "ONNX Runtime $ORT_VER natives: $NATIVE"
for f in libonnxruntime.so libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
  [ -f "$NATIVE/$f" ] || { echo "missing $NATIVE/$f after the restore" >&2; exit 1; }
  echo "   $f $(stat -c %s "$NATIVE/$f") bytes"
done
if [ $DRY = 1 ]; then
  step "dry run: would publish src/MeDlm.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true to $PUB/medlm"
  step "dry run: would check '$PUB/medlm/medlm generate' on onnx/medlm-tiny on the CPU"
  step "dry run: would write $OUT/part-1.tar.xz (medlm, libonnxruntime*.so) and split the provider's xz into ${PART_MAX}-byte parts"
  exit 0
fi

rm -rf "$OUT"; mkdir -p "$PUB"
step "trimmed self-contained publish"
dotnet publish src/MeDlm.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true \
  -p:IncludeNativeLibrariesForSelfExtract=false -o "$PUB/medlm" --nologo -v q
# The provider travels in its own parts; the CPU natives stay next to medlm.
rm -f "$PUB/medlm/libonnxruntime_providers_cuda.so" "$PUB/medlm/libonnxruntime_providers_tensorrt.so"
step "CPU check of the trimmed publish"
"$PUB/medlm/MeDlm.Cli" generate --model onnx/medlm-tiny "def add(a, b):" --gen-length 16 > "$PUB/generate.txt"
[ -s "$PUB/generate.txt" ] || { echo "the trimmed medlm printed nothing" >&2; exit 1; }
echo "   trimmed medlm: $(du -sb "$PUB/medlm" | cut -f1) bytes; generate printed $(wc -c < "$PUB/generate.txt") bytes"
if [ $PUBLISH_ONLY = 1 ]; then rm -rf "$OUT"; exit 0; fi
cp -r onnx/medlm-tiny "$PUB/medlm-tiny"

step "part 1: medlm + ONNX Runtime"
tar -C "$PUB" -cJf "$OUT/part-1.tar.xz" medlm medlm-tiny
step "parts 2..: the CUDA provider, xz, split"
xz -9 -T0 -c "$NATIVE/libonnxruntime_providers_cuda.so" | split -b "$PART_MAX" -d -a 1 - "$OUT/provider.xz.part-"
(cd "$OUT" && sha256sum part-1.tar.xz provider.xz.part-* > SHA256SUMS && ls -l)
for f in "$OUT"/part-1.tar.xz "$OUT"/provider.xz.part-*; do
  [ "$(stat -c %s "$f")" -le "$PART_MAX" ] || { echo "$f is over 60 MiB" >&2; exit 1; }
done
rm -rf "$PUB"
