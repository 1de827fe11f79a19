#!/usr/bin/env python3
"""Load and lifecycle checks for billing-checkout behind real web servers.

    python3 -m harness.soak [--requests N] [--quick] [--only NAME ...] [-v]      (from the repository's root)

1. soak: N requests (default 100000; --quick: 10000) through lighttpd with the shipped config (max-procs 2), a
   mix of valid and invalid requests from 16 keep-alive clients, while recoverable Stripe faults are re-queued
   into the stand-in. Zero wrong answers, the same billing-checkout PIDs at the end, RSS growth <= 5 MiB per
   process between the warm-up and the end.
2. sigterm: SIGTERM to one of lighttpd's billing-checkout processes under load with 200 ms Stripe latency.
3. fcgid-recycle: Apache mod_fcgid with the shipped config plus short process limits (appended by this test).
4. lighttpd-sigusr1: SIGUSR1 to every billing-checkout process every 0.5 s during 3000 requests.
5. startup-sigusr1: SIGUSR1 to a process the moment it catches it, with a request queued on its socket.

Prints one line per check (`ok NAME: numbers` / `FAIL NAME: why`) and ends with `N passed, N failed`.
Standard library only; needs root, lighttpd, apache2 + libapache2-mod-fcgid and the built binaries
(BILLING_CHECKOUT_BIN / STAND_IN_BINARY, else .build/debug/). The servers, the Stripe stand-in and the tokens are
the harness's (mounts, tokens), as the web-server tests use them; every process it starts is stopped by PID on exit.
"""
import argparse
import atexit
import itertools
import os
import re
import signal
import socket
import struct
import sys
import threading
import time

from . import CONF, FRONTEND, load, processes
from .mounts import BIN, ApacheFcgid, Lighttpd, binary_env
from .processes import alive, catches, descendants_running, rss_kib, stat
from .tokens import TEST_SECRET, token

MB = 1024  # KiB per MiB
FAILS = [0]  # failed checks so far (finish() prints a mount's logs with -v when its check failed)
RSS_LIMIT_KIB = 5 * MB
VERBOSE = False


# ---------------------------------------------------------------- helpers


def shipped_value(relative_path, directive):
    with open(os.path.join(CONF, relative_path)) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == directive:
                return parts[1]
    raise RuntimeError(f"{directive} not in {relative_path}")


def read_from(path, offset=0):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def lighttpd_children(mount):
    return descendants_running(mount.proc.pid, BIN)


def wait_ready(mount, count, timeout=20.0, exclude=()):
    """Waits until `count` billing-checkout processes run under the server with their signal handlers installed
    (before that, SIGTERM/SIGUSR1 would simply kill them). Returns their PIDs."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in descendants_running(mount.proc.pid, BIN) if p not in exclude]
        ready = [p for p in pids if catches(p, signal.SIGTERM) and catches(p, signal.SIGUSR1)]
        if len(ready) >= count:
            return ready
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(ready)} ready billing-checkout processes after {timeout:.0f} s, want {count}"
                               f" (running: {pids})")
        time.sleep(0.05)


def wait_for(condition, timeout, what, fail=True):
    """Polls condition() until it holds: the event, not a time (the timeout only ends a check that would hang).
    Raises on timeout, or with fail=False returns False."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            if fail:
                raise RuntimeError(f"no {what} within {timeout:.0f} s")
            return False
        time.sleep(0.02)
    return True


def fcgi_send(sock, params, body=b""):
    """One FastCGI request (responder role) on sock: BEGIN_REQUEST, the params, the body, empty PARAMS and STDIN."""
    def record(kind, content=b""):
        return struct.pack(">BBHHBx", 1, kind, 1, len(content), 0) + content

    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

    pairs = b"".join(length(len(k)) + length(len(v)) + k + v
                     for k, v in ((k.encode(), v.encode()) for k, v in params.items()))
    sock.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, pairs) + record(4) + record(5, body) + record(5))


