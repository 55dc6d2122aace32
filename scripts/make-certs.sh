#!/usr/bin/env bash
# The clinic's own certificate authority, and the broker's or the station's TLS
# certificate signed by it, with openssl.
#
#   bash scripts/make-certs.sh --out DIR --broker NAME [--ip ADDR]... [--days N]
#   bash scripts/make-certs.sh --out DIR --station NAME [--ip ADDR]... [--days N]
#
# Writes into DIR (created; made 0755 so the service user can reach the CA certificate in
# it: a config may name it there, docs/install.md; the private keys in it are 0600):
#   clinic-ca.pem   the CA certificate: copy it to every Pi (/etc/monitord/tls/clinic-ca.pem,
#                   [mqtt.tls] ca_file) and every station; not a secret
#   clinic-ca.key   the CA's private key (0600): keep it offline, it signs new certificates
#   broker.pem      (--broker) the broker's certificate for NAME (and each --ip)
#   broker.key      the broker's private key (0600): only for mosquitto
#                   (/etc/mosquitto/certs/, `certfile`/`keyfile` in monitord.conf)
#   station.pem     (--station) the nurses' station's HTTPS certificate for NAME (and each
#                   --ip): /etc/monitord/tls/station.pem, [station] tls_cert_file
#   station.key     its private key (0600): /etc/monitord/tls/station.key, owned by monitord
# An existing CA in DIR is reused, so running it again (a renewed or second certificate)
# does not invalidate the CA the Pis, the stations and the nurses' browsers already trust;
# with clinic-ca.pem there and its key not (kept offline) it stops (exit 66), changing nothing.
# Clients check the name: NAME must be the [mqtt] host the Pis use (--broker), or the
# host name or address the nurses' browsers open (--station).
set -euo pipefail

out=""; broker=""; station=""; days=825; ips=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="${2:?--out needs a directory}"; shift 2;;
        --broker) broker="${2:?--broker needs a host name}"; shift 2;;
        --station) station="${2:?--station needs a host name}"; shift 2;;
        --ip) ips+=("${2:?--ip needs an address}"); shift 2;;
        --days) days="${2:?--days needs a number}"; shift 2;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 0;;
        *) echo "make-certs: unknown option: $1 (see --help)" >&2; exit 2;;
    esac
done
[ -n "$out" ] && { [ -n "$broker" ] || [ -n "$station" ]; } \
    || { echo "make-certs: needs --out DIR and --broker NAME or --station NAME" >&2; exit 2; }
[ -z "$broker" ] || [ -z "$station" ] \
    || { echo "make-certs: one certificate a run: --broker NAME or --station NAME, not both" >&2; exit 2; }
case "$days" in
    ''|*[!0-9]*|0) echo "make-certs: --days needs a whole number of days, not '$days'" >&2; exit 2;;
esac
# Which certificate: its files (broker.pem/.key or station.pem/.key) and its name.
if [ -n "$broker" ]; then who=broker; name="$broker"; else who=station; name="$station"; fi
command -v openssl >/dev/null || { echo "make-certs: needs openssl (apt-get install openssl)" >&2; exit 69; }

# The folder (and any parent made for it) is traversable: with `umask 077` it was 0700
# root-only, and `monitord run` as the service user could not reach clinic-ca.pem (exit 78).
(umask 022 && mkdir -p "$out")
chmod go+rx "$out"
# Everything written from here on is private unless chmod'ed below: the keys, the CA's
# serial file.
umask 077
cd "$out"

if [ -f clinic-ca.pem ] && [ ! -f clinic-ca.key ]; then
    # The CA's key kept offline (docs/install.md): a new CA here would replace the one every
    # Pi, station and browser trusts, and the broker's pair would no longer verify against it.
    echo "make-certs: $out/clinic-ca.pem is there but not its key $out/clinic-ca.key (kept offline?): put the key back beside it to sign with that CA (remove clinic-ca.pem only to start a new CA for every Pi)" >&2
    exit 66
fi
if [ ! -f clinic-ca.key ]; then
    # 10 years: replacing the CA means touching every Pi and station.
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout clinic-ca.key -out clinic-ca.pem -days 3650 -subj "/CN=monitord clinic CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null
    echo "make-certs: new CA $out/clinic-ca.pem"
else
    echo "make-certs: reusing the CA in $out"
fi

# NAME given as an address (the [mqtt] host `192.168.1.20` or `fd00::10`, the station's
# `https://[fd00::30]:8443/`) is an IP entry: clients match an address against IP entries
# only, so its DNS entry alone failed every chair's TLS ("IP address mismatch").
name="${name#[}"; name="${name%]}"
if [[ "$name" == *:* || "$name" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    san="IP:$name"
else
    san="DNS:$name"
fi
for ip in "${ips[@]}"; do san="$san,IP:${ip#[}"; san="${san%]}"; done
ext="$(mktemp)"; trap 'rm -f "$ext" "$who.csr" "$who.key.new" "$who.pem.new"' EXIT
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$san" >"$ext"
# Made beside the pair and put in its place only once both are signed: a renewal openssl
# refuses (a mistyped --ip) left the old certificate beside a new key not its own, and
# said nothing (exit 1).
refused() {
    local why
    # OpenSSL 3's first `...:error:code:library:function:reason:file:line:data` line says
    # what it refused (e.g. "bad ip address, value=192.0.2.300"); else its last line.
    why="$(printf '%s\n' "$1" | awk -F: '/:error:/ { print $6 ($9 ? ", " $9 : ""); exit }')"
    [ -n "$why" ] || why="$(printf '%s\n' "$1" | tail -n1)"
    echo "make-certs: openssl refused the $who certificate for $san (${why:-no reason given}); $out/$who.pem and $who.key left as they were" >&2
    exit 1
}
err="$(openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$who.key.new" -out "$who.csr" -subj "/CN=$name" 2>&1 >/dev/null)" || refused "$err"
err="$(openssl x509 -req -in "$who.csr" -CA clinic-ca.pem -CAkey clinic-ca.key -CAcreateserial \
    -out "$who.pem.new" -days "$days" -extfile "$ext" 2>&1 >/dev/null)" || refused "$err"
chmod 0644 clinic-ca.pem "$who.pem.new"
chmod 0600 clinic-ca.key "$who.key.new"
mv -f "$who.key.new" "$who.key"
mv -f "$who.pem.new" "$who.pem"
echo "make-certs: $who certificate $out/$who.pem for $san, valid $days days"
