"""Run the Flask-SockReq request benchmarks and print the figures and targets.

``python benchmarks/run.py [--cases get,post1k,post64k,file100k]
[--concurrency 1,50] [--repeat 3] [--duration 5] [--json]``

For each case (``server.py``'s routes: ``GET /item``, ``POST /echo`` with
1 KB and 64 KB JSON bodies, ``GET /file`` of 100 KB) and each concurrency,
it measures these targets, each with ``loadgen.py`` (closed loop, one
request in flight per connection):

``socket``
    Socket.IO requests served by Flask-SockReq (``server.py --app sockreq``,
    default configuration).
``http``
    HTTP/1.1 keep-alive requests to the same server.
``floor``
    A bare python-socketio handler returning a constant JWR, no Flask
    (``--app bare``): what Socket.IO costs by itself.
``floor+``
    The same floor with Flask-SockReq's packet codec and WebSocket reader
    (``--app bare --codec sockreq``): what Flask-SockReq makes of it.
``naive``
    python-socketio plus Flask glued together by hand, no Flask-SockReq
    (``--app naive``): what the two cost by themselves.
``sails``, ``sails-http``
    The same routes in Sails.js 1.5 (``peers/sails``, installed with npm on
    the first run), over its socket virtual requests and over HTTP.

and, in a process of its own, ``Flask alone``: ``app.wsgi_app`` on a
prebuilt environ, the route's cost with no server at all (``stages.py``).

Each target is measured ``--repeat`` times, the repetitions interleaved so
that a change in the machine's load touches all targets alike, and the
median of each figure is printed. Server CPU per request (utime + stime of
the server process from ``/proc/PID/stat``, from just before the measured
window until its requests are answered) is the figure to compare; latency
and throughput also depend on what else the machine runs. The servers are
stopped by PID whatever happens.

The targets of issue 9 are checked against the medians and printed after
the tables: at C=50, socket CPU <= 1.15 x (floor + Flask alone) and <= 0.7 x
HTTP; at C=1, socket CPU <= 1.3 x (floor + Flask alone) and p50 <= 0.3 ms;
and, as the aim beyond them, socket CPU and C=1 p50 at or below Sails'.

``--before DIR`` adds ``socket-before`` and ``http-before``: the same
``server.py --app sockreq`` with ``DIR`` (a directory holding an older
``flask_sockreq`` package, e.g. from ``git worktree add``) first on
``PYTHONPATH``, for a before/after table in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 30.0
CASES = ("get", "post1k", "post64k", "file100k")

#: key: (label, server, loadgen mode)
TARGETS = {
    "socket": ("socket via SockReq", "sockreq", "ws"),
    "http": ("HTTP keep-alive", "sockreq", "http"),
    "floor": ("floor: python-socketio", "bare", "ws"),
    "floor+": ("floor + SockReq codec", "bare-codec", "ws"),
    "naive": ("python-socketio + Flask", "naive", "ws"),
    "sails": ("Sails.js socket", "sails", "ws"),
    "sails-http": ("Sails.js HTTP", "sails", "http"),
    # With --before DIR only: the same server on an older flask_sockreq.
    "socket-before": ("socket, --before code", "sockreq@before", "ws"),
    "http-before": ("HTTP, --before code", "sockreq@before", "http"),
}


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the process has used."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    # Fields 14 and 15 of stat(5) (utime, stime), counted from the state (3).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def server_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise BenchError("no VmRSS")


def probe(port: int) -> bool:
    """Whether a Socket.IO server answers on ``port``."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(
                f"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {HOST}"
                "\r\nConnection: close\r\n\r\n".encode()
            )
            data = sock.recv(4096)
    except OSError:
        return False
    return data.startswith(b"HTTP/1.1 200")


