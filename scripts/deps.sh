#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need. Idempotent and
# quiet when everything is already there.
set -euo pipefail
pkgs=(g++ cmake ninja-build pkg-config libasio-dev libssl-dev openssl
      nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      # the sanitizer and fuzz builds: clang 19, its sanitizer runtimes and
      # libFuzzer, llvm-symbolizer for their reports
      clang-19 libclang-rt-19-dev llvm-19 lld curl python3 dpkg-dev
      # tls.utls: the Chrome ClientHello module (optional part of the build)
      android-libboringssl-dev libbrotli-dev
      prometheus-cpp-dev  # the metrics text format (core library only)
      libre2-dev  # route domain_regex: Go's regexp syntax, linear time
      zlib1g-dev  # .srs rule sets
      libmnl-dev  # tun auto_route / auto_detect_interface: rtnetlink routes, rules, monitor
      libnftables-dev  # tun auto_redirect: its nftables table
      libboost1.81-dev  # src/http/: Boost.Beast's HTTP parser and serializer (header-only)
      libzip-dev  # clash_api.external_ui_download_url: unpacking the dashboard zip
      nftables iproute2  # smoke_gateway: redirect/tproxy rules in network namespaces
      prometheus)  # promtool + a real Prometheus: tests/integration/metrics_test, smoke_prometheus
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
