#!/usr/bin/env bash
# Sets up a fresh machine if needed, builds, and runs a complete bill run on sample data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --product tollbooth
swift build --product stripe-sim   # the demo starts it as its Stripe
.build/debug/tollbooth demo "$@"
