#!/usr/bin/env bash
# Fail if the committed generated code in netrouter/v1/ differs from what protos/ generates.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
${UV_BIN:-uv} run --group dev python -m grpc_tools.protoc -Iprotos \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/netrouter/v1/site_report.proto protos/netrouter/v1/router.proto
status=0
for f in "$out"/netrouter/v1/*; do
  name=$(basename "$f")
  if ! diff -u "netrouter/v1/$name" "$f"; then
    echo "netrouter/v1/$name is stale: run scripts/gen_protos.sh and commit" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "generated protobuf code is up to date"
exit "$status"
