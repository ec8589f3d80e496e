"""Benchmark: the service against a constant baseline under the same uvicorn settings, driven by wrk.

    .venv/bin/python -m tests.bench.bench [--duration 5] [--rounds 3] [--connections 32]

Starts, on loopback, `autoconfig serve --workers 2` on profiles/ac-paris.toml (signing with the
development ECDSA P-256 certificate, then with an RSA-2048 one), and a baseline Starlette app serving
the very bytes the service answered, as constants (tests/bench/baseline.py). Each endpoint is driven
alternately on both, so that the machine's drift hits both alike, and the ratios are printed. Signed
profiles are also compared with what `openssl speed` says the machine's cores can sign. Needs `wrk`
and `openssl` (Debian packages). Not part of the test command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.certs import make_chain

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "ac-paris.toml"
OUTLOOK_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
    'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>jean.dupont@ac-paris.fr</EMailAddress>'
    "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/"
    "2006a</AcceptableResponseSchema></Request></Autodiscover>"
)


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    query: str = ""
    body: str = ""
    unique_person: bool = False  # each request for another address (no cache can help)

    def lua(self) -> str:
        headers = 'wrk.headers["Content-Type"] = "text/xml"\n' if self.body else ""
        body = f"wrk.body = {json.dumps(self.body)}\n" if self.body else ""
        if not self.unique_person:
            target = self.path + (f"?{self.query}" if self.query else "")
            return f'wrk.method = "{self.method}"\n{headers}{body}wrk.path = {json.dumps(target)}\n'
        return (
            "local counter = 0\n"
            'function setup(thread) thread:set("tag", tostring(math.random(1, 1000000000))) end\n'
            "request = function()\n"
            "  counter = counter + 1\n"
            f'  local target = "{self.path}?email=p" .. tag .. "x" .. counter .. "@ac-paris.fr"\n'
            f'  return wrk.format("{self.method}", target)\n'
            "end\n"
        )


ENDPOINTS = (
    Endpoint("Thunderbird XML", "GET", "/mail/config-v1.1.xml", "emailaddress=jean.dupont@ac-paris.fr"),
    Endpoint(
        "autodiscover.json",
        "GET",
        "/autodiscover/autodiscover.json/v1.0/jean.dupont@ac-paris.fr",
        "Protocol=AutodiscoverV1",
    ),
    Endpoint("POX POST", "POST", "/autodiscover/autodiscover.xml", body=OUTLOOK_BODY),
    Endpoint("guide page", "GET", "/guide/android", "email=jean.dupont@ac-paris.fr"),
    Endpoint("profile, same person", "GET", "/profile.mobileconfig", "email=jean.dupont@ac-paris.fr"),
    Endpoint("profile, new person", "GET", "/profile.mobileconfig", unique_person=True),
)


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answers at {url}")


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def capture(base: str, folder: Path) -> None:
    """Save each endpoint's real answer for the baseline to serve as a constant."""
    for index, endpoint in enumerate(ENDPOINTS):
        query = endpoint.query or ("email=jean.dupont@ac-paris.fr" if endpoint.unique_person else "")
        url = f"{base}{endpoint.path}" + (f"?{query}" if query else "")
        data = endpoint.body.encode() if endpoint.body else None
        request = urllib.request.Request(url, data=data, method=endpoint.method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
            headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "date")}
        (folder / f"{index}.body").write_bytes(body)
        meta = {"method": endpoint.method, "path": endpoint.path, "headers": headers, "body": f"{index}.body"}
        (folder / f"{index}.json").write_text(json.dumps(meta), encoding="utf-8")


def wrk(base: str, endpoint: Endpoint, duration: int, connections: int, scripts: Path) -> Run:
    script = scripts / f"{abs(hash(endpoint))}.lua"
    script.write_text(endpoint.lua(), encoding="utf-8")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return Run(rps, _latency(out, "50%"), _latency(out, "99%"), errors)


