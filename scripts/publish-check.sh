#!/usr/bin/env bash
# Publishes the cudai2v CLI for one runtime identifier at a time (framework-dependent: the machine needs the .NET 10
# runtime and ASP.NET Core shared framework) and checks that the output holds only that platform's natives: no
# runtimes/ folder, no Android/iOS/macOS files, and no other operating system's shared libraries. Prints each
# output's size. A plain 'dotnet build' copies ONNX Runtime's natives for every platform (about 240 MB of bin);
# a RID-specific publish copies one platform's. Slow (a restore and a build per RID), so a script, not a CI test.
#   scripts/publish-check.sh [rid ...]        (default: linux-x64 win-x64; OUT=folder keeps the outputs)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-$(mktemp -d)}"
[ -n "${OUT:-}" ] || trap 'rm -rf "$out"' EXIT
rids=("$@")
[ ${#rids[@]} -gt 0 ] || rids=(linux-x64 win-x64)
status=0
for rid in "${rids[@]}"; do
  dir="$out/$rid"
  dotnet publish "$root/Cli/CudaI2V.Cli.csproj" -c Release -r "$rid" --self-contained false -nologo -v quiet -o "$dir"
  case "$rid" in
    linux-*) foreign='.*\.(dylib|aar|a)$|/(lib)?onnxruntime[^/]*\.(dll|lib)$' ;;
    win-*)   foreign='.*\.(so|so\.[0-9.]+|dylib|aar|a)$' ;;
    osx-*)   foreign='.*\.(so|so\.[0-9.]+|aar|a)$|/(lib)?onnxruntime[^/]*\.dll$' ;;
    *) echo "publish-check: no rule for $rid; give linux-*, win-* or osx-*" >&2; exit 2 ;;
  esac
  bad=$( { find "$dir" -path '*/runtimes/*' -type f; find "$dir" -type f | grep -Ei -e "$foreign" -e '(android|ios|maccatalyst|xcframework|\.framework/)' || true; } | sort -u)
  size=$(du -sh "$dir" | cut -f1)
  natives=$(find "$dir" -type f \( -name '*.so' -o -name '*.so.*' -o -name '*.dylib' -o -name '*onnxruntime*.dll' \) -printf '%f ' | sort)
  if [ -n "$bad" ]; then
    echo "publish-check: $rid: other platforms' natives in $dir:" >&2
    echo "$bad" >&2
    status=1
  else
    echo "publish-check: $rid OK: $size in $dir; natives: $natives"
  fi
done
exit $status