class Server:
    """``server.py`` in a subprocess."""

    def __init__(
        self, kind: str, log_dir: str, config: list[str], before: str | None = None
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = os.path.join(log_dir, f"server-{kind}.log")
        self.log = open(self.log_path, "wb")
        kind, _, version = kind.partition("@")
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        if version == "before":
            assert before is not None
            env["PYTHONPATH"] = os.pathsep.join(
                [before, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        app, _, codec = kind.partition("-")
        command = [
            sys.executable,
            os.path.join(HERE, "server.py"),
            f"--app={app}",
            f"--port={self.port}",
        ]
        if codec:
            command.append("--codec=sockreq")
        if app == "sockreq":
            command += [f"--set={item}" for item in config]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the {self.kind} server exited; see {self.log_path}")
            if probe(self.port):
                return
            time.sleep(0.1)
        raise BenchError(f"the {self.kind} server was not ready in {READY_TIMEOUT} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def read_line(proc: subprocess.Popen, timeout: float) -> str:  # type: ignore[type-arg]
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise BenchError("the load generator did not answer in time")
    line = proc.stdout.readline().decode().strip()  # type: ignore[union-attr]
    if not line:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            raise BenchError("the load generator closed its output") from None
        err = proc.stderr.read().decode().strip()  # type: ignore[union-attr]
        raise BenchError(f"the load generator failed: {err or 'no output'}")
    return line


def percentile(hist: dict[int, int], total: int, q: float) -> float:
    """The q-quantile in ms from a histogram of 10 µs buckets."""
    rank = q * total
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return (bucket + 0.5) / 100
    return float("nan")


def measure(
    port: int,
    pid: int,
    mode: str,
    case: str,
    concurrency: int,
    args: argparse.Namespace,
    query: str = "",
) -> dict:  # type: ignore[type-arg]
    """One measured run of the load generator against the server ``pid``."""
    command = [
        sys.executable,
        os.path.join(HERE, "loadgen.py"),
        f"--mode={mode}",
        f"--port={port}",
        f"--case={case}",
        f"--connections={concurrency}",
        f"--duration={args.duration}",
        f"--warmup={args.warmup}",
        f"--max-requests={args.max_requests}",
        "--wait",
    ]
    if query:
        command.append(f"--query={query}")
    gen = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        if read_line(gen, args.warmup + 60) != "READY":
            raise BenchError("the load generator did not get ready")
        cpu0 = server_cpu(pid)
        gen.stdin.write(b"GO\n")  # type: ignore[union-attr]
        gen.stdin.flush()  # type: ignore[union-attr]
        result = json.loads(read_line(gen, args.duration + 60))
        cpu1 = server_cpu(pid)
        rss = server_rss_mib(pid)
        gen.stdin.write(b"EXIT\n")  # type: ignore[union-attr]
        gen.stdin.flush()  # type: ignore[union-attr]
        gen.wait(10)
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait(5)
    count = result["count"]
    if not count:
        raise BenchError("no request completed")
    hist = {int(bucket): n for bucket, n in result["hist"].items()}
    wall = result["wall"]
    return {
        "requests": count,
        "errors": result["errors"],
        "rps": count / wall,
        "p50_ms": percentile(hist, count, 0.50),
        "p99_ms": percentile(hist, count, 0.99),
        "server_cpu_us": (cpu1 - cpu0) / count * 1e6,
        "server_cpu_pct": 100 * (cpu1 - cpu0) / wall,
        "server_rss_mib": rss,
        "loadgen_cpu_pct": 100 * result["cpu"] / wall,
    }


def flask_alone(cases: list[str]) -> dict[str, float]:
    """``Flask alone`` per case, µs, from ``stages.py`` in its own process."""
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "stages.py"), "--json"]
        + ["--case", ",".join(cases)],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout
    stages = json.loads(out)
    codec = "orjson" if "orjson" in stages else "std"
    return {case: stages[codec][case]["Flask alone"] for case in cases}


def library_info() -> dict[str, str]:
    """Which flask_sockreq the servers import, and the repository's commit."""
    code = "import flask_sockreq as m; print(m.__version__, m.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=HERE,
    ).stdout.split()
    info = {"version": out[0] if out else "?", "flask_sockreq": out[-1] if out else "?"}
    root = os.path.dirname(HERE)
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=root,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "flask_sockreq"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=root,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        rev, dirty = "?", ""
    here = os.path.dirname(os.path.dirname(os.path.abspath(info["flask_sockreq"])))
    info["commit"] = (
        rev + ("+dirty" if dirty else "") if here == root else "not this checkout"
    )
    try:
        import orjson

        info["codec"] = f"orjson {orjson.__version__}"
    except ImportError:
        info["codec"] = "json (orjson not installed)"
    return info


def median_row(runs: list[dict]) -> dict:  # type: ignore[type-arg]
    row = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    row["errors"] = sum(run["errors"] for run in runs)
    row["runs"] = len(runs)
    return row


def table(rows: list[dict]) -> str:  # type: ignore[type-arg]
    columns = (
        ("target", "label", 24, ""),
        ("case", "case", 8, ""),
        ("C", "concurrency", 3, ""),
        ("req/s", "rps", 7, ".0f"),
        ("p50 ms", "p50_ms", 7, ".2f"),
        ("p99 ms", "p99_ms", 7, ".2f"),
        ("srv µs/req", "server_cpu_us", 10, ".1f"),
        ("srv CPU%", "server_cpu_pct", 8, ".0f"),
        ("RSS MiB", "server_rss_mib", 7, ".1f"),
        ("gen CPU%", "loadgen_cpu_pct", 8, ".0f"),
    )

    def line(cells: list[str]) -> str:
        return " ".join(
            cell.ljust(columns[i][2]) if i < 2 else cell.rjust(columns[i][2])
            for i, cell in enumerate(cells)
        )

    header = line([heading for heading, _, _, _ in columns])
    out = [header, "-" * len(header)]
    for row in rows:
        text = line([format(row[key], fmt) for _, key, _, fmt in columns])
        if row["errors"]:
            text += f"  ERRORS={row['errors']}"
        out.append(text)
    return "\n".join(out)


def targets_report(
    rows: list[dict],  # type: ignore[type-arg]
    alone: dict[str, float],
) -> tuple[str, list[dict]]:  # type: ignore[type-arg]
    """The issue's targets, checked: a text table and the checks as data."""
    by = {(r["target"], r["case"], r["concurrency"]): r for r in rows}
    checks: list[dict] = []  # type: ignore[type-arg]
    lines = [
        f"{'case':8s} {'C':>3s} {'socket':>7s} {'floor':>7s} {'Flask':>7s}"
        f" {'naive':>7s} {'HTTP':>7s} {'Sails':>7s}  checks"
    ]
    for target, case, c in sorted(by, key=lambda key: (key[1], key[2])):
        if target != "socket":
            continue
        cpu = {
            name: by[(name, case, c)]["server_cpu_us"]
            for name in ("socket", "floor", "http", "sails", "naive")
            if (name, case, c) in by
        }
        sock = cpu["socket"]
        p50 = by[("socket", case, c)]["p50_ms"]
        found: list[tuple[str, float, float]] = []
        if "floor" in cpu and case in alone:
            limit = 1.15 if c > 1 else 1.3
            found.append(
                ("socket/(floor+Flask)", sock / (cpu["floor"] + alone[case]), limit)
            )
        if "http" in cpu and c > 1:
            found.append(("socket/HTTP", sock / cpu["http"], 0.7))
        if c == 1:
            found.append(("p50 ms", p50, 0.3))
        if "sails" in cpu:
            found.append(("socket/Sails CPU", sock / cpu["sails"], 1.0))
            if c == 1:
                sails_p50 = by[("sails", case, c)]["p50_ms"]
                found.append(("p50/Sails p50", p50 / sails_p50, 1.0))
        texts = []
        for name, value, limit in found:
            met = value <= limit
            checks.append(
                {
                    "case": case,
                    "C": c,
                    "check": name,
                    "value": value,
                    "limit": limit,
                    "met": met,
                }
            )
            texts.append(
                f"{name} {value:.2f} (<= {limit:g}) {'met' if met else 'NOT met'}"
            )
        cells = [
            "-" if cpu.get(name) is None else f"{cpu[name]:.0f}" for name in ("floor",)
        ]
        cells.append(f"{alone[case]:.0f}" if case in alone else "-")
        cells += [
            "-" if cpu.get(name) is None else f"{cpu[name]:.0f}"
            for name in ("naive", "http", "sails")
        ]
        lines.append(
            f"{case:8s} {c:3d} {sock:7.0f} "
            + " ".join(f"{cell:>7s}" for cell in cells)
            + "  "
            + "; ".join(texts)
        )
    befores = sorted((case, c) for target, case, c in by if target == "socket-before")
    if befores:
        lines += [
            "",
            "server µs/req and p50 ms, before (--before) -> now",
            f"{'case':8s} {'C':>3s} {'socket':>19s} {'p50':>17s} {'HTTP':>19s}",
        ]
    for case, c in befores:
        cells = []
        for now, then, key, form in (
            ("socket", "socket-before", "server_cpu_us", "{:.0f}"),
            ("socket", "socket-before", "p50_ms", "{:.2f}"),
            ("http", "http-before", "server_cpu_us", "{:.0f}"),
        ):
            if (now, case, c) in by and (then, case, c) in by:
                a, b = by[(then, case, c)][key], by[(now, case, c)][key]
                cells.append(f"{form.format(a)} -> {form.format(b)} ({b / a:.2f}x)")
            else:
                cells.append("-")
        lines.append(
            f"{case:8s} {c:3d} {cells[0]:>19s} {cells[1]:>17s} {cells[2]:>19s}"
        )
    return "\n".join(lines), checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--concurrency", default="1,50")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell (median)")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="measured s per run"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up s per run")
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--no-sails", action="store_true", help="leave Sails out")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="Flask config for the sockreq server, e.g. SOCKREQ_ACCESS_LOG=true",
    )
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="also measure the flask_sockreq package found in DIR (socket-before,"
        " http-before)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    targets = [t for t in args.targets.split(",") if t]
    if args.no_sails:
        targets = [t for t in targets if not t.startswith("sails")]
    if args.before is None:
        targets = [t for t in targets if not t.endswith("-before")]
    elif not os.path.isfile(os.path.join(args.before, "flask_sockreq", "__init__.py")):
        parser.error(f"--before: no flask_sockreq package in {args.before}")
    unknown = set(cases) - set(CASES) | set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown cases or targets: {', '.join(sorted(unknown))}")

    info = library_info()
    sails_version = None
    if any(t.startswith("sails") for t in targets):
        from peers import sails

        print("  installing the Sails peer (npm ci) if needed ...", file=sys.stderr)
        sails_version = sails.ensure_installed()
    print("  measuring Flask alone ...", file=sys.stderr, flush=True)
    alone = flask_alone(cases)

    log_dir = tempfile.mkdtemp(prefix="sockreq-bench-")
    servers: dict[str, object] = {}
    runs: dict[tuple[str, str, int], list[dict]] = {}  # type: ignore[type-arg]
    ok = False
    try:
        for target in targets:
            kind = TARGETS[target][1]
            if kind in servers:
                continue
            if kind == "sails":
                server = sails.SailsServer(free_port())
                server.start()
                server.wait_ready()
            else:
                server = Server(kind, log_dir, args.set, args.before)
                server.wait_ready()
            servers[kind] = server
        for rep in range(args.repeat):
            for case in cases:
                for c in concurrencies:
                    for target in targets:
                        label, kind, mode = TARGETS[target]
                        print(
                            f"  [{rep + 1}/{args.repeat}] {label}, {case}, C={c} ...",
                            file=sys.stderr,
                            flush=True,
                        )
                        server = servers[kind]
                        query = (
                            sails.SDK_QUERY if kind == "sails" and mode == "ws" else ""
                        )
                        result = measure(
                            server.port,
                            server.pid,
                            mode,
                            case,
                            c,
                            args,
                            query,  # type: ignore[attr-defined]
                        )
                        runs.setdefault((target, case, c), []).append(result)
        ok = True
    finally:
        for server in servers.values():
            server.stop()  # type: ignore[attr-defined]
        if ok:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"run.py: server logs kept in {log_dir}", file=sys.stderr)

    rows = []
    for (target, case, c), results in runs.items():
        rows.append(
            {
                "target": target,
                "label": TARGETS[target][0],
                "case": case,
                "concurrency": c,
                **median_row(results),
            }
        )
    order = {t: i for i, t in enumerate(TARGETS)}
    rows.sort(
        key=lambda r: (cases.index(r["case"]), r["concurrency"], order[r["target"]])
    )
    report, checks = targets_report(rows, alone)
    meta = {
        **info,
        "sails": sails_version,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "duration": args.duration,
        "warmup": args.warmup,
        "repeat": args.repeat,
        "sockreq_config": args.set,
        "flask_alone_us": alone,
    }
    if args.json:
        print(
            json.dumps(
                {
                    "info": meta,
                    "results": rows,
                    "checks": checks,
                    "runs": {"|".join(map(str, k)): v for k, v in runs.items()},
                },
                indent=2,
            )
        )
        return
    print(
        f"flask_sockreq {info['version']} from {info['flask_sockreq']}"
        f" ({info['commit']}), codec {info['codec']}"
    )
    if sails_version:
        print(f"Sails peer: {sails_version}")
    print(
        f"{os.cpu_count()} CPUs; {args.duration:g} s per run after {args.warmup:g} s"
        f" warm-up; median of {args.repeat} interleaved runs; server CPU from /proc"
    )
    if args.set:
        print("sockreq server config: " + ", ".join(args.set))
    print(table(rows))
    print()
    print(
        "Flask alone (app.wsgi_app, prebuilt environ, µs): "
        + ", ".join(f"{case} {alone[case]:.1f}" for case in cases)
    )
    print()
    print("Server CPU µs per request, and the targets:")
    print(report)


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        sys.exit(1)