def fcgi_answer(sock, timeout):
    """The STDOUT of the answer, read up to END_REQUEST; None when the connection ends first (no complete answer)."""
    sock.settimeout(timeout)
    data, out = b"", b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (OSError, socket.timeout):
            return None
        if not chunk:
            return None
        data += chunk
        while len(data) >= 8:
            _, kind, _, size, pad = struct.unpack(">BBHHB", data[:7])
            if len(data) < 8 + size + pad:
                break
            if kind == 6:
                out += data[8:8 + size]
            if kind == 3:
                return out
            data = data[8 + size + pad:]


def child_exits(text):
    """lighttpd's lines about its bin-path children: ([exit statuses], [signals])."""
    exited = [int(m) for m in re.findall(r"child exited: (-?\d+)", text)]
    signalled = [int(m) for m in re.findall(r"child signalled: (\d+)", text)]
    return exited, signalled


def fmt_counts(counts):
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0])))


class FaultFeeder(threading.Thread):
    """Keeps recoverable Stripe faults queued in the stand-in while the soak runs.

    A status fault (500, 409, 429 lock_timeout with Stripe-Should-Retry) is added only when the queue is empty and
    at least `spacing` seconds after the previous one, so no request can meet three in a row within its 2 retries
    (its tries span ~1.5 s): every valid request must still end in 200. Latency faults (30 ms) fill the gaps.
    """
    STATUS = [{"kind": "status", "status": 500}, {"kind": "status", "status": 409},
              {"kind": "status", "status": 429, "code": "lock_timeout", "shouldRetry": True}]

    def __init__(self, stand_in, spacing=3.0, poll=0.25):
        super().__init__(daemon=True)
        self.stand_in, self.spacing, self.poll = stand_in, spacing, poll
        self.stop = threading.Event()
        self.status_queued = {500: 0, 409: 0, 429: 0}
        self.latency_queued = 0
        self.errors = []

    def run(self):
        status = itertools.cycle(self.STATUS)
        last = 0.0
        while not self.stop.wait(self.poll):
            try:
                if self.stand_in.control("POST", "/_standin/faults", {"faults": []})["queued"]:
                    continue
                if time.monotonic() - last >= self.spacing:
                    fault = next(status)
                    self.stand_in.control("POST", "/_standin/faults", {"faults": [fault]})
                    self.status_queued[fault["status"]] += 1
                    last = time.monotonic()
                else:
                    self.stand_in.control("POST", "/_standin/faults", {"faults": [{"kind": "latency", "ms": 30}]})
                    self.latency_queued += 1
            except Exception as error:  # reported, not fatal for the feeder
                if len(self.errors) < 5:
                    self.errors.append(f"{type(error).__name__}: {error}")


class ApacheFcgidRecycle(ApacheFcgid):
    """The shipped mod_fcgid config with short process limits appended, and mod_fcgid's process log at info."""
    APPENDED = """
# ---- appended by harness/soak.py: recycle processes quickly ----
FcgidMaxRequestsPerProcess 50
FcgidIdleTimeout 3
FcgidProcessLifeTime 8
FcgidIdleScanInterval 1
FcgidErrorScanInterval 1
FcgidZombieScanInterval 1
"""

    def prepare(self, port):
        extra, snippet = super().prepare(port)
        return extra + "LogLevel warn fcgid:info\n", snippet + self.APPENDED


# ---------------------------------------------------------------- checks


