#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then configures, builds and runs a program that
# finds fcast with find_package(fcast) there. Usage: run_test.sh BUILD_DIR TOTO_MODEL_DIR
set -euo pipefail
build=$1
model=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log"
test -x "$tmp/prefix/bin/fcast" || { echo "install put no fcast in $tmp/prefix/bin"; exit 1; }
"$tmp/prefix/bin/fcast" --version
cmake -S "$here" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >"$tmp/configure.log" \
  || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/consumer" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
out=$("$tmp/consumer/consumer" "$model")
lines=$(printf '%s\n' "$out" | grep -c .)
echo "$out"
[ "$lines" = 4 ] || { echo "expected 4 forecast values, got $lines"; exit 1; }
echo "PASS: installed fcast + find_package(fcast) consumer"
