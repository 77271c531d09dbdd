#!/bin/sh
# Makes the TLS test certificates (committed; run again only to change them). A private CA with
# no revocation information, as a company's own CA would be, and leaf certificates for the
# devserver: one it issued for localhost and 127.0.0.1, one it issued for another name, one it
# issued that expired in 2001, and one for localhost issued by a second CA that nothing trusts;
# and a self-signed certificate for another name (a name mismatch with no chain to build).
# One leaf key serves them all. Not secrets: never use them for anything but these tests.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
ca() { # NAME: a self-signed CA certificate and key
  key "$tmp/$1.key"
  openssl req -x509 -new -key "$tmp/$1.key" -days 36500 -subj "/CN=fwasr test $1" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$tmp/$1.crt"
}
leaf() { # OUT CA SAN START END
  cat >"$tmp/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $tmp/index.txt
new_certs_dir = $tmp
serial = $tmp/serial
default_md = sha256
policy = p
copy_extensions = copy
unique_subject = no
[p]
commonName = supplied
[ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $3
CNF
  : >"$tmp/index.txt"
  [ -e "$tmp/serial" ] || echo 1000 >"$tmp/serial"
  openssl req -new -key leaf.key -subj "/CN=${3#DNS:}" -out "$tmp/leaf.csr"
  openssl ca -batch -config "$tmp/ca.cnf" -extensions ext -cert "$tmp/$2.crt" -keyfile "$tmp/$2.key" \
    -startdate "$4" -enddate "$5" -in "$tmp/leaf.csr" -out "$1" 2>/dev/null
  openssl x509 -in "$1" -out "$1" # the PEM alone, without the text dump
}
key leaf.key
ca ca
ca stranger
cp "$tmp/ca.crt" private-ca.crt
leaf private-ca-localhost.crt ca "DNS:localhost,IP:127.0.0.1" 20250101000000Z 21250101000000Z
leaf private-ca-other-name.crt ca "DNS:other.test" 20250101000000Z 21250101000000Z
leaf private-ca-expired.crt ca "DNS:localhost,IP:127.0.0.1" 20000101000000Z 20010101000000Z
leaf stranger-localhost.crt stranger "DNS:localhost,IP:127.0.0.1" 20250101000000Z 21250101000000Z
openssl req -x509 -new -key leaf.key -days 36500 -subj /CN=other.test -addext subjectAltName=DNS:other.test \
  -out self-signed-other-name.crt
