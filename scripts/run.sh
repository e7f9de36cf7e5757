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
# Install only when pyproject.toml changed since the last install (its hash is kept in .venv).
stamp=.venv/.cardano-market-installed
wanted="$(python -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' pyproject.toml)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]] \
        || ! python -c 'import cardano_market' 2>/dev/null; then
    echo "run.sh: installing the project into .venv (pyproject.toml changed)" >&2
    python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
    echo "$wanted" > "$stamp"
fi

if [[ $# -eq 0 ]]; then
    set -- serve
fi
exec cardano-market "$@"
