#!/usr/bin/env bash
# A local certificate authority for gRPC over TLS, and the certificates signed by it:
#   deploy/tls/make-ca.sh [DIR]          (default: deploy/tls/out, which git ignores)
#
#   DIR/ca.crt, ca.key                     the CA (kept when it exists)
#   DIR/<service>.crt, <service>.key       server certificate of each service; names: the compose
#                                          service name, localhost, 127.0.0.1
#   DIR/<service>-client.crt, .key         client certificate of each service (mutual TLS, health checks)
#   DIR/tools.crt, tools.key               client certificate for the CLI and test harnesses
#
# Running it again keeps the CA and every certificate that still verifies against it, and makes
# only what is missing. Private keys are readable by their owner only; run as root, the script
# gives the services' keys to KEY_OWNER (default 10001, the user the service images run as) so
# the containers can read them, and otherwise makes those readable by all — a local development
# CA, not a production one.
set -euo pipefail

dir="${1:-$(dirname "$0")/out}"
services=(registry dispatch feedback analytics)
key_owner="${KEY_OWNER:-10001}"
days_ca=3650
days_leaf=825

mkdir -p "$dir"
cd "$dir"

new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

if [[ ! -s ca.crt || ! -s ca.key ]]; then
    new_key ca.key
    openssl req -x509 -new -key ca.key -sha256 -days "$days_ca" -subj "/CN=Flywheel local CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out ca.crt
    echo "made the CA: $dir/ca.crt"
else
    echo "kept the CA: $dir/ca.crt"
fi

# issue NAME COMMON_NAME EXTENDED_USAGE [SUBJECT_ALT_NAMES]
issue() {
    local name=$1 cn=$2 usage=$3 san=${4:-}
    if [[ -s $name.crt && -s $name.key ]] && openssl verify -CAfile ca.crt "$name.crt" >/dev/null 2>&1; then
        echo "kept $name.crt"
        return
    fi
    new_key "$name.key"
    local ext
    ext=$(mktemp)
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "extendedKeyUsage=$usage"
        [[ -n $san ]] && echo "subjectAltName=$san"
    } >"$ext"
    openssl req -new -key "$name.key" -subj "/CN=$cn" |
        openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days "$days_leaf" \
            -extfile "$ext" -out "$name.crt" 2>/dev/null
    rm -f "$ext"
    echo "made $name.crt"
}

for service in "${services[@]}"; do
    issue "$service" "$service" serverAuth "DNS:$service,DNS:localhost,IP:127.0.0.1"
    issue "$service-client" "$service" clientAuth
done
issue tools tools clientAuth

# The services' keys go to the user the containers run as; the CA's and the tools' stay with
# whoever runs this.
service_keys=()
for service in "${services[@]}"; do service_keys+=("$service.key" "$service-client.key"); done
if [[ $(id -u) == 0 ]]; then
    chown "$key_owner" "${service_keys[@]}"
else
    chmod 644 "${service_keys[@]}"
    echo "note: the services' keys are readable by all so the containers can read them (run as root to give them to uid $key_owner instead)"
fi
