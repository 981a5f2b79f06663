#!/usr/bin/env bash
# Packs the libraries and the cudai2v .NET tool, installs the tool from those local packages into a fresh tool
# path, and runs it: --version, then --demo on the CPU. Slow (a full Release build and a 160 MB tool package,
# ONNX Runtime's natives included), so a script rather than a CI test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dotnet pack "$root/CudaI2V.sln" -c Release -nologo -v quiet -o "$work/packages"
ls -l "$work/packages"
version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props")"
dotnet tool install CudaI2V.Tool --tool-path "$work/tool" --add-source "$work/packages" --version "$version"
"$work/tool/cudai2v" --version
CUDAI2V_CACHE_DIR="$work/cache" "$work/tool/cudai2v" generate --demo --device cpu --out "$work/demo.gif"
test -s "$work/demo.gif" && test -s "$work/demo.json"
echo "pack-check: OK (the tool installed from local packages made $work/demo.gif)"
