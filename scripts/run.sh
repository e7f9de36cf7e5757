#!/usr/bin/env bash
# The project's main job: sets up .venv when missing, then runs `cardano-market`.
# With no arguments it prices the demo order and builds its unsigned transaction
# (fixtures/orders/usd-sale.json); any arguments are passed to the CLI instead.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    python3.11 -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

if [[ $# -eq 0 ]]; then
    set -- order
fi
exec cardano-market "$@"
