#!/usr/bin/env bash
# Measures URLSession's heap growth per request with and without Sources/CCurlLeakFix (docs/performance.md).
#   bench/URLSessionLeak/run.sh [REQUESTS] [CHAINS]     (defaults 100000 and 32; about 2 minutes on 2 CPUs)
# Starts the bench's nginx stand-in (bench/nginx.conf.in) on a free port; prints one line per 25,000 requests
# for each build and the growth in heap bytes per request between the first and the last line.
set -euo pipefail
cd "$(dirname "$0")/../.."
REQUESTS="${1:-100000}" CHAINS="${2:-32}" STEP=25000
WORK="$(mktemp -d)"
trap '[ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
sed -e "s|@RUN@|$WORK|g" -e "s|@PORT@|$PORT|g" bench/nginx.conf.in >"$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf" -p "$WORK" >/dev/null 2>&1 &
sleep 0.5
clang -O2 -c -fPIC -I Sources/CCurlLeakFix/include Sources/CCurlLeakFix/CCurlLeakFix.c -o "$WORK/fix.o"
FLAGS=(-O -import-objc-header bench/URLSessionLeak/malloc-shim.h bench/URLSessionLeak/main.swift)
swiftc "${FLAGS[@]}" -o "$WORK/leak-as-is"
swiftc "${FLAGS[@]}" "$WORK/fix.o" -o "$WORK/leak-fixed" \
    $(for s in curl_url curl_url_dup curl_url_cleanup curl_free; do echo -Xlinker --export-dynamic-symbol=$s; done)
for build in as-is fixed; do
    echo "== URLSession loop, $build ($REQUESTS requests, $CHAINS chains)"
    "$WORK/leak-$build" "http://127.0.0.1:$PORT" "$CHAINS" "$REQUESTS" "$STEP" | tee "$WORK/$build.out"
    awk -F'[= ]' 'NR == 1 { r0 = $2; h0 = $4 } { r = $2; h = $4 }
        END { if (r > r0) printf "   heap growth: %.1f bytes per request (requests %d -> %d)\n", (h - h0) * 1024 / (r - r0), r0, r }' \
        "$WORK/$build.out"
done
