#!/usr/bin/env bash
# The full kit rebuild, one stage after another (resumable: re-run to continue from the last checkpoints).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --import tsx models/scripts/train-kit.ts "$@"
