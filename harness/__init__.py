"""The Python harness of billing-checkout: real web servers, load and benchmarks on loopback.

Shared modules:
    processes   start/stop/cleanup of what a run starts (by PID and process group), ports, /proc readings
    mounts      the Stripe stand-in, settings, and the web servers (lighttpd, Apache, nginx) with the shipped
                configs in conf/, rendered for paths and ports only
    tokens      HS256 bearer tokens
    httpclient  one request over a fresh HTTP/1.1 connection
    load        request kinds with their one correct answer, and multi-threaded load (for the soak)

Entry points, run from the repository's root (README.md in this folder):
    python3 -m harness.webservers   the HTTP contract through every web server mount
    python3 -m harness.soak         soak and lifecycle checks
    python3 -m harness.bench        the benchmark behind scripts/bench, which writes docs/benchmarks.md

Standard library only (Python 3.11).
"""
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONF = os.path.join(ROOT, "conf")
ROUTE = "/api/v1/billing/checkout"
FRONTEND = "http://localhost:3000"
