#!/usr/bin/env bash
# Runs dagc's whole test suite: pytest (unit, end-to-end, numerical) on 2 workers,
# then the lit/FileCheck tests of every IR level. Exit status is non-zero if either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m pytest -n 2 -q tests "$@"
rc_pytest=$?
$PY -c "import sys; from lit.main import main; sys.argv[0] = 'lit'; main()" lit_tests -q
rc_lit=$?
echo "pytest exit $rc_pytest, lit exit $rc_lit"
[ $rc_pytest -eq 0 ] && [ $rc_lit -eq 0 ]
