#!/usr/bin/env bash
# `npm run train:models [stage…]`: the whole kit rebuild, one stage after another in one process, then the
# model cards. Resumable: re-run it and every stage continues from its last checkpoint in .cache/kit/.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .cache/kit/logs
node --import tsx models/scripts/train-kit.ts "$@"
node --import tsx models/scripts/cards.ts