def check_soak(report, total, warmup):
    fails_before = FAILS[0]
    mount = Lighttpd()
    port = mount.start()
    error_log = os.path.join(mount.dir, "error.log")
    server_out = os.path.join(mount.dir, "server.out")
    try:
        pids_start = wait_ready(mount, 1)
        log_start = size(error_log)
        requests = load.Requests(token)
        feeder = FaultFeeder(mount.stand_in)
        feeder.start()
        run = load.Load(port, requests, load.mix(load.SOAK_MIX), threads=16, total=total).start()
        rss_warm = pids_warm = None
        hard_deadline = time.monotonic() + 900
        last_print = time.monotonic()
        while any(w.is_alive() for w in run.workers):
            done = run.completed()
            if rss_warm is None and done >= warmup:
                pids_warm = lighttpd_children(mount)
                rss_warm = {pid: rss_kib(pid) for pid in pids_warm}
                warm_at = (time.monotonic(), done)
            if VERBOSE and time.monotonic() - last_print > 10:
                last_print = time.monotonic()
                print(f"# soak: {done} requests, {done / (last_print - run.started):.0f}/s", flush=True)
            if time.monotonic() > hard_deadline:
                run.stop.set()
            time.sleep(0.1)
        run.join()
        feeder.stop.set()
        feeder.join(10)
        elapsed = run.finished - run.started
        done = run.completed()
        pids_end = lighttpd_children(mount)
        rss_end = {pid: rss_kib(pid) for pid in pids_end}
        log_text = read_from(error_log, log_start)
        retries = read_from(server_out).count("retrying Stripe call") + read_from(error_log).count(
            "retrying Stripe call")

        rate = done / elapsed
        by_kind = run.summary(lambda k: k[0])
        wrong = run.problem_count
        detail = "; ".join(run.problems[:5])
        report(wrong == 0 and done == total,
               "soak", f"{done} requests in {elapsed:.1f} s ({rate:.0f} req/s) from 16 keep-alive clients "
                       f"({sum(run.connections)} connections), {wrong} wrong answers "
                       f"({run.exceptions} without a complete response); by kind: {fmt_counts(by_kind)}",
               f"{done}/{total} requests, {wrong} wrong answers ({run.exceptions} cut): {detail}")
        faults = sum(feeder.status_queued.values())
        report(faults > 0 and retries > 0 and not feeder.errors,
               "soak-faults", f"queued {faults} Stripe status faults ({fmt_counts(feeder.status_queued)}) and "
                              f"{feeder.latency_queued} latency faults during the run; the binary logged {retries}"
                              f" retries and every valid request still got 200",
               f"{faults} status faults queued, {retries} retries logged, feeder errors: {feeder.errors}")
        exited, signalled = child_exits(log_text)
        # lighttpd starts one process and spawns the second (max-procs 2) once load arrives.
        same = set(pids_start) <= set(pids_warm or []) and sorted(pids_warm or []) == sorted(pids_end)
        report(same and len(pids_end) == 2 and not exited and not signalled,
               "soak-no-crash", f"billing-checkout PIDs {sorted(pids_end)} the same from the warm-up to the end "
                                f"({sorted(pids_start)} at the start), no child exit in lighttpd's log",
               f"PIDs start {pids_start}, warm-up {pids_warm}, end {pids_end}; exits {exited}, signals {signalled}")
        if rss_warm is None:
            report(False, "soak-rss", "", f"never reached the warm-up ({warmup} requests)")
        else:
            parts, ok = [], True
            for pid in sorted(set(rss_warm) | set(rss_end)):
                a, b = rss_warm.get(pid), rss_end.get(pid)
                if a is None or b is None:
                    ok = False
                    parts.append(f"pid {pid}: {a} -> {b} KiB (process missing)")
                    continue
                growth = b - a
                ok &= growth <= RSS_LIMIT_KIB
                parts.append(f"pid {pid}: {a / MB:.1f} -> {b / MB:.1f} MiB ({growth / MB:+.1f})")
            report(ok, "soak-rss", f"VmRSS after {warm_at[1]} requests -> after {done}: " + ", ".join(parts)
                   + f"; limit +{RSS_LIMIT_KIB // MB} MiB", "; ".join(parts))
    finally:
        finish(mount, fails_before)


