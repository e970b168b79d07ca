#!/usr/bin/env bash
# Runs the README's quick start verbatim, in order, as a new user would: its first ```sh block
# after "## Quick start", from a folder that looks like the repository root (build/ and tests/
# linked in), with HOME in a temporary folder (so ~/.local and the caches are the test's own).
# Then checks what the steps wrote. Usage: readme_quickstart.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home" "$tmp/repo"
ln -s "$build" "$tmp/repo/build"
ln -s "$src/tests" "$tmp/repo/tests"
awk '/^## Quick start/{q=1} q&&/^```sh/{b=1;next} b&&/^```/{exit} b{print}' "$src/README.md" >"$tmp/quickstart.sh"
[ -s "$tmp/quickstart.sh" ] || { echo "no quick start block found in README.md"; exit 1; }
echo "--- the README's quick start:"
cat "$tmp/quickstart.sh"
echo "---"
cd "$tmp/repo"
env -u XDG_CACHE_HOME HOME="$tmp/home" PATH="/usr/bin:/bin" bash -euo pipefail "$tmp/quickstart.sh" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; echo "FAIL: a quick start step failed"; exit 1; }
fail() { cat "$tmp/log"; echo "FAIL: $*"; exit 1; }
[ -x "$tmp/home/.local/bin/fcast" ] || fail "step 1 installed no ~/.local/bin/fcast"
for f in toto.csv kronos.csv; do
  [ -s "$f" ] || fail "$f was not written"
  head -1 "$f" | grep -q '^symbol,timestamp,variate,step,mean,median,std' || fail "$f has no symbol,timestamp,... header"
  n=$(tail -n +2 "$f" | cut -d, -f1 | sort -u | tr '\n' ' ')
  [ "$n" = "AAPL AMZN GOOG MSFT NVDA " ] || fail "$f: symbols '$n', expected the five of stocks5_daily.csv"
  # The file ends on Friday 2026-02-13: no weekend stamps, the first on Monday.
  # (awk reads whole files: no early-exiting reader, so pipefail never sees a SIGPIPE'd writer)
  awk -F, 'NR > 1 && $2 ~ /^2026-02-(14|15|21|22)$/ {bad = 1} END {exit bad ? 0 : 1}' "$f" && fail "$f has weekend stamps"
  [ "$(awk -F, 'NR == 2 {print $2}' "$f")" = 2026-02-16 ] || fail "$f does not start on 2026-02-16"
done
ls stress_results/compile_stress_report_quick.html >/dev/null || fail "step 5 wrote no stress report"
[ -d "$tmp/home/.cache/fcast/compiled_models" ] || fail "the compile cache is not under ~/.cache/fcast"
echo "PASS: the README quick start ran verbatim"
