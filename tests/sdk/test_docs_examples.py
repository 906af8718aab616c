"""docs/sdk.md's Python examples, run as written against the release gateway
and the mock upstream: only the host (http://localhost:8000) is replaced by
the test gateway's, and the services the examples name (openai, claude,
gemini) are created here. An example that raises fails the test."""

import contextlib
import io
import os
import re

import pytest

from conftest import ADMIN_PASSWORD, CLIENT_KEY, call

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "sdk.md")
# slug the docs use -> (api_format, base path on the mock's simulated LLM)
DOC_SERVICES = {
    "openai": ("openai_compatible", "/sim/v1"),
    "claude": ("anthropic_native", "/sim"),
    "gemini": ("gemini_native", "/sim/v1beta"),
}


def python_blocks():
    text = open(DOC, encoding="utf-8").read()
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.fixture(scope="module")
def doc_gateway(gateway):
    token = call(f"{gateway}/api/admin/login", {"username": "admin", "password": ADMIN_PASSWORD})["access_token"]
    services = call(f"{gateway}/api/admin/proxy-configs", token=token)
    mock = next(s["target_base_url"] for s in services if s["slug"] == "oa").removesuffix("/sim/v1")
    for slug, (api_format, path) in DOC_SERVICES.items():
        created = call(
            f"{gateway}/api/admin/proxy-configs",
            {"name": f"docs {slug}", "slug": slug, "config_type": "llm", "api_format": api_format,
             "target_base_url": f"{mock}{path}"},
            token,
        )
        call(f"{gateway}/api/admin/proxy-configs/{created['id']}/keys/batch",
             {"keys": [f"sk-docs-{slug}-0000000000001"]}, token)
    return gateway


def test_the_sdk_guide_has_examples_for_every_python_sdk():
    blocks = "\n".join(python_blocks())
    for sdk in ("from openai import OpenAI", "import anthropic", "from google import genai"):
        assert sdk in blocks


def test_every_python_example_of_the_sdk_guide_runs(doc_gateway, monkeypatch):
    monkeypatch.setenv("ROTATOR_KEY", CLIENT_KEY)
    namespace = {}  # shared, as a reader's session is: later examples reuse earlier imports
    for number, block in enumerate(python_blocks(), 1):
        code = block.replace("http://localhost:8000", doc_gateway)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"docs/sdk.md python example {number}", "exec"), namespace)  # noqa: S102
        if "print(" in code:
            assert out.getvalue().strip(), f"example {number} printed nothing"
