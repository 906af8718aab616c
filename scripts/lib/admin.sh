# Helpers for scripts that drive a running gateway's admin API (sourced).

# Waits (up to 10 s) until every URL answers 2xx.
wait_for() {
  for _ in $(seq 1 100); do
    local all=1 url
    for url in "$@"; do curl -fsS "$url" >/dev/null 2>&1 || all=0; done
    [ "$all" = 1 ] && return 0
    sleep 0.1
  done
  return 1
}

# Logs in to the gateway on PORT as admin with PASSWORD; sets TOKEN.
admin_login() {
  TOKEN=$(curl -fsS "http://127.0.0.1:$1/api/admin/login" -d "{\"username\":\"admin\",\"password\":\"$2\"}" \
    | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
}

# An authenticated admin call (TOKEN from admin_login).
api() { curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }

# Creates a service on PORT from a JSON body and adds the keys of a
# `{"keys": [...]}` body; prints the service id.
create_service_with_keys() {
  local id
  id=$(api "http://127.0.0.1:$1/api/admin/proxy-configs" -d "$2" | sed -E 's/.*"id":([0-9]+).*/\1/')
  api "http://127.0.0.1:$1/api/admin/proxy-configs/$id/keys/batch" -d "$3" >/dev/null
  echo "$id"
}

# The telemetry variants the per-request bench scripts compare, by name: the
# environment each gateway runs with.
declare -gA TELEMETRY_VARIANTS=([full]="" [nolog]="REQUEST_LOG_ENABLED=false"
  [nometrics]="METRICS_ENABLED=false" [off]="TELEMETRY_ENABLED=false")

# Logs in to the gateway on PORT (admin password `bench`) and creates the
# `bench` service: OpenAI-compatible, upstream the mock on MOCK_PORT, two keys.
create_bench_service() {
  admin_login "$1" bench
  create_service_with_keys "$1" "{\"name\":\"bench\",\"slug\":\"bench\",\"config_type\":\"llm\",
    \"target_base_url\":\"http://127.0.0.1:$2/v1\",\"api_format\":\"openai_compatible\"}" \
    '{"keys":["sk-bench-key-0000000001","sk-bench-key-0000000002"]}' >/dev/null
}