def check_sigterm(report):
    fails_before = FAILS[0]
    mount = Lighttpd()
    port = mount.start()
    error_log = os.path.join(mount.dir, "error.log")
    try:
        wait_ready(mount, 1)
        log_start = size(error_log)
        requests = load.Requests(token)
        mount.stand_in.control("POST", "/_standin/latency", {"ms": 200})
        run = load.Load(port, requests, ["valid"], threads=16, keep=True).start()
        before = wait_ready(mount, 2)  # lighttpd spawns the second process under load
        # Both processes answering: requests are in flight on each when the signal comes.
        wait_for(lambda: run.completed() >= 64, 60, "64 answers before the signal")
        # And a steady state on both: lighttpd has just spawned the second process, whose first requests are
        # still queueing (the in-flight check needs requests that started well before the signal).
        time.sleep(1.0)
        victim = before[0]
        signalled_at = time.monotonic()
        os.kill(victim, signal.SIGTERM)
        gone_after = None
        while time.monotonic() - signalled_at < 4.0:
            if gone_after is None and not alive(victim):
                gone_after = time.monotonic() - signalled_at
            time.sleep(0.01)
        run.stop.set()
        run.join(90)
        deadline = time.monotonic() + 30
        while gone_after is None and time.monotonic() < deadline:
            if not alive(victim):
                gone_after = time.monotonic() - signalled_at
            time.sleep(0.01)
        mount.stand_in.control("POST", "/_standin/latency", {"ms": 0})
        # Some load, so that lighttpd respawns the process if it waits for demand.
        warm = load.Load(port, requests, ["valid"], threads=4, total=100).start()
        warm.join(120)
        after = wait_ready(mount, 2, timeout=20)
        new = [p for p in after if p not in before]

        results = run.results
        cls = run.summary(lambda k: (k[1], k[2]))
        contract = sum(n for (c, _), n in cls.items() if c == "contract")
        pages = {s: n for (c, s), n in cls.items() if c == "server-5xx"}
        cut = sum(n for (c, _), n in cls.items() if c == "cut")
        wrong = sum(n for (c, _), n in cls.items() if c == "wrong")
        # The stopping process answers what lighttpd queued on it and refuses the rest, which lighttpd then sends
        # to the other process: no request fails.
        report(wrong == 0 and cut == 0 and not pages and contract > 0,
               "sigterm-responses", f"{len(results)} requests at 200 ms Stripe latency around the SIGTERM: "
                                    f"{contract} contract 200s, no lighttpd error page, 0 cut/partial, 0 wrong",
               f"{contract} 200s, pages {pages}, {cut} cut, {wrong} wrong: {'; '.join(run.problems[:5])}")
        in_flight = [r for r in results if r.start <= signalled_at - 0.05 and r.end >= signalled_at]
        bad = [r for r in in_flight if not (r.cls == "contract" and r.status == 200)]
        report(in_flight and not bad,
               "sigterm-in-flight", f"{len(in_flight)} requests in flight when the signal arrived, all 200",
               f"{len(bad)} of {len(in_flight)} in-flight requests did not get 200: "
               f"{[(r.status, r.cls, r.problem) for r in bad[:5]]}")

        log_text = read_from(error_log, log_start)
        exited, signals = child_exits(log_text)
        # The new process must serve: its CPU time grows over a few more requests.
        ticks0 = {p: (stat(p) or (0, 0, 0))[2] for p in new}
        follow = load.Load(port, requests, ["valid"], threads=4, total=200).start()
        follow.join(120)
        ticks1 = {p: (stat(p) or (0, 0, 0))[2] for p in new}
        serving = [p for p in new if ticks1[p] > ticks0[p]]
        follow_ok = follow.summary(lambda k: k[1]).get("contract", 0)
        ok = (gone_after is not None and exited == [0] and not signals and len(new) == 1 and serving
              and follow_ok == 200)
        report(ok, "sigterm-exit",
               f"pid {victim} gone {gone_after:.2f} s after SIGTERM, lighttpd logged 'child exited: 0'; "
               f"new pid {new[0] if new else None} serves (200/200 follow-up requests 200)" if ok else "",
               f"victim {victim} gone after {gone_after}, lighttpd exits {exited} signals {signals}, PIDs before "
               f"{before} after {after}, new serving {serving}, follow-up 200s {follow_ok}/200")
    finally:
        finish(mount, fails_before)


