#!/usr/bin/env bash
# The project's test command: sets up .venv and the CSL interop harness when missing, then runs
# ruff, mypy and pytest. Arguments go to pytest (e.g. ./scripts/test.sh tests/domain/test_x.py -k name).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    python3.11 -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

# npm ci again whenever the lock file lists a package that is not installed yet.
if [[ ! -d tests/interop/node_modules/@emurgo/cardano-serialization-lib-nodejs \
      || ! -d tests/interop/node_modules/@blockfrost/openapi \
      || ! -d tests/interop/node_modules/@lucid-evolution/uplc \
      || tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]]; then
    (cd tests/interop && npm ci --no-audit --no-fund)
fi

ruff check src tests scripts
mypy
pytest -q "$@"
