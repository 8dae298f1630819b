#!/usr/bin/env bash
# Installs exactly the Debian 12 packages mutual needs to build and test. Idempotent: packages
# already installed are skipped, and apt is not touched at all when nothing is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  # libraries (see ARCHITECTURE.md, Dependencies)
  libssl-dev libexpected-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libspdlog-dev libfmt-dev libasio-dev libcpp-httplib-dev prometheus-cpp-dev
  libsqlite3-dev libpq-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev openssl python3 python3-cryptography jq
  # real peers for integration tests and bench/compare.sh (interop.md)
  curl postgresql haproxy nginx libnginx-mod-stream stunnel4 wrk iperf3
  python3-grpcio python3-grpc-tools python3-jwt
  # the signing peer of bench/sign_compare.sh (issue 5)
  golang-cfssl
  # fuzzing (libFuzzer ships with clang's runtime)
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