def check_fcgid_recycle(report, total=2000):
    per_class = int(shipped_value("apache/billing-checkout-fcgid.conf", "FcgidMaxProcessesPerClass"))
    fails_before = FAILS[0]
    mount = ApacheFcgidRecycle()
    port = mount.start()
    error_log = os.path.join(mount.dir, "error.log")
    try:
        requests = load.Requests(token)
        seen = set()
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                seen.update(descendants_running(mount.proc.pid, BIN))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        run = load.Load(port, requests, ["valid", "valid-pro", "valid-urls"], threads=8, total=total).start()
        run.join(600)
        elapsed = run.finished - run.started
        # mod_fcgid's scans kill the last full processes a moment later: wait until each process that is gone has
        # its exit logged.
        def exits_logged():
            logged = set(re.findall(r"mod_fcgid: process \S+\((\d+)\) exit\(", read_from(error_log)))
            return all(str(pid) in logged for pid in list(seen) if not alive(pid))
        wait_for(exits_logged, 15, "mod_fcgid logging the exit of every process that is gone", fail=False)
        stop.set()
        sampler.join(5)
        text = read_from(error_log)
        starts = text.count("serving FastCGI")
        exits = re.findall(r"mod_fcgid: process \S+\((\d+)\) exit\(([^)]*)\), (.*)", text)
        codes = {}
        for _, why, how in exits:
            m = re.search(r"return code: (-?\d+)", how)
            key = f"{why}/exit {m.group(1)}" if m else f"{why}/{how.strip()}"
            codes[key] = codes.get(key, 0) + 1
        unclean = {k: v for k, v in codes.items() if not k.endswith("/exit 0")}
        statuses = run.summary(lambda k: (k[1], k[2]))
        ok200 = statuses.get(("contract", 200), 0)
        distinct = max(len(seen), starts)
        ok = ok200 == total and distinct > per_class and not unclean
        report(ok, "fcgid-recycle",
               f"{total} valid requests from 8 threads in {elapsed:.1f} s, all 200; FcgidMaxRequestsPerProcess 50 "
               f"(appended): {len(seen)} distinct PIDs sampled, {starts} process starts logged "
               f"(> FcgidMaxProcessesPerClass {per_class}); mod_fcgid exits: {fmt_counts(codes)}",
               f"{ok200}/{total} got 200 ({fmt_counts(statuses)}; {'; '.join(run.problems[:3])}); {len(seen)} PIDs "
               f"sampled, {starts} starts logged, per-class {per_class}; exits {codes}")
    finally:
        finish(mount, fails_before)


