#!/usr/bin/env bash
# Builds every image target of deploy/Dockerfile: build-images.sh [REPOSITORY_PREFIX] [TAG]
# e.g. build-images.sh registry.example.com/diffda 0.1.0 → registry.example.com/diffda/generation:0.1.0,
# …/generation:0.1.0-cuda, … Pass PUSH=1 to push them. Needs Docker with BuildKit.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-diffda}"
tag="${2:-0.1.0}"
for process in gateway generation finetune classifier; do
  targets=("$process")
  [ "$process" = gateway ] || targets+=("$process-cuda")
  for target in "${targets[@]}"; do
    image="$prefix/$process:$tag${target#"$process"}"
    DOCKER_BUILDKIT=1 docker build -f deploy/Dockerfile --target "$target" -t "$image" .
    if [ "${PUSH:-0}" = 1 ]; then docker push "$image"; fi
  done
done
