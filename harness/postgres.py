#!/usr/bin/env python3
"""A private PostgreSQL cluster for tests: Debian's `postgresql` binaries, a data directory in a temporary
directory, 127.0.0.1 only, on a free port; never the system service (no pg_ctlcluster, no systemd).

    with cluster() as pg:                  # initdb + start; stopped and removed on exit, exception or signal
        url = pg.create_database("billing_a")     # postgres://USER:PASS@127.0.0.1:PORT/billing_a?sslmode=disable
        pg.psql(url, "SELECT count(*) FROM customers")   # -> "0"
        pg.stop()                          # fast shutdown (clients are disconnected), for outage tests
        pg.start()                         # the same port and data directory again

    python3 -m harness.postgres [-v] -- CMD ARGS...

The command form starts a cluster, runs CMD with BILLING_TEST_POSTGRES_URL set to the superuser's URL (and the
cluster's bin directory first on PATH, so `psql` is its version's), then stops and removes the cluster and exits
with CMD's status.

Host connections (the only ones the URL uses) need the superuser's password (scram-sha-256), a random one per
cluster; the Unix socket lives in the temporary directory, not /run/postgresql. PostgreSQL refuses to run as
root: as root, initdb and postgres run as Debian's `postgres` system user, which owns the temporary directory.
Durability is traded for speed (fsync off): a cluster lives for one test run. Standard library only.
"""
import atexit
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import closing

from .processes import free_port

SUPERUSER = "billing_test"
URL_VARIABLE = "BILLING_TEST_POSTGRES_URL"
START_TIMEOUT = 30.0
CLUSTERS = []  # clusters this run started and not yet removed (cleanup_all at exit)
# Server settings: loopback only, a socket in the cluster's own directory, enough connections for several
# FastCGI processes with their pools, durability off (a test cluster), connections and errors in the log.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "300",
    "shared_buffers": "32MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_connections": "off",
    "log_min_messages": "warning",
    "log_min_error_statement": "error",
    "timezone": "UTC",
}


def bin_dir():
    """The bin directory of the newest installed Debian PostgreSQL (/usr/lib/postgresql/VERSION/bin)."""
    found = [path for path in glob.glob("/usr/lib/postgresql/*/bin") if os.path.isfile(os.path.join(path, "postgres"))]
    if not found:
        raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin "
                           "(apt-get install postgresql)")
    return max(found, key=lambda path: [int(part) for part in re.findall(r"\d+", path.split("/")[-2])] or [0])


def with_database(url, name):
    """url with its database (the path) replaced by name."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name)))


def without_password(url):
    """(url without its password, the password or None): the password goes to psql through PGPASSWORD, never argv."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url, None
    netloc = urllib.parse.quote(parts.username or "") + "@" + parts.hostname + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), urllib.parse.unquote(parts.password)


