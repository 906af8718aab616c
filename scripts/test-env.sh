# Sourced by .ci/run and usable by developers: the machine's shared services
# for the enterprise tests (MariaDB, PostgreSQL, Redis on loopback).
export TEST_MYSQL_URL=${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
export TEST_POSTGRES_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
