#!/usr/bin/env python3
"""Issue 9, target 7: 10,000 services × 10 keys against 10 services × 10 keys.

  - start-up to ready: the gateway process started → GET /readyz answers 200;
  - a change visible: an admin change (a service deactivated, then activated)
    sent → the next proxied request obeys it (polled from another CPU);
  - per-request cost: wrk, 64 connections, the same chat request to one
    service of the large database and of the small one, interleaved.

Both databases are filled the way an operator migrating would: a legacy
(Go project) SQLite file written here, then `gateway import-legacy`.
Servers on CPU 0, load on CPU 1, as in suite.py. Writes the SCALE section of
docs/benchmarks.md and docs/bench/scale.json (suite.py's target table reads it).
Environment: BENCH_DURATION, BENCH_ROUNDS, BENCH_WRITE as in suite.py;
SCALE_SERVICES (default 10000).
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import suite
from suite import BIN, CLIENT_KEY, LOAD_CPU, PORTS, ROOT, Servers, log, rss_mb, wait_for

SERVICES = int(os.environ.get("SCALE_SERVICES", "10000"))
KEYS_PER_SERVICE = 10
PORT = 18085
CHANGES = 20
ENCRYPTION_KEY = "c2NhbGUtYmVuY2gtbWFzdGVyLWtleS0zMi1ieXRlcyE="  # 32 bytes, bench only


def legacy_database(path: pathlib.Path, services: int) -> None:
    mock = f"http://127.0.0.1:{PORTS['direct']}/v1"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE proxy_configs (id integer PRIMARY KEY, name text NOT NULL, slug text NOT NULL,"
        " config_type text NOT NULL, api_key_location text NOT NULL, api_key_name text NOT NULL,"
        " is_active numeric DEFAULT true, method text, target_url text, target_base_url text, api_format text);"
        "CREATE TABLE api_keys (id integer PRIMARY KEY, key_value text NOT NULL, is_active numeric DEFAULT true,"
        " proxy_config_id integer);")
    db.executemany(
        "INSERT INTO proxy_configs VALUES (?, ?, ?, 'llm', 'header', 'Authorization', 1, NULL, NULL, ?, "
        "'openai_compatible')",
        ((i, f"Service {i}", f"svc-{i:05}", mock) for i in range(1, services + 1)))
    db.executemany(
        "INSERT INTO api_keys (key_value, is_active, proxy_config_id) VALUES (?, 1, ?)",
        ((f"sk-scale-{i:05}-{k:02}-0123456789abcdef", i) for i in range(1, services + 1)
         for k in range(KEYS_PER_SERVICE)))
    db.commit()
    db.close()


def gateway_env(data: pathlib.Path) -> dict[str, str]:
    return {"BIND_ADDRESS": "127.0.0.1", "BACKEND_PORT": str(PORT), "ADMIN_PASSWORD": "bench",
            "GLOBAL_PROXY_KEYS": CLIENT_KEY, "LOG_LEVEL": "warn", "ENCRYPTION_KEY": ENCRYPTION_KEY,
            "DATABASE_PATH": str(data / "api_key_rotator.db")}


def load(work: pathlib.Path, name: str, services: int) -> tuple[pathlib.Path, float]:
    legacy = work / f"{name}-legacy.db"
    legacy_database(legacy, services)
    data = work / name
    started = time.monotonic()
    subprocess.run([str(BIN / "gateway"), "import-legacy", str(legacy)], env={**os.environ, **gateway_env(data)},
                   check=True, capture_output=True)
    return data, time.monotonic() - started


def status_of(url: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def start_to_ready(servers: Servers, data: pathlib.Path) -> float:
    started = time.monotonic()
    servers.start("scale", [str(BIN / "gateway")], gateway_env(data))
    ready = f"http://127.0.0.1:{PORT}/readyz"
    while True:
        try:
            with urllib.request.urlopen(ready, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > 60:
            raise SystemExit("scale: the gateway did not become ready within 60 s")
        time.sleep(0.002)


def change_visible(services: int) -> list[float]:
    """Seconds from sending a change until a proxied request obeys it."""
    base = f"http://127.0.0.1:{PORT}"
    token = suite.http("POST", f"{base}/api/admin/login", {"username": "admin", "password": "bench"})["access_token"]
    samples = []
    for n in range(CHANGES):
        service_id = 1 + (n * 7919) % services
        url = f"{base}/llm/svc-{service_id:05}/v1/models"
        for active, expected in ((False, 404), (True, 200)):
            started = time.monotonic()
            suite.http("PUT", f"{base}/api/admin/proxy-configs/{service_id}/status", {"is_active": active}, token)
            while status_of(url) != expected:
                if time.monotonic() - started > 10:
                    raise SystemExit(f"scale: a change to service {service_id} was not visible within 10 s")
            samples.append(time.monotonic() - started)
    return samples


def main() -> None:
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    work = pathlib.Path(tempfile.mkdtemp(prefix="akr-scale-"))
    (work / "chat.lua").write_text(
        f'wrk.method = "POST"\nwrk.body = \'{suite.CHAT}\'\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {CLIENT_KEY}"\n')
    servers = Servers(work)
    servers.start("direct", [str(BIN / "mock-upstream"), f"127.0.0.1:{PORTS['direct']}", "1"])
    try:
        wait_for(f"http://127.0.0.1:{PORTS['direct']}/v1/models")
        small, small_import = load(work, "small", 10)
        large, large_import = load(work, "large", SERVICES)
        log(f"scale: imported 10 services in {small_import:.2f} s, {SERVICES} in {large_import:.1f} s")
        result = {"services": SERVICES, "keys_per_service": KEYS_PER_SERVICE, "import_s": large_import,
                  "startup_s": [], "startup_small_s": [], "rps": {"small": [], "large": []}}
        for round_no in range(1, suite.ROUNDS + 1):
            for name, data, slug in (("small", small, "svc-00005"), ("large", large, f"svc-{SERVICES // 2:05}")):
                seconds = start_to_ready(servers, data)
                result["startup_s" if name == "large" else "startup_small_s"].append(seconds)
                url = f"http://127.0.0.1:{PORT}/llm/{slug}/v1/chat/completions"
                argv = ["wrk", "-t2", "-c64", f"-d{suite.DURATION}s", "--latency", "-s", str(work / "chat.lua"), url]
                out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
                if "Non-2xx" in out:
                    raise SystemExit(f"scale: non-2xx answers:\n{out}")
                rps = float(out.split("Requests/sec:")[1].split()[0])
                result["rps"][name].append(rps)
                if name == "large" and round_no == 1:
                    result["rss_large_mb"] = rss_mb(servers.pid("scale"))
                    result["change_s"] = change_visible(SERVICES)
                log(f"scale round {round_no} {name:5}: ready in {seconds * 1000:.0f} ms, {rps:.0f} req/s")
                servers.stop("scale")
    finally:
        servers.stop_all()
    report(result)


def report(result: dict) -> None:
    small = statistics.mean(result["rps"]["small"])
    large = statistics.mean(result["rps"]["large"])
    startup = max(result["startup_s"])
    change = result["change_s"]
    change_p50, change_max = statistics.median(change), max(change)
    ok = startup <= 1 and change_max <= 0.1 and large >= 0.95 * small
    result["verdict"] = "met" if ok else "missed"
    result["summary"] = (f"ready in {startup * 1000:.0f} ms; change visible p50 {change_p50 * 1000:.1f} ms, "
                         f"max {change_max * 1000:.1f} ms; {large / small:.2f} × the 10-service req/s")
    lines = [
        f"{result['services']:,} services × {result['keys_per_service']} keys, loaded with `gateway import-legacy` "
        f"in {result['import_s']:.1f} s; {suite.ROUNDS} rounds, {suite.DURATION} s of wrk (64 connections) each.",
        "",
        "| measure | 10 services × 10 keys | 10,000 services × 10 keys | target |",
        "|---|---|---|---|",
        f"| start-up to ready (max of rounds) | {max(result['startup_small_s']) * 1000:.0f} ms | {startup * 1000:.0f} ms | ≤ 1 s |",
        f"| admin change → next proxied request obeys it ({len(change)} changes) | | p50 {change_p50 * 1000:.1f} ms, "
        f"max {change_max * 1000:.1f} ms | ≤ 100 ms |",
        f"| proxied requests/s (mean) | {small:.0f} | {large:.0f} ({large / small:.2f} ×) | ≥ 0.95 × |",
        f"| RSS after start and the changes | | {result['rss_large_mb']:.1f} MB | |",
    ]
    print("\n".join(lines))
    if suite.WRITE:
        (ROOT / "docs" / "bench").mkdir(exist_ok=True)
        (ROOT / "docs" / "bench" / "scale.json").write_text(json.dumps(result, indent=1) + "\n")
        suite.write_doc({"SCALE": "\n".join(lines) + "\n"})
        replace_target_row(suite.scale_row())


def replace_target_row(row: str) -> None:
    """Puts target 7's row into the TARGETS table suite.py wrote last."""
    doc = ROOT / "docs" / "benchmarks.md"
    lines = doc.read_text().split("\n")
    start = lines.index("<!-- TARGETS:START -->")
    end = lines.index("<!-- TARGETS:END -->")
    rows = [i for i in range(start, end) if lines[i].startswith("| 7 |")]
    if rows:
        lines[rows[0]] = row
    else:
        after = next(i for i in range(start, end) if lines[i].startswith("| 6 |"))
        lines.insert(after + 1, row)
    doc.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
