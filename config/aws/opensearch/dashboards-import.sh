#!/bin/sh
# Writes the multipart/form-data body of a saved-objects import to stdout:
#
#   B=firetail-import-$(date +%s)
#   sh opensearch/dashboards-import.sh opensearch/dashboards.ndjson "$B" > import.body
#   curl -sf "${SIGN[@]}" -X POST "https://$ENDPOINT/_dashboards/api/saved_objects/_import?overwrite=true" \
#       -H 'osd-xsrf: true' -H "Content-Type: multipart/form-data; boundary=$B" --data-binary @import.body
#
# Why not `curl --form`: curl streams a --form body and signs it with --aws-sigv4 as if it
# were empty, so the domain answers 403. A body built in advance and sent with
# --data-binary is signed over its real bytes.
set -eu
ndjson="$1"
boundary="$2"
printf -- '--%s\r\n' "$boundary"
printf 'Content-Disposition: form-data; name="file"; filename="%s"\r\n' "$(basename "$ndjson")"
printf 'Content-Type: application/ndjson\r\n\r\n'
cat "$ndjson"
printf '\r\n--%s--\r\n' "$boundary"
