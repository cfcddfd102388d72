#!/usr/bin/env bash
# Regenerate the protobuf/gRPC code in netrouter/v1/ from protos/.
set -euo pipefail
cd "$(dirname "$0")/.."
${UV_BIN:-uv} run --group dev python -m grpc_tools.protoc -Iprotos \
  --python_out=. --pyi_out=. --grpc_python_out=. \
  protos/netrouter/v1/site_report.proto protos/netrouter/v1/router.proto
