#!/usr/bin/env bash
# The project's main job: sets up .venv when missing, then runs `cardano-market`.
# With no arguments it serves the API on the embedded default (devnet + SQLite, demo seed,
# http://127.0.0.1:8000, /docs); any arguments are passed to the CLI instead.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    python3.11 -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

if [[ $# -eq 0 ]]; then
    set -- serve
fi
exec cardano-market "$@"
