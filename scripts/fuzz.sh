#!/usr/bin/env bash
# The fuzzer of tests/Fuzz with any seed and count, for a person (CI runs seed 20261202, 3,000 cases):
#
#   scripts/fuzz.sh SEED COUNT        e.g. scripts/fuzz.sh 7 200000
#
# Builds the tests (Release) unless CUDAI2V_FUZZ_NO_BUILD=1, then runs FuzzTests with the seed and count; the
# counts (cases, loaded, refused by exception type) and any case outside the contract are printed. A case is
# reproduced by running the same seed with a count just past its number. docs/robustness.md has the contract.
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:?usage: scripts/fuzz.sh SEED COUNT}"
count="${2:?usage: scripts/fuzz.sh SEED COUNT}"
if [[ "${CUDAI2V_FUZZ_NO_BUILD:-0}" != 1 ]]; then
  dotnet build tests/CudaI2V.Tests.csproj -c Release -nologo -v quiet
fi
CUDAI2V_FUZZ_SEED="$seed" CUDAI2V_FUZZ_COUNT="$count" \
  dotnet tests/bin/Release/net10.0/CudaI2V.Tests.dll -class CudaI2V.Tests.Fuzz.FuzzTests -showLiveOutput
