#!/usr/bin/env bash
# Run upstream Routilux 0.10.0's own test suite against this checkout's package.
#
#   scripts/upstream_suite.sh UPSTREAM_CHECKOUT [pytest args...]
#
# UPSTREAM_CHECKOUT is a checkout (or `git archive` export) of upstream Routilux at its 0.10.0
# release. Its tests/ directory and the tests of its built-in routines
# (routilux/builtin_routines/*/tests) are copied to a temporary directory, so that upstream's own
# `routilux` package is never importable, and run with this checkout first on PYTHONPATH.
# Upstream's tests import serilux (upstream's serialization library) directly; it is installed into
# a cache directory beside the copy (never into the project's environment).
# Prints pytest's summary line; the exit status is pytest's.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1/tests" ]; then
  echo "usage: $0 UPSTREAM_CHECKOUT [pytest args...]  (a directory holding upstream's tests/)" >&2
  exit 2
fi
upstream="$(cd "$1" && pwd)"
shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PY:-${PYTHON:-python3}}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$upstream/tests" "$work/tests"
mkdir -p "$work/builtin_tests"
touch "$work/builtin_tests/__init__.py"
for dir in "$upstream"/routilux/builtin_routines/*/tests; do
  [ -d "$dir" ] || continue
  group="$(basename "$(dirname "$dir")")"
  mkdir -p "$work/builtin_tests/$group"
  cp "$dir"/*.py "$work/builtin_tests/$group/"
done

deps="${UPSTREAM_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/routilux-upstream-deps}"
if [ ! -d "$deps/serilux" ]; then
  "$python" -m pip install --quiet --no-deps --target "$deps" "serilux==0.3.1"
fi

cd "$work"
PYTHONPATH="$here:$deps" "$python" -m pytest tests builtin_tests -q -p no:cacheprovider \
  --continue-on-collection-errors -o addopts="" --timeout 120 "$@"
