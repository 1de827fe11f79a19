#!/usr/bin/env python3
"""Top functions of a `perf record -g` profile as Markdown tables, Swift names demangled, for scripts/bench.
usage: perf_top.py PERF_DATA BINARY_NAME [N] — prints three tables: inclusive (children), self, and
inclusive restricted to functions compiled into BINARY_NAME (our code and its statically linked packages)."""
import re, subprocess, sys

CHILDREN = re.compile(r"^\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$")
SELF = re.compile(r"^\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$")


def report(path, children):
    args = ["perf", "report", "-i", path, "--stdio", "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.05"]
    args.append("--children" if children else "--no-children")
    out = subprocess.run(args, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        if children:
            m = CHILDREN.match(line)
            if m:
                rows.append((float(m.group(1)), m.group(3), re.sub(r"(\s+-)+$", "", m.group(5).strip())))
        else:
            m = SELF.match(line)
            if m:
                rows.append((float(m.group(1)), m.group(2), re.sub(r"(\s+-)+$", "", m.group(4).strip())))
    rows.sort(key=lambda r: -r[0])
    return rows


def demangle(names):
    out = subprocess.run(["swift-demangle", "--simplified"], input="\n".join(names) + "\n", capture_output=True,
                         text=True).stdout.splitlines()
    return out if len(out) == len(names) else names


def table(title, rows, column):
    names = demangle([r[2] for r in rows])
    print(f"{title}\n\n| {column} | function | object |\n|---:|---|---|")
    for (pct, dso, _), name in zip(rows, names):
        name = name.strip().replace("|", "\\|")
        if len(name) > 160:
            name = name[:157] + "…"
        print(f"| {pct:.2f} % | `{name}` | {dso} |")
    print()


def main():
    path, binary = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    inclusive = report(path, True)
    table(f"Top {n} by inclusive cost (share of all samples of the process, callers included):", inclusive[:n], "incl.")
    table(f"Top {n} by self cost:", report(path, False)[:n], "self")
    skip = ("main", "_start", "__libc_start")
    own = [r for r in inclusive if r[1] == binary and not r[2].startswith(skip)]
    table(f"Top {n} by inclusive cost among functions compiled into `{binary}` (our code and the packages it"
          " links statically; URLSession/Foundation, dispatch and the Swift runtime are shared libraries):",
          own[:n], "incl.")


if __name__ == "__main__":
    main()
