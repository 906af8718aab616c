"""Steady-rate load for scripts/soak.sh: RATE requests/s for DURATION s against
the gateway, sampling the gateway's RSS and open file descriptors every 10 s.
Prints one JSON summary line. Standard library only."""

import http.client
import json
import os
import queue
import sys
import threading
import time

host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rate, duration, client_key = float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
HEADERS = {"Authorization": f"Bearer {client_key}", "Content-Type": "application/json"}

statuses = {}
codes = {}
lock = threading.Lock()
jobs = queue.Queue()


def worker():
    conn = None
    while True:
        job = jobs.get()
        if job is None:
            return
        for _ in range(2):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=30)
                conn.request("POST", "/llm/soak/v1/chat/completions", BODY, HEADERS)
                response = conn.getresponse()
                body = response.read()
                status = response.status
                code = None
                if status != 200:
                    try:
                        code = json.loads(body).get("error", {}).get("code")
                    except Exception:
                        code = "unreadable"
                break
            except (http.client.HTTPException, OSError):
                conn = None
                status, code = "connection_error", None
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            if code:
                codes[str(code)] = codes.get(str(code), 0) + 1


def sample():
    with open(f"/proc/{pid}/status") as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kb, fds


threads = [threading.Thread(target=worker, daemon=True) for _ in range(96)]
for t in threads:
    t.start()
samples = []
start = time.monotonic()
sent = 0
next_sample = start
while True:
    now = time.monotonic()
    elapsed = now - start
    if elapsed >= duration:
        break
    if now >= next_sample:
        rss, fds = sample()
        samples.append({"t": round(elapsed), "rss_kb": rss, "fds": fds})
        next_sample += 10
    due = int(elapsed * rate)
    while sent < due:
        jobs.put(1)
        sent += 1
    time.sleep(0.005)
for _ in threads:
    jobs.put(None)
for t in threads:
    t.join(60)
rss, fds = sample()
samples.append({"t": round(time.monotonic() - start), "rss_kb": rss, "fds": fds})
print(json.dumps({"sent": sent, "statuses": {str(k): v for k, v in statuses.items()},
                  "error_codes": codes, "samples": samples}))
