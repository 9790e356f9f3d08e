#!/usr/bin/env bash
# Fails when poetry.lock no longer matches pyproject.toml, or when constraints.txt (what pip
# installs from) is not the export of poetry.lock. `scripts/check-lock.sh --fix` rewrites both.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.venv-tools
if [ ! -x "$TOOLS/bin/poetry" ]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet "poetry>=2.1,<3" "poetry-plugin-export>=1.9,<2"
fi
POETRY="$TOOLS/bin/poetry"
if [ "${1:-}" = "--fix" ]; then
  "$POETRY" lock
else
  "$POETRY" check --lock
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
  echo "# Exported from poetry.lock by scripts/check-lock.sh; do not edit by hand."
  "$POETRY" export --format constraints.txt --all-extras --without-hashes | grep -v "^--"
} > "$tmp"
if [ "${1:-}" = "--fix" ]; then
  mv "$tmp" constraints.txt
  trap - EXIT
  echo "poetry.lock and constraints.txt updated"
elif ! diff -q "$tmp" constraints.txt >/dev/null; then
  diff "$tmp" constraints.txt | head -20
  echo "constraints.txt is stale: run scripts/check-lock.sh --fix" >&2
  exit 1
else
  echo "poetry.lock and constraints.txt match pyproject.toml"
fi
