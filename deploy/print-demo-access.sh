#!/usr/bin/env bash
# The end of `make run`: a ready agent token, an auditor token (API tokens, 7 days), the web
# console's address and a curl line against the running API. Tokens are kept in <home>/secrets/
# (0600) and re-used while valid.
set -euo pipefail
SUPPORTES=${SUPPORTES:-.venv/bin/supportes}
HOME_DIR=${SUPPORTES_HOME:-.local}
LISTEN=${SUPPORTES_API_LISTEN:-127.0.0.1:8080}
SECRETS="$HOME_DIR/secrets"
mkdir -p "$SECRETS" && chmod 700 "$SECRETS"
umask 077

token() {  # token NAME PRINCIPAL ROLE: print a valid token for PRINCIPAL, creating one if needed
  local file="$SECRETS/demo-$1.token"
  if [[ -s "$file" ]] && curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$file")" \
      "http://$LISTEN/v1/cases?limit=1" 2>/dev/null; then
    cat "$file"
    return
  fi
  "$SUPPORTES" tokens create --principal "$2" --role "$3" --expires 7d --json \
    | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["secret"])' > "$file"
  cat "$file"
}

AGENT=$(token agent agent:demo agent)
AUDITOR=$(token auditor auditor:demo auditor)
CASE=$(curl -fsS -H "Authorization: Bearer $AGENT" "http://$LISTEN/v1/cases?limit=1" \
  | .venv/bin/python -c 'import json,sys; items=json.load(sys.stdin)["items"]; print(items[0]["case_id"] if items else "")')
echo
echo "HTTP API on http://$LISTEN (docs: http://$LISTEN/docs)"
echo "  agent token:   $AGENT"
echo "  auditor token: $AUDITOR"
echo "  (also in $SECRETS/demo-agent.token and demo-auditor.token, mode 0600)"
echo "Web console: http://$LISTEN/console (sign in with the auditor token: it sees every page)"
echo "Try:"
echo "  curl -s -H \"Authorization: Bearer \$(cat $SECRETS/demo-agent.token)\" http://$LISTEN/v1/cases/$CASE"