def check_lighttpd_sigusr1(report, total=3000, every=0.5):
    fails_before = FAILS[0]
    mount = Lighttpd()
    port = mount.start()
    error_log = os.path.join(mount.dir, "error.log")
    try:
        wait_ready(mount, 1)
        log_start = size(error_log)
        requests = load.Requests(token)
        # Each valid request waits 50 ms on Stripe, so that signals find requests in flight (the 2 s drain cap is far).
        mount.stand_in.control("POST", "/_standin/latency", {"ms": 50})
        signalled, signal_times = [], []
        stop = threading.Event()

        def signaller():
            while not stop.wait(every):
                for pid in lighttpd_children(mount):
                    # Only processes with the binary's own handlers installed (SIGTERM caught too): a starting process
                    # catches SIGUSR1 earlier, with libfcgi's handler, and hangs when signalled then (see
                    # check_startup_sigusr1).
                    if (pid not in signalled and catches(pid, signal.SIGTERM)
                            and catches(pid, signal.SIGUSR1)):
                        try:
                            os.kill(pid, signal.SIGUSR1)
                            signalled.append(pid)
                            signal_times.append(time.monotonic())
                        except ProcessLookupError:
                            pass

        thread = threading.Thread(target=signaller, daemon=True)
        # Paced (16 clients x 12/s at most): lighttpd's instant 503s would otherwise use up the requests in a
        # second or two; this way the requests spread over ~30 recycles. A new connection per request: under heavy
        # CPU load, after every client had waited seconds on a process that was starting, requests on kept-alive
        # connections found them closed by lighttpd without an answer, with no backend error in lighttpd's log
        # (http.client does not retry on a closed kept-alive connection); with fresh connections, never.
        run = load.Load(port, requests, ["valid"], threads=16, total=total, keep=True, timeout=30,
                        pace=1 / 12, reuse=False).start()
        t0 = run.started
        t0_wall = time.time() - (time.monotonic() - t0)
        thread.start()
        run.join(600)
        stop.set()
        thread.join(5)
        elapsed = run.finished - run.started
        deadline = time.monotonic() + 15  # every signalled process finishes and exits
        while any(alive(p) for p in signalled) and time.monotonic() < deadline:
            time.sleep(0.1)
        lingering = [p for p in signalled if alive(p)]
        # lighttpd reaps and logs the last exits a moment later.
        wait_for(lambda: sum(map(len, child_exits(read_from(error_log, log_start)))) >= len(signalled), 15,
                 "exit logged for every signalled process", fail=False)
        log_text = read_from(error_log, log_start)
        exited, signals = child_exits(log_text)
        # Requests sent at least 50 ms before a signal and not answered before it: on the way to, or in, a process
        # that was asked to stop (or the other one). The drain answers each of them completely.
        in_flight = [r for r in run.results if any(r.start <= t - 0.05 and r.end >= t for t in signal_times)]
        in_flight_bad = [r for r in in_flight if not (r.cls == "contract" and r.status == 200)]
        cls = run.summary(lambda k: (k[1], k[2]))
        ok200 = cls.get(("contract", 200), 0)
        pages = {s: n for (c, s), n in cls.items() if c == "server-5xx"}
        cut = sum(n for (c, _), n in cls.items() if c == "cut")
        wrong = sum(n for (c, _), n in cls.items() if c == "wrong")
        exit_counts = {}
        for code in exited:
            exit_counts[code] = exit_counts.get(code, 0) + 1
        # 503 is lighttpd's answer while every process is restarting; a 500 would be a request it had sent to a
        # process that then dropped it.
        # Every signalled process exits 0 (one `child exited: 0` each, nothing killed by a signal), and every request
        # in flight at a signal got its complete 200.
        ok = (cut == 0 and wrong == 0 and set(pages) <= {503} and ok200 > 0 and exit_counts == {0: len(signalled)}
              and signalled and not signals and not lingering and in_flight and not in_flight_bad)
        non200 = sum(pages.values())
        cuts = [r for r in run.results if r.cls == "cut"]
        if cuts:
            print(f"# signals at (s): {[round(t - t0, 2) for t in signal_times]}", flush=True)
            starts = sorted(r.start - t0 for r in run.results)
            gap, after = max((b - a, a) for a, b in zip(starts, starts[1:]))
            print(f"# longest time without a request starting: {gap:.2f} s, from {after:.2f} s", flush=True)
            held = sorted((r.start - t0, r.end - t0, r.cls, r.status) for r in run.results
                          if r.start - t0 <= after + 0.01 and r.end - t0 >= after + gap - 0.01)
            print(f"# requests in flight across it: {[(round(a, 2), round(b, 2), c, st) for a, b, c, st in held]}",
                  flush=True)
            for r in cuts[:20]:
                print(f"# cut: started {r.start - t0:.2f} s, ended {r.end - t0:.2f} s: {r.problem}", flush=True)
        if cuts or set(pages) - {503}:
            # The error log around the failure: lighttpd's lines and the binary's, without the per-request lines.
            print(f"# error log (the run began at {time.strftime('%H:%M:%S', time.localtime(t0_wall))}"
                  f".{int(t0_wall % 1 * 1000):03d}):", flush=True)
            for line in log_text.splitlines():
                if "all handlers for" not in line and " msg=request " not in line:
                    print(f"# log: {line}", flush=True)
        report(ok, "lighttpd-sigusr1",
               f"{total} valid requests in {elapsed:.1f} s while SIGUSR1 went to {len(signalled)} processes "
               f"(every {every} s): {ok200} got 200, {non200} got lighttpd's 503 page while no process was "
               f"accepting, 0 cut/partial, 0 wrong; all {len(in_flight)} requests in flight at a signal got 200; "
               f"lighttpd logged {len(exited)} child exits, all status 0, one per signalled process",
               f"{ok200} 200s, pages {pages}, {cut} cut, {wrong} wrong ({'; '.join(run.problems[:3])}); child exits "
               f"{exit_counts} for {len(signalled)} signalled, signalled {signals}; still running 15 s after SIGUSR1: "
               f"{lingering}; {len(in_flight_bad)} of {len(in_flight)} in flight at a signal without a 200: "
               f"{[(round(r.start - t0, 2), round(r.end - t0, 2), r.cls, r.status) for r in in_flight_bad[:5]]}")
    finally:
        finish(mount, fails_before)


