"""Processes a run starts, and what /proc says about processes.

Every process goes through start(): its own session (so its children, e.g. the FastCGI processes a web server
spawns, share its process group), output to a log file, and a place in PROCESSES, from which stop() and
cleanup() take it again. Nothing is ever stopped by name.
"""
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

IS_ROOT = os.geteuid() == 0
SERVER_USER = "www-data" if IS_ROOT else None

# The servers live in sbin, which a non-login PATH may lack.
os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/local/sbin:/usr/sbin:/sbin"
PROCESSES = []  # subprocess.Popen objects this run started
TEMP_DIRS = []


def start(argv, log_path, env=None, **kwargs):
    """Starts argv in its own process group, stdout+stderr to log_path, and remembers it for cleanup."""
    log = open(log_path, "ab")
    argv = [shutil.which(argv[0]) or argv[0]] + list(argv[1:])
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True, **kwargs)
    log.close()
    PROCESSES.append(proc)
    return proc


def stop(proc, grace=10.0):
    """SIGTERM to the process (by PID), SIGKILL to it and its group after the grace period."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
    # Children left in the group (FastCGI processes a server spawned): SIGTERM, then SIGKILL.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        for _ in range(50):
            try:
                os.killpg(proc.pid, 0)
                time.sleep(0.1)
            except (ProcessLookupError, PermissionError):
                break
    if proc in PROCESSES:
        PROCESSES.remove(proc)


def stop_all():
    """Stops every process this run started and still runs, the newest first."""
    for proc in reversed(list(PROCESSES)):
        stop(proc)


def cleanup():
    for proc in reversed(list(PROCESSES)):
        try:
            stop(proc)
        except Exception as error:  # keep cleaning up the rest
            print(f"cleanup: {error}", file=sys.stderr)
    for path in TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)
    TEMP_DIRS.clear()


_HANDED_OUT = set()  # ports free_port() gave this run, never given twice


def free_port():
    """A port nothing listens on now, below the kernel's range for outgoing connections' local ports.

    A port from bind(0) comes from that range (ip_local_port_range), where any connection opened meanwhile (a load
    client's, the stand-in's) may take it before the server binds it; below it, only another listener can.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = max(low, 11000)
    pick = random.Random()
    for _ in range(500):
        port = pick.randrange(10000, low)
        if port in _HANDED_OUT:
            continue
        _HANDED_OUT.add(port)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port below {low}")


def wait_for_port(port, proc=None, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def make_temp_dir(name):
    path = tempfile.mkdtemp(prefix=f"billing-{name}-")
    os.chmod(path, 0o755)
    TEMP_DIRS.append(path)
    return path


def remove_temp_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    if path in TEMP_DIRS:
        TEMP_DIRS.remove(path)


def give_to_server_user(path, mode=None):
    if SERVER_USER:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    if mode is not None:
        os.chmod(path, mode)


# ---------------------------------------------------------------- /proc


def status_kib(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, …), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kib(pid):
    return status_kib(pid, "VmRSS")


def peak_kib(pids):
    """The highest VmHWM of the processes named (0 when none can be read)."""
    return max([status_kib(pid, "VmHWM") or 0 for pid in pids], default=0)


def catches(pid, signum):
    """True when the process has a handler installed for signum (SigCgt), i.e. the signal will not kill it."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    except OSError:
        return False
    return False


def stat(pid):
    """(state, ppid, utime+stime ticks) or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[11]) + int(fields[12])


def cpu_ticks(pids):
    """utime+stime of the processes named, in clock ticks (os.sysconf("SC_CLK_TCK") per second)."""
    return sum((stat(pid) or (None, None, 0))[2] for pid in pids)


def process_table():
    """{pid: ppid} of every process."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = stat(int(name))
            if s is not None:
                table[int(name)] = s[1]
    return table


def children(pid):
    """The PIDs whose parent is pid (not zombies), in order."""
    found = []
    for child, ppid in process_table().items():
        if ppid == pid:
            s = stat(child)
            if s is not None and s[0] != "Z":
                found.append(child)
    return sorted(found)


def descendants_running(root, exe):
    """PIDs below root (any depth) whose executable is exe and that are not zombies."""
    table = process_table()
    below = {}
    for pid, ppid in table.items():
        below.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    real = os.path.realpath(exe)
    while stack:
        for child in below.get(stack.pop(), []):
            stack.append(child)
            try:
                if os.readlink(f"/proc/{child}/exe") == real:
                    s = stat(child)
                    if s is not None and s[0] != "Z":
                        found.append(child)
            except OSError:
                pass
    return sorted(found)


def alive(pid):
    s = stat(pid)
    return s is not None and s[0] != "Z"
