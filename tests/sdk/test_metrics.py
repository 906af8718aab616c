"""Issue 8: /metrics is valid Prometheus/OpenMetrics text, read with the
official parsers, and its families count what happened: requests by service,
formats and status, latency and time-to-first-byte histograms, tokens,
failovers, cooldowns by reason, key states, in-flight gauges."""

import urllib.request

import openai
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from conftest import ADMIN_PASSWORD, CLIENT_KEY, call

FAMILIES = [
    "gateway_requests",
    "gateway_upstream_latency_seconds",
    "gateway_upstream_ttfb_seconds",
    "gateway_failovers",
    "gateway_key_cooldowns",
    "gateway_keys",
    "gateway_cache_errors",
    "gateway_database_errors",
    "gateway_in_flight_requests",
    "gateway_open_streams",
    "gateway_request_log_dropped",
    "gateway_tokens",
]


def scrape(gateway):
    with urllib.request.urlopen(f"{gateway}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = response.read().decode()
    # Both parsers accept it; samples are read from the strict OpenMetrics one.
    # (The classic parser names an unlabelled counter's family after its `_total` sample.)
    classic = {family.name.removesuffix("_total") for family in parse_prometheus(text)}
    families = {family.name: family for family in parse_openmetrics(text)}
    assert classic == set(families), classic ^ set(families)
    return families


def sample(families, family, name, **labels):
    for s in families[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


def test_metrics_parse_and_count_what_happened(gateway):
    before = scrape(gateway)
    client = openai.OpenAI(base_url=f"{gateway}/llm/oa/v1", api_key=CLIENT_KEY, max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="sim-model", messages=[{"role": "user", "content": "hi"}])
    with client.chat.completions.stream(model="sim-model", messages=[{"role": "user", "content": "hi"}]) as stream:
        stream.get_final_completion()

    # A service whose two keys both hit a closed port: one failover, two cooldowns, a 502.
    token = call(f"{gateway}/api/admin/login", {"username": "admin", "password": ADMIN_PASSWORD})["access_token"]
    dead = call(f"{gateway}/api/admin/proxy-configs", {
        "name": "metrics dead", "slug": "metrics-dead", "config_type": "llm",
        "api_format": "openai_compatible", "target_base_url": "http://127.0.0.1:9/v1",
    }, token)
    call(f"{gateway}/api/admin/proxy-configs/{dead['id']}/keys/batch",
         {"keys": ["sk-metrics-dead-00000001", "sk-metrics-dead-00000002"]}, token)
    dead_client = openai.OpenAI(base_url=f"{gateway}/llm/metrics-dead/v1", api_key=CLIENT_KEY, max_retries=0)
    try:
        dead_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("a dead upstream cannot answer")
    except openai.APIStatusError as error:
        assert error.status_code == 502

    after = scrape(gateway)
    for family in FAMILIES:
        assert family in after, f"{family} missing"

    def delta(family, name, **labels):
        return sample(after, family, name, **labels) - sample(before, family, name, **labels)

    ok = dict(service="oa", client_format="openai", upstream_format="openai_compatible", status="200")
    assert delta("gateway_requests", "gateway_requests_total", **ok) == 4
    assert delta("gateway_requests", "gateway_requests_total", service="metrics-dead", status="502") == 1
    assert delta("gateway_upstream_latency_seconds", "gateway_upstream_latency_seconds_count", service="oa") == 4
    assert delta("gateway_upstream_ttfb_seconds", "gateway_upstream_ttfb_seconds_count", service="oa") == 4
    assert delta("gateway_tokens", "gateway_tokens_total", service="oa", direction="input") == 4 * 11
    assert delta("gateway_tokens", "gateway_tokens_total", service="oa", direction="output") == 4 * 7
    assert delta("gateway_failovers", "gateway_failovers_total", service="metrics-dead") == 1
    assert delta("gateway_key_cooldowns", "gateway_key_cooldowns_total", service="metrics-dead", reason="transient") == 2
    assert sample(after, "gateway_keys", "gateway_keys", service="metrics-dead", state="cooling_down") == 2
    assert sample(after, "gateway_keys", "gateway_keys", service="oa", state="healthy") == 1
    assert sample(after, "gateway_in_flight_requests", "gateway_in_flight_requests") == 0
    assert sample(after, "gateway_open_streams", "gateway_open_streams") == 0
    assert sample(after, "gateway_request_log_dropped", "gateway_request_log_dropped_total") == 0