def _latency(out: str, percentile: str) -> float:
    m = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", out, flags=re.M)
    if m is None:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def openssl_sign_rate(key_type: str, seconds: int = 3) -> float:
    algorithm = "rsa2048" if key_type == "RSA-2048" else "ecdsap256"
    cores = os.cpu_count() or 1
    out = subprocess.run(
        ["openssl", "speed", "-seconds", str(seconds), "-multi", str(cores), algorithm],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    line = next(
        line
        for line in out.splitlines()
        if ("rsa 2048" in line or "nistp256" in line) and "sign" not in line[:8]
    )
    return float(line.split()[-2])


def worker_rss_mb(parent: int) -> list[float]:
    sizes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        ppid = re.search(r"^PPid:\s+(\d+)", text, flags=re.M)
        rss = re.search(r"^VmRSS:\s+(\d+) kB", text, flags=re.M)
        if ppid and rss and int(ppid.group(1)) == parent:
            sizes.append(int(rss.group(1)) / 1024)
    return sorted(sizes)


def bench(settings: Path, key_type: str, args: argparse.Namespace, work: Path) -> list[str]:
    env = {**os.environ, "AUTOCONFIG_STATE_DIR": str(work / "state")}
    service_port, baseline_port = free_port(), free_port()
    service = start(
        [
            sys.executable,
            "-m",
            "autoconfig",
            "serve",
            "--settings",
            str(settings),
            "--port",
            str(service_port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        env,
    )
    service_url = f"http://127.0.0.1:{service_port}"
    wait_for(f"{service_url}/healthz")
    captured = work / f"baseline-{key_type}"
    captured.mkdir()
    capture(service_url, captured)
    baseline = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.bench.baseline:create",
            "--factory",
            "--workers",
            "2",
            "--port",
            str(baseline_port),
            "--no-access-log",
            "--no-server-header",
            "--no-proxy-headers",
            "--http",
            "autoconfig.web.protocol:NoDelayH11Protocol",
            "--log-level",
            "warning",
        ],
        {**env, "AUTOCONFIG_BASELINE": str(captured)},
    )
    baseline_url = f"http://127.0.0.1:{baseline_port}"
    wait_for(f"{baseline_url}/mail/config-v1.1.xml")
    lines = []
    try:
        rss_before = worker_rss_mb(service.pid)
        for endpoint in ENDPOINTS:
            if key_type != "ECDSA P-256" and not endpoint.path.startswith("/profile"):
                continue
            if args.only and not any(word.lower() in endpoint.name.lower() for word in args.only):
                continue
            mine: list[Run] = []
            theirs: list[Run] = []
            for round_ in range(args.rounds):
                order = [(service_url, mine), (baseline_url, theirs)]
                for url, runs in order if round_ % 2 == 0 else reversed(order):
                    runs.append(wrk(url, endpoint, args.duration, args.connections, work))
            rps = statistics.median(r.rps for r in mine)
            base = statistics.median(r.rps for r in theirs)
            p50 = statistics.median(r.p50_ms for r in mine)
            p99 = statistics.median(r.p99_ms for r in mine)
            errors = sum(r.errors for r in mine)
            signing = endpoint.path.startswith("/profile")
            label = f"{endpoint.name} ({key_type})" if signing else endpoint.name
            figures = f"{rps:,.0f} | {base:,.0f} | {rps / base:.0%} | {p50:.2f} | {p99:.2f} | {errors}"
            line = f"| {label} | {figures} |"
            if not signing:
                line += " |"
            if signing:
                capacity = args.sign_rates[key_type]
                line += f" {rps / capacity:.0%} of {capacity:,.0f} signatures/s (openssl speed) |"
            lines.append(line)
        rss_after = worker_rss_mb(service.pid)
        memory = f"before {rss_before} MB, after {rss_after} MB"
        lines.append(f"| workers' resident memory ({key_type}) | {memory} | | | | | | |")
    finally:
        stop(service)
        stop(baseline)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternations per endpoint (medians are kept)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", nargs="*", default=[], help="endpoints whose name holds one of these words")
    parser.add_argument("--no-rsa", action="store_true", help="skip the RSA-2048 run")
    args = parser.parse_args()
    for tool in ("wrk", "openssl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install {tool}")
    args.sign_rates = {k: openssl_sign_rate(k) for k in ("ECDSA P-256", "RSA-2048")}
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        rsa = make_chain("rsa").write(work / "rsa")
        rsa_settings = work / "rsa.toml"
        rsa_settings.write_text(
            PROFILE.read_text(encoding="utf-8")
            + f'\n[signing]\ncertificate = "{rsa.fullchain}"\nkey = "{rsa.key}"\n',
            encoding="utf-8",
        )
        runs = f"{args.rounds} x {args.duration} s per target"
        print(f"wrk, 2 threads, {args.connections} connections, {runs}, medians")
        print(f"openssl speed, {os.cpu_count()} cores: {args.sign_rates}")
        print()
        print("| endpoint | service req/s | baseline req/s | ratio | p50 ms | p99 ms | errors | signing |")
        print("|---|---|---|---|---|---|---|---|")
        lines = bench(PROFILE, "ECDSA P-256", args, work)
        if not args.no_rsa:
            lines += bench(rsa_settings, "RSA-2048", args, work)
        for line in lines:
            print(line, flush=True)


if __name__ == "__main__":
    main()