class Cluster:
    """One cluster: initdb in a temporary directory, then start()/stop() as often as needed; remove() at the end."""

    def __init__(self, verbose=False):
        self.verbose = verbose
        self.bin = bin_dir()
        self.version = self.bin.split("/")[-2]
        self.password = secrets.token_hex(16)
        self.user = SUPERUSER
        self.port = None
        self.proc = None
        self.timings = {}
        # As root the server runs as the postgres system user; the directory must be reachable by it (/tmp is).
        self.run_as = None
        parent = None
        if os.geteuid() == 0:
            self.run_as = pwd.getpwnam("postgres")
            parent = "/tmp"
        self.dir = tempfile.mkdtemp(prefix="billing-pg-", dir=parent)
        CLUSTERS.append(self)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        if self.run_as:
            os.chown(self.dir, self.run_as.pw_uid, self.run_as.pw_gid)
        os.chmod(self.dir, 0o700)

    # ---------------------------------------------------------------- processes

    def _env(self):
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "LANG": "C", "LC_ALL": "C", "TZ": "UTC"}
        env["HOME"] = self.run_as.pw_dir if self.run_as else os.environ.get("HOME", "/")
        return env

    def _as_server_user(self):
        """Popen arguments that run a child as the server's user (the postgres system user when root)."""
        if not self.run_as:
            return {}
        return {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}

    def initdb(self):
        started = time.monotonic()
        pwfile = os.path.join(self.dir, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.run_as:
            os.chown(pwfile, self.run_as.pw_uid, self.run_as.pw_gid)
        os.chmod(pwfile, 0o600)
        try:
            result = subprocess.run(
                [os.path.join(self.bin, "initdb"), "-D", self.data, "-U", self.user, f"--pwfile={pwfile}",
                 "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C",
                 "--no-sync", "--no-instructions"],
                capture_output=True, text=True, env=self._env(), cwd=self.dir, stdin=subprocess.DEVNULL,
                **self._as_server_user())
        finally:
            os.remove(pwfile)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}): {(result.stderr or result.stdout).strip()}")
        self.timings["initdb"] = time.monotonic() - started

    def start(self, port=None, attempts=5):
        """Starts the server and waits until it accepts connections. The first start picks a free port (another
        one when it is taken meanwhile); later starts keep the port (waiting a while if something holds it)."""
        if self.proc is not None and self.proc.poll() is None:
            return
        started = time.monotonic()
        keep_port = self.port is not None
        last_error = ""
        for attempt in range(attempts * (4 if keep_port else 1)):
            if not keep_port:
                self.port = port or free_port()
            offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            if self._launch():
                self.timings["start"] = time.monotonic() - started
                if self.verbose:
                    print(f"# postgres {self.version}: ready on 127.0.0.1:{self.port} in "
                          f"{self.timings['start']:.2f} s (initdb {self.timings.get('initdb', 0):.2f} s), "
                          f"{self.dir}", file=sys.stderr, flush=True)
                return
            last_error = self._log_since(offset).strip()
            if "already in use" not in last_error and "could not create any TCP/IP sockets" not in last_error:
                break
            if keep_port:
                time.sleep(0.5)
            port = None
        raise RuntimeError(f"postgres did not start on 127.0.0.1:{self.port}: {last_error[-800:]}")

    def _launch(self):
        """One try: postgres in the foreground (its PID is the postmaster's); True once pg_isready says yes."""
        argv = [os.path.join(self.bin, "postgres"), "-D", self.data, "-p", str(self.port),
                "-c", f"unix_socket_directories={self.dir}"]
        for name, value in SERVER_SETTINGS.items():
            argv += ["-c", f"{name}={value}"]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self._env(), cwd=self.dir, start_new_session=True,
                                         **self._as_server_user())
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            ready = subprocess.run([os.path.join(self.bin, "pg_isready"), "-q", "-h", "127.0.0.1",
                                    "-p", str(self.port), "-t", "1"], env=self._env())
            if ready.returncode == 0:
                return True
            time.sleep(0.05)
        self._signal_and_wait(signal.SIGQUIT, 5)
        raise RuntimeError(f"postgres on 127.0.0.1:{self.port} not ready after {START_TIMEOUT:.0f} s: "
                           f"{self._log_since(0)[-800:]}")

    def _log_since(self, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _signal_and_wait(self, signum, timeout):
        try:
            os.kill(self.proc.pid, signum)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, mode="fast"):
        """Stops the server: "fast" (SIGINT: clients are disconnected, a clean shutdown) or "immediate" (SIGQUIT:
        as after a crash; recovery at the next start). SIGKILL to the postmaster's group if it does not go.
        Returns the seconds it took."""
        started = time.monotonic()
        if self.proc is not None and self.proc.poll() is None:
            first = signal.SIGINT if mode == "fast" else signal.SIGQUIT
            if not self._signal_and_wait(first, 15) and not self._signal_and_wait(signal.SIGQUIT, 5):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.proc = None
        self.timings["stop"] = time.monotonic() - started
        return self.timings["stop"]

    def close(self):
        self.remove()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def remove(self):
        """Stops the server (if it runs) and removes its directory."""
        try:
            if self.proc is not None:
                self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            if self in CLUSTERS:
                CLUSTERS.remove(self)

    # ---------------------------------------------------------------- clients

    @property
    def url(self):
        """The superuser's URL for the postgres database."""
        return self.url_for("postgres")

    def url_for(self, database, user=None, password=None):
        user = user or self.user
        password = self.password if password is None else password
        credentials = urllib.parse.quote(user, safe="") + (":" + urllib.parse.quote(password, safe="") if password else "")
        return f"postgres://{credentials}@127.0.0.1:{self.port}/{urllib.parse.quote(database)}?sslmode=disable"

    def psql(self, url_or_db, sql, timeout=30):
        """Runs sql with psql (ON_ERROR_STOP, unaligned, tuples only) against a URL or a database name of this
        cluster (as the superuser); returns its output, stripped. Raises RuntimeError on failure."""
        url = url_or_db if "://" in url_or_db else self.url_for(url_or_db)
        bare, password = without_password(url)
        env = dict(self._env(), PGCONNECT_TIMEOUT="5")
        if password is not None:
            env["PGPASSWORD"] = password
        result = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                 "-d", bare, "-c", sql], capture_output=True, text=True, env=env, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"psql ({result.returncode}): {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name, owner=None):
        """Creates the database (owned by owner, else the superuser); returns its URL (the superuser's)."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"database name {name!r}: letters, digits and _ only")
        self.psql("postgres", f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))
        return self.url_for(name)

    def create_role(self, name, password):
        """A login role without special rights; returns nothing (url_for(db, name, password) makes its URL)."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"role name {name!r}: letters, digits and _ only")
        quoted = password.replace("'", "''")
        self.psql("postgres", f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{quoted}'")


def cleanup_all():
    for item in reversed(list(CLUSTERS)):
        try:
            item.remove()
        except Exception as error:  # keep cleaning up the rest
            print(f"postgres cleanup: {error}", file=sys.stderr)


atexit.register(cleanup_all)


def _exit_on_signal(signum, _frame):
    sys.exit(128 + signum)


class cluster:
    """Context manager: a started cluster (initdb + start), stopped and removed on exit, also on an exception or
    SIGTERM/SIGINT/SIGHUP (turned into SystemExit where their handlers are still the defaults; main thread)."""

    def __init__(self, verbose=False, handle_signals=True):
        self.verbose = verbose
        self.handle_signals = handle_signals
        self.saved = {}
        self.cluster = None

    def __enter__(self):
        if self.handle_signals:
            try:
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler):
                        self.saved[signum] = signal.signal(signum, _exit_on_signal)
            except ValueError:  # not the main thread: atexit still cleans up
                pass
        try:
            self.cluster = Cluster(verbose=self.verbose)
            self.cluster.initdb()
            self.cluster.start()
        except BaseException:
            self._restore()
            if self.cluster is not None:
                self.cluster.remove()
            raise
        return self.cluster

    def __exit__(self, *exc):
        try:
            self.cluster.remove()
        finally:
            self._restore()
        return False

    def _restore(self):
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)
        self.saved.clear()


