#!/usr/bin/env bash
# Creates a demo certificate authority, a server certificate for the broker and one client
# certificate per agency, with openssl, in DIR (default var/certs). The agency subjects match the
# <identity> entries of config/production.xml. For demos and tests only: production uses the
# state's PKI.
#
# usage: tools/make-demo-certs.sh [DIR] [EXTRA-AGENCY-SUBJECT...]
set -euo pipefail
dir=${1:-var/certs}
mkdir -p "$dir"
cd "$dir"
days=825
umask 077

if [ ! -f ca.key ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -keyout ca.key -out ca.crt \
    -subj "/O=NIEM Broker Demo/CN=NIEM Broker Demo CA" 2>/dev/null
fi

issue() {  # name subject [extfile-content]
  local name=$1 subject=$2 ext=$3
  [ -f "$name.crt" ] && return 0
  openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subject" 2>/dev/null
  printf '%s\n' "$ext" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

issue broker "/O=NIEM Broker Demo/CN=localhost" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
client_ext="extendedKeyUsage=clientAuth"
issue cws "/O=State Department of Social Services/CN=cws" "$client_ext"
issue medicaid "/O=State Medicaid Agency/CN=medicaid" "$client_ext"
issue pmap-portal "/O=Superior Court/CN=pmap-portal" "$client_ext"
issue court "/O=Superior Court/CN=court" "$client_ext"
issue phn "/O=County Public Health/CN=phn" "$client_ext"
issue research "/O=University/CN=research" "$client_ext"
issue school "/O=Unified School District/CN=school" "$client_ext"
issue oversight "/O=State Oversight Committee/CN=oversight" "$client_ext"
# A certificate from the demo CA that names no configured agency (for the authorization test).
issue stranger "/O=Nobody/CN=stranger" "$client_ext"
chmod 644 ./*.crt
# The key of the audit trail's hash chain (config/production.xml, <audit key-file>).
openssl rand -hex 32 > audit.key
# DSA-007's own secret for the research pseudonyms (<agreement pseudonym-key-file>).
openssl rand -hex 32 > research-pseudonym.key
# The admin API's bearer tokens (<admin><token file>).
[ -f admin-viewer.token ] || openssl rand -hex 24 > admin-viewer.token
[ -f admin-operator.token ] || openssl rand -hex 24 > admin-operator.token
chmod 600 audit.key research-pseudonym.key admin-viewer.token admin-operator.token
echo "make-demo-certs: CA, broker and agency certificates in $PWD"
