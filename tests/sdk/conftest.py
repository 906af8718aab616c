"""Starts the release gateway and the testkit mock upstream, and creates one
LLM service per upstream api_format, all pointing at the mock's simulated LLM
(`/sim/...`, crates/testkit/src/mock_llm.rs)."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT_KEY = "sdk-conformance-client-key"
ADMIN_PASSWORD = "sdk-conformance-admin"
# slug -> (api_format, base path on the mock)
UPSTREAMS = {
    "oa": ("openai_compatible", "/sim/v1"),
    "rs": ("openai_responses", "/sim/v1"),
    "an": ("anthropic_native", "/sim"),
    "gm": ("gemini_native", "/sim/v1beta"),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, process, name):
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not come up at {url}")


def call(url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="session")
def gateway():
    binaries = os.environ.get("SDK_BIN_DIR", os.path.join(ROOT, "target", "release"))
    work = tempfile.mkdtemp(prefix="sdk-conformance-")
    mock_port, gateway_port = free_port(), free_port()
    mock = subprocess.Popen(
        [os.path.join(binaries, "mock-upstream"), f"127.0.0.1:{mock_port}", "1"],
        stderr=open(os.path.join(work, "mock.log"), "w"),
    )
    env = dict(
        os.environ,
        BACKEND_PORT=str(gateway_port),
        BIND_ADDRESS="127.0.0.1",
        DATABASE_PATH=os.path.join(work, "data", "gateway.db"),
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        GLOBAL_PROXY_KEYS=CLIENT_KEY,
        LOG_LEVEL="warn",
    )
    for name in ("DATABASE_URL", "REDIS_URL", "DB_HOST", "REDIS_HOST", "ENCRYPTION_KEY"):
        env.pop(name, None)
    log = open(os.path.join(work, "gateway.log"), "w")
    gw = subprocess.Popen([os.path.join(binaries, "gateway")], env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{gateway_port}"
        wait_until_up(f"{base}/healthz", gw, "gateway")
        wait_until_up(f"http://127.0.0.1:{mock_port}/v1/models", mock, "mock upstream")
        token = call(f"{base}/api/admin/login", {"username": "admin", "password": ADMIN_PASSWORD})["access_token"]
        for slug, (api_format, path) in UPSTREAMS.items():
            created = call(
                f"{base}/api/admin/proxy-configs",
                {
                    "name": f"sdk {slug}",
                    "slug": slug,
                    "config_type": "llm",
                    "api_format": api_format,
                    "target_base_url": f"http://127.0.0.1:{mock_port}{path}",
                },
                token,
            )
            call(
                f"{base}/api/admin/proxy-configs/{created['id']}/keys/batch",
                {"keys": [f"sk-upstream-{slug}-000000000001"]},
                token,
            )
        yield base
    finally:
        gw.terminate()
        mock.terminate()
        gw.wait(10)
        mock.wait(10)
        if os.environ.get("SDK_SHOW_LOGS"):
            print(open(os.path.join(work, "gateway.log")).read())
