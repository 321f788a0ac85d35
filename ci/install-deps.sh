#!/usr/bin/env bash
# Installs what the real-client stages need, idempotently and quietly:
#   - Debian: zookeeper (Apache ZooKeeper 3.8 jars, zkCli.sh, a JRE) and
#     zookeeper-bin (the C client shell cli_mt);
#   - a Python venv at RK_CI_VENV (default /tmp/ringkeeper-ci-venv) with
#     kazoo 2.11.0 and the packages its test suite imports.
# A second run on a machine that has everything already is a few seconds.
set -euo pipefail

RK_CI_VENV="${RK_CI_VENV:-/tmp/ringkeeper-ci-venv}"

as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    else
        sudo "$@"
    fi
}

# The Debian packages; apt-get update runs only when something is missing.
need_apt=()
dpkg -s zookeeper >/dev/null 2>&1 || need_apt+=(zookeeper)
dpkg -s zookeeper-bin >/dev/null 2>&1 || need_apt+=(zookeeper-bin)
# openssl: the TLS tests make PKCS12 stores, encrypted PEM keys and version 1
# certificates with it (keytool comes with the JRE zookeeper pulls in).
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if ((${#need_apt[@]} > 0)); then
    echo "installing Debian packages: ${need_apt[*]}"
    as_root apt-get update -qq
    # The package's service must not start and claim 127.0.0.1:2181, which one
    # kazoo test needs free; policy-rc.d exit code 101 forbids starting it.
    policy_added=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
        as_root chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need_apt[@]}" >/dev/null
    if ((policy_added)); then
        as_root rm -f /usr/sbin/policy-rc.d
    fi
fi

# The Python packages kazoo's harness and tests import. pyOpenSSL 24.3 and
# cryptography 44 dropped APIs the harness uses to make its TLS certificates.
PY_PACKAGES=(
    kazoo==2.11.0 pytest pytest-timeout gevent eventlet pyjks
    "pyOpenSSL<24.3" "cryptography<44" objgraph mock pure-sasl
)
# A venv left by an earlier machine image may point at a Python that is gone.
if ! "$RK_CI_VENV/bin/python" -c "" 2>/dev/null; then
    echo "creating Python venv $RK_CI_VENV"
    rm -rf "$RK_CI_VENV"
    python3 -m venv "$RK_CI_VENV"
fi
# pip's check of requirements that are already satisfied needs no download.
if ! "$RK_CI_VENV/bin/python" - <<'PY' 2>/dev/null; then
import importlib.metadata as m
assert m.version("kazoo") == "2.11.0"
for name in ["pytest", "pytest-timeout", "gevent", "eventlet", "pyjks",
             "pyOpenSSL", "cryptography", "objgraph", "mock", "pure-sasl"]:
    m.version(name)
PY
    echo "installing Python packages into $RK_CI_VENV"
    "$RK_CI_VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
