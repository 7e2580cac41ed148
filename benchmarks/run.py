"""Run the Flask-SockReq benchmarks and print a table.

``python benchmarks/run.py [--duration S] [--concurrency 1,50] [--json]``

Starts two servers (``server.py --app sockreq`` and ``--app bare``) on free
127.0.0.1 ports, then for each concurrency measures:

* ``socket/sockreq``: Socket.IO ``get`` events served by SockReq (through Flask);
* ``http/sockreq``: HTTP/1.1 keep-alive ``GET /item`` on the same server;
* ``socket/bare``: the floor, a bare python-socketio handler returning a constant.

For each: requests/s, p50 and p99 latency, server CPU per request (utime +
stime of the server process from /proc/PID/stat over the measured window),
server RSS after the run (VmRSS) and the load generator's own CPU use.
The servers are stopped by PID when done, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 30.0

TARGETS = (
    # (label, server app, loadgen mode)
    ("socket via SockReq", "sockreq", "ws"),
    ("HTTP keep-alive", "sockreq", "http"),
    ("bare python-socketio", "bare", "ws"),
)


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


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


def probe(port: int, app: str) -> bool:
    path = "/item" if app == "sockreq" else "/socket.io/?EIO=4&transport=polling"
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            data = sock.recv(4096)
    except OSError:
        return False
    return data.startswith(b"HTTP/1.1 200")


class Server:
    def __init__(self, app: str, log_dir: str, config: list[str] = ()) -> None:
        self.app = app
        self.port = free_port()
        self.log_path = os.path.join(log_dir, f"server-{app}.log")
        self.log = open(self.log_path, "wb")
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                os.path.join(HERE, "server.py"),
                "--app",
                app,
                "--port",
                str(self.port),
            ]
            + [f"--set={item}" for item in config],
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
                raise BenchError(f"{self.app} server exited; see {self.log_path}")
            if probe(self.port, self.app):
                return
            time.sleep(0.1)
        raise BenchError(f"{self.app} server not ready after {READY_TIMEOUT} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise BenchError("the load generator did not answer in time")
    line = proc.stdout.readline().decode().strip()
    if not line:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            raise BenchError(
                "the load generator closed its output but did not exit"
            ) from None
        err = proc.stderr.read().decode().strip()
        raise BenchError(f"the load generator failed: {err or 'no output'}")
    return line


def library_info() -> dict:
    """Which flask_sockreq the servers import, and the repository's commit."""
    code = (
        "import flask_sockreq; print(flask_sockreq.__version__, flask_sockreq.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=HERE,
    ).stdout.split()
    info = {
        "flask_sockreq": out[1] if len(out) > 1 else "?",
        "version": out[0] if out else "?",
    }
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
    if os.path.dirname(os.path.dirname(os.path.abspath(info["flask_sockreq"]))) == root:
        info["commit"] = rev + ("+dirty" if dirty else "")
    else:
        info["commit"] = "not this checkout"
    return info


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
    server: Server, mode: str, concurrency: int, procs: int, args: argparse.Namespace
) -> dict:
    """One measured run with ``procs`` generator processes sharing the connections."""
    procs = max(1, min(procs, concurrency))
    shares = [concurrency // procs + (i < concurrency % procs) for i in range(procs)]
    gens: list[subprocess.Popen] = []
    try:
        for share in shares:
            gens.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        os.path.join(HERE, "loadgen.py"),
                        "--mode",
                        mode,
                        "--port",
                        str(server.port),
                        "--connections",
                        str(share),
                        "--duration",
                        str(args.duration),
                        "--warmup",
                        str(args.warmup),
                        "--max-requests",
                        str(args.max_requests // procs),
                        "--wait",
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        for gen in gens:
            if read_line(gen, args.warmup + 30) != "READY":
                raise BenchError("the load generator did not get ready")
        cpu0 = server_cpu(server.pid)
        for gen in gens:
            gen.stdin.write(b"GO\n")
            gen.stdin.flush()
        results = [json.loads(read_line(gen, args.duration + 30)) for gen in gens]
        cpu1 = server_cpu(server.pid)
        rss = server_rss_mib(server.pid)
        for gen in gens:
            gen.stdin.write(b"EXIT\n")
            gen.stdin.flush()
        for gen in gens:
            gen.wait(10)
            if gen.returncode:
                raise BenchError(
                    f"the load generator failed: {gen.stderr.read().decode().strip()}"
                )
    finally:
        for gen in gens:
            if gen.poll() is None:
                gen.kill()
                gen.wait(5)
    hist: dict[int, int] = {}
    for result in results:
        for bucket, n in result["hist"].items():
            hist[int(bucket)] = hist.get(int(bucket), 0) + n
    count = sum(r["count"] for r in results)
    wall = max(r["wall"] for r in results)
    gen_cpu = sum(r["cpu"] for r in results)
    if not count:
        raise BenchError("no request completed")
    return {
        "requests": count,
        "errors": sum(r["errors"] for r in results),
        "seconds": round(wall, 3),
        "rps": round(count / wall, 1),
        "p50_ms": round(percentile(hist, count, 0.50), 3),
        "p99_ms": round(percentile(hist, count, 0.99), 3),
        "server_cpu_us": round((cpu1 - cpu0) / count * 1e6, 1),
        "server_cpu_pct": round(100 * (cpu1 - cpu0) / wall, 1),
        "server_rss_mib": round(rss, 1),
        "loadgen_procs": len(gens),
        "loadgen_cpu_pct": round(100 * gen_cpu / wall, 1),
        "loadgen_cpu_us": round(gen_cpu / count * 1e6, 1),
    }


def table(rows: list[dict]) -> str:
    # (heading, key, width, format)
    columns = (
        ("target", "target", 22, ""),
        ("C", "concurrency", 3, ""),
        ("req/s", "rps", 8, ".0f"),
        ("p50 ms", "p50_ms", 7, ".2f"),
        ("p99 ms", "p99_ms", 7, ".2f"),
        ("srv µs/req", "server_cpu_us", 10, ".1f"),
        ("srv CPU%", "server_cpu_pct", 8, ".1f"),
        ("RSS MiB", "server_rss_mib", 7, ".1f"),
        ("gen CPU%", "loadgen_cpu_pct", 8, ".1f"),
        ("gen µs/req", "loadgen_cpu_us", 10, ".1f"),
    )

    def line(cells: list[str]) -> str:
        return " ".join(
            cell.ljust(columns[i][2]) if i == 0 else cell.rjust(columns[i][2])
            for i, cell in enumerate(cells)
        )

    header = line([heading for heading, _, _, _ in columns])
    lines = [header, "-" * len(header)]
    for row in rows:
        text = line([format(row[key], fmt) for _, key, _, fmt in columns])
        if row["errors"]:
            text += f"  ERRORS={row['errors']}"
        lines.append(text)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="measured seconds per run (default 10)",
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="warm-up seconds per run (default 2)"
    )
    parser.add_argument(
        "--concurrency",
        default="1,50",
        help="comma-separated connection counts (default 1,50)",
    )
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="cap on requests per run"
    )
    parser.add_argument(
        "--procs",
        type=int,
        default=1,
        help="load generator processes per run (default 1)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="Flask config for the sockreq server, e.g. SOCKREQ_TIMEOUT=null"
        " (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if not concurrencies or min(concurrencies) < 1:
        parser.error("--concurrency needs positive integers")

    lib = library_info()
    # Server output goes to a temporary directory, kept only if something fails.
    log_dir = tempfile.mkdtemp(prefix="sockreq-bench-")
    servers: dict[str, Server] = {}
    rows = []
    ok = False
    try:
        servers["sockreq"] = Server("sockreq", log_dir, args.set)
        servers["bare"] = Server("bare", log_dir)
        for server in servers.values():
            server.wait_ready()
        for concurrency in concurrencies:
            for label, app, mode in TARGETS:
                if not args.json:
                    print(
                        f"  {label}, C={concurrency} ...", file=sys.stderr, flush=True
                    )
                result = measure(servers[app], mode, concurrency, args.procs, args)
                rows.append({"target": label, "concurrency": concurrency, **result})
        ok = True
    finally:
        for server in servers.values():
            server.stop()
        if ok:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"run.py: server logs kept in {log_dir}", file=sys.stderr)
    if args.json:
        info = {
            **lib,
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "duration": args.duration,
            "warmup": args.warmup,
            "sockreq_config": args.set,
        }
        print(json.dumps({"info": info, "results": rows}, indent=2))
    else:
        print(
            f"flask_sockreq {lib['version']} from {lib['flask_sockreq']}"
            f" ({lib['commit']})"
        )
        print(
            f"duration {args.duration:g} s per case after {args.warmup:g} s warm-up;"
            f" {os.cpu_count()} CPUs; server CPU from /proc/PID/stat"
        )
        if args.set:
            print("sockreq server config: " + ", ".join(args.set))
        print(table(rows))


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        sys.exit(1)
