#!/usr/bin/env python3
"""CPU one CGI request uses while the Stripe stand-in takes its time to answer (docs/performance.md).

    python3 bench/wait_cpu.py BINARY [LATENCY_MS=2000] [RUNS=3]

Starts `stripe-stand-in` (STAND_IN_BINARY, else .build/debug/) with the given latency, pipes a valid
checkout request into BINARY as CGI, and prints wall time and the child's user+system CPU
(getrusage(RUSAGE_CHILDREN) around each run). Uses the stand-in, settings and tokens of the harness (harness/).
"""
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ROUTE  # noqa: E402
from harness.mounts import StandIn, binary_env, write_settings  # noqa: E402
from harness.processes import cleanup, make_temp_dir  # noqa: E402
from harness.tokens import token  # noqa: E402


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    latency = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    workdir = make_temp_dir("wait-cpu")
    try:
        stand_in = StandIn(workdir)
        settings = write_settings(workdir, stand_in)
        stand_in.control("POST", "/_standin/latency", {"ms": latency})
        env = dict(binary_env(settings), REQUEST_METHOD="POST", REQUEST_URI=ROUTE, SCRIPT_NAME=ROUTE,
                   CONTENT_TYPE="application/json", CONTENT_LENGTH="2", SERVER_PROTOCOL="HTTP/1.1",
                   GATEWAY_INTERFACE="CGI/1.1", HTTP_AUTHORIZATION=f"Bearer {token()}")
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            output = subprocess.run([binary], input=b"{}", env=env, capture_output=True).stdout
            wall = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            status = output.split(b"\r\n", 1)[0].decode(errors="replace")
            print(f"latency {latency} ms: {wall:.3f} s wall, {cpu:.3f} s CPU ({status})")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