# ---------------------------------------------------------------- python3 -m harness.postgres -- CMD ARGS...


def main(argv):
    verbose = False
    args = list(argv)
    while args and args[0] != "--":
        if args[0] in ("-v", "--verbose"):
            verbose = True
            args.pop(0)
        elif args[0] in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            break
    if args and args[0] == "--":
        args.pop(0)
    if not args:
        print("usage: python3 -m harness.postgres [-v] -- CMD ARGS...", file=sys.stderr)
        return 2
    child = None

    def forward(signum, _frame):
        if child is not None and child.poll() is None:
            child.send_signal(signum)
        else:
            sys.exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    started = time.monotonic()
    try:
        pg_cluster = cluster(verbose=verbose, handle_signals=False).__enter__()
    except (RuntimeError, OSError, KeyError) as error:
        print(f"harness.postgres: no PostgreSQL cluster: {error}", file=sys.stderr)
        return 1
    with closing(pg_cluster) as pg:
        print(f"postgres {pg.version}: own cluster on 127.0.0.1:{pg.port} ready in {time.monotonic() - started:.2f} s "
              f"(initdb {pg.timings['initdb']:.2f} s, start {pg.timings['start']:.2f} s)", file=sys.stderr, flush=True)
        env = dict(os.environ)
        env[URL_VARIABLE] = pg.url
        env["PATH"] = pg.bin + ":" + env.get("PATH", "/usr/bin:/bin")
        try:
            child = subprocess.Popen(args, env=env)
        except OSError as error:
            print(f"harness.postgres: {args[0]}: {error}", file=sys.stderr)
            return 127
        while True:
            try:
                status = child.wait()
                break
            except InterruptedError:
                continue
        stop_seconds = pg.stop()
    if verbose:
        print(f"postgres: stopped in {stop_seconds:.2f} s and removed", file=sys.stderr, flush=True)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
