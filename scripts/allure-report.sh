#!/usr/bin/env bash
# Build the HTML report (Allure 3, single self-contained file) from pytest's results:
#   pytest features/ --inventory site.yml --alluredir allure-results
#   scripts/allure-report.sh [RESULTS_DIR [REPORT_DIR]]    -> allure-report/index.html
# Uses only the pinned local allure (package.json / package-lock.json): `npm ci` first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
results=$(realpath -m "${1:-allure-results}")
report=$(realpath -m "${2:-allure-report}")
cd "$root"
if [ ! -x node_modules/.bin/allure ]; then
  echo "allure-report: $root/node_modules/.bin/allure is missing; run 'npm ci' in $root" \
       "(or 'make install-node')" >&2
  exit 2
fi
if [ ! -d "$results" ] || [ -z "$(ls -A "$results" 2>/dev/null)" ]; then
  echo "allure-report: no results in $results; run pytest with --alluredir $results" >&2
  exit 2
fi
# allurerc.mjs reads the results' root causes from here: a category for each
STACKPROOF_ALLURE_RESULTS="$results" \
  npx --no-install allure generate "$results" -o "$report" --config "$root/allurerc.mjs"
echo "allure-report: $report/index.html"
