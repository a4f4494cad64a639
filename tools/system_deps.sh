#!/usr/bin/env bash
# Best-effort system packages the test suite uses beyond Python: PostgreSQL's server binaries
# (tests/integration_tests/test_postgres.py starts a throw-away server of its own on loopback).
# Installs them from Debian when missing and we may (root with apt-get); otherwise says so, and
# that test skips with its reason. Never fails the build.
set -u
export DEBIAN_FRONTEND=noninteractive
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq || true
  # policy-rc.d exit 101: do not start Debian's default cluster; the test runs its own server.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null || \
    echo "note: could not install postgresql; its test will skip" >&2
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
else
  echo "note: PostgreSQL binaries missing and cannot be installed here; its test will skip" >&2
fi
exit 0
