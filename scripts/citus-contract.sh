#!/bin/sh
# scripts/citus-contract.sh <coordinator-url>: see scripts/citus-contract.mjs and docs/scale-out.md.
exec node "$(dirname "$0")/citus-contract.mjs" "$@"