def check_startup_sigusr1(report, tries=5):
    """SIGUSR1 to a FastCGI process (listening socket on fd 0, as lighttpd starts it) as soon as it catches SIGUSR1,
    with a request already queued on its socket (lighttpd queues requests on a process while it starts).

    The first version hung here: FCGX_IsCGI() initialised libfcgi, which installed its own SIGUSR1 handler before the
    binary's, and a SIGUSR1 in between set only libfcgi's flag. Passing needs more than an exit: the queued request
    gets its complete answer, and the process exits 0 (a process the signal killed fails, as does one that hangs).
    """
    import json
    import subprocess
    directory = processes.make_temp_dir("startup")
    settings = os.path.join(directory, "config.json")
    with open(settings, "w") as f:
        json.dump({"stripe": {"secretKey": "sk_test_x", "priceId": "price_x", "apiBase": "http://127.0.0.1:9"},
                   "jwt": {"secret": TEST_SECRET}, "frontendUrl": FRONTEND}, f)
    params = {"REQUEST_METHOD": "POST", "REQUEST_URI": "/api/v1/billing/nope", "SCRIPT_NAME": "/api/v1/billing/nope",
              "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
              "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "2"}
    want = b'{"detail":"Not Found"}'
    bad = []
    for i in range(tries):
        path = os.path.join(directory, f"s{i}.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(16)
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)  # in the backlog before the process exists
        fcgi_send(client, params, b"{}")
        # Stateless (DATABASE_URL=none): the default state directory does not exist here, and a process that exits
        # 78 at start would tell nothing about the signal.
        proc = subprocess.Popen([BIN], stdin=listener.fileno(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=binary_env(settings, DATABASE_URL="none"),
                                start_new_session=True)
        processes.PROCESSES.append(proc)
        listener.close()
        deadline = time.monotonic() + 10
        while not catches(proc.pid, signal.SIGUSR1) and time.monotonic() < deadline:
            time.sleep(0.0002)
        os.kill(proc.pid, signal.SIGUSR1)
        answer = fcgi_answer(client, 10)
        client.close()
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            code = "hung"
        processes.stop(proc)
        head, _, body = (answer or b"").partition(b"\r\n\r\n")
        if code != 0 or not head.startswith(b"Status: 404") or body != want:
            bad.append(f"pid {proc.pid}: exit {code}, answer {answer[:80] if answer is not None else 'none'!r}")
    report(not bad, "startup-sigusr1",
           f"{tries} processes signalled right after start, each with a request queued: every request got its "
           f"complete answer, every process exited 0",
           f"{len(bad)} of {tries} processes signalled with SIGUSR1 right after start: {'; '.join(bad)}")


# ---------------------------------------------------------------- main


def finish(mount, fails_before):
    if VERBOSE and FAILS[0] > fails_before:
        mount.print_logs()
    processes.stop_all()
    processes.remove_temp_dir(mount.dir)


CHECKS = ("soak", "sigterm", "fcgid-recycle", "lighttpd-sigusr1", "startup-sigusr1")
OPTIONAL = ()


def main():
    global VERBOSE
    parser = argparse.ArgumentParser(description="billing-checkout soak and lifecycle checks")
    parser.add_argument("--requests", type=int, default=100000, help="soak requests (default 100000)")
    parser.add_argument("--quick", action="store_true", help="10000-request soak, for development")
    parser.add_argument("--only", choices=CHECKS + OPTIONAL, action="append", help="run only this check (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress, and server logs on failure")
    args = parser.parse_args()
    VERBOSE = args.verbose
    total = 10000 if args.quick else args.requests
    warmup = min(10000, total // 5) if not args.quick else 2000
    atexit.register(processes.cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))

    passed = failed = 0

    def report(ok, name, numbers, why=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok {name}: {numbers}", flush=True)
        else:
            failed += 1
            FAILS[0] += 1
            print(f"FAIL {name}: {why}", flush=True)

    for name in args.only or CHECKS:
        started = time.monotonic()
        try:
            if name == "soak":
                check_soak(report, total, warmup)
            elif name == "sigterm":
                check_sigterm(report)
            elif name == "fcgid-recycle":
                check_fcgid_recycle(report)
            elif name == "lighttpd-sigusr1":
                check_lighttpd_sigusr1(report)
            elif name == "startup-sigusr1":
                check_startup_sigusr1(report)
        except Exception as error:
            report(False, name, "", f"{type(error).__name__}: {error}")
        if VERBOSE:
            print(f"# {name} took {time.monotonic() - started:.1f} s", flush=True)
    processes.cleanup()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
