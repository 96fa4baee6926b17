#!/usr/bin/env bash
# cli.sh BUILD_DIR: the command line's conventions, without a database. Every WATTLE_ setting
# the sources read (a string literal that is exactly the name, or NAME=, anywhere outside
# tests/) is listed in `wattle serve --help` and in deploy/wattle.env.example, and each secret's
# NAME_FILE form is in the example too; `wattle help COMMAND` and `wattle COMMAND --help` print
# that command's help on stdout, exit 0 and do nothing else; errors name the flag or variable.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: cli.sh BUILD_DIR}" && pwd)
w=$build/wattle
env=$root/deploy/wattle.env.example
tmp=$(mktemp -d /tmp/wattle-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
status=0
bad() { echo "cli.sh: $*"; status=1; }
# nothing here may reach a database: one that does not exist
export WATTLE_DATABASE_URL="host=$tmp/nowhere dbname=none connect_timeout=1"

# 1. every setting, documented
cd "$root"
git ls-files '*.c' '*.h' | grep -v '^tests/' | xargs grep -ohE '"WATTLE_[A-Z0-9_]*[A-Z0-9]("|=)' |
  grep -oE 'WATTLE_[A-Z0-9_]*[A-Z0-9]' | sort -u >"$tmp/read"
[ "$(wc -l <"$tmp/read")" -ge 60 ] || bad "found only $(wc -l <"$tmp/read") settings in the sources: the scan is broken"
"$w" serve --help >"$tmp/help"
while read -r s; do
  grep -qw "$s" "$tmp/help" || bad "$s is read but not listed in wattle serve --help"
  grep -qE "^#?$s=" "$env" || bad "$s is read but not in deploy/wattle.env.example (as $s= or #$s=)"
done <"$tmp/read"
sed -n '/^secrets:/,$p' "$tmp/help" | grep -oE 'WATTLE_[A-Z0-9_]*[A-Z0-9]' >"$tmp/secrets"
[ "$(wc -l <"$tmp/secrets")" -ge 13 ] || bad "wattle serve --help lists $(wc -l <"$tmp/secrets") secrets, want 13 or more"
while read -r s; do
  grep -qE "^#?${s}_FILE=" "$env" || bad "secret $s: ${s}_FILE is not in deploy/wattle.env.example"
done <"$tmp/secrets"
grep -q '^#LoadCredential=WATTLE_' "$root/deploy/wattle.service" || bad "deploy/wattle.service shows no LoadCredential= example"
echo "cli.sh: $(wc -l <"$tmp/read") settings read, each in wattle serve --help and deploy/wattle.env.example"

# 2. help on stdout, exit 0, nothing done
run() { # ARGS...: sets rc, out, err
  rc=0; "$w" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
for cmd in migrate serve keys routes verify demo help version; do
  run help $cmd
  [ $rc = 0 ] && [ ! -s "$tmp/err" ] && grep -q "^usage: wattle $cmd" "$tmp/out" || bad "wattle help $cmd: exit $rc, stderr '$(cat "$tmp/err")'"
  cp "$tmp/out" "$tmp/help.$cmd"
  for flag in --help -h; do
    run $cmd $flag
    [ $rc = 0 ] && [ ! -s "$tmp/err" ] && cmp -s "$tmp/out" "$tmp/help.$cmd" ||
      bad "wattle $cmd $flag: exit $rc, not wattle help $cmd on stdout alone (stderr '$(cat "$tmp/err")')"
  done
done
run keys create --role admin --name x --help # a --help anywhere wins: no key is made
[ $rc = 0 ] && cmp -s "$tmp/out" "$tmp/help.keys" || bad "wattle keys create ... --help acted or failed (exit $rc)"
for a in --help help; do
  run $a; [ $rc = 0 ] && [ ! -s "$tmp/err" ] && grep -q '^usage: wattle' "$tmp/out" || bad "wattle $a: exit $rc or not on stdout"
done
run --version; [ $rc = 0 ] && grep -q '^wattle ' "$tmp/out" || bad "wattle --version: exit $rc"
for b in wattle-gateway wattle-metersim; do
  [ -x "$build/$b" ] || continue
  rc=0; "$build/$b" --help >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ $rc = 0 ] && [ -s "$tmp/out" ] && [ ! -s "$tmp/err" ] || bad "$b --help: exit $rc, or not on stdout alone"
done
echo "cli.sh: help on stdout, exit 0, for every command"

# 3. errors name what is wrong
expect() { # WHAT PATTERN ARGS...: exit 2 and stderr matching PATTERN
  local what=$1 pat=$2; shift 2
  run "$@"
  [ $rc = 2 ] && grep -qF -- "$pat" "$tmp/err" || bad "$what: exit $rc, stderr '$(cat "$tmp/err")' does not name $pat"
}
expect "unknown command" nosuch nosuch
expect "help of an unknown command" nosuch help nosuch
expect "an unknown serve option" --bogus serve --bogus
expect "an unknown keys option" --colour keys create --colour red
expect "a flag without its value" --name keys create --role admin --name
WATTLE_LISTEN=localhost expect "a bad WATTLE_LISTEN" WATTLE_LISTEN routes
WATTLE_THREADS=0 expect "a bad WATTLE_THREADS" WATTLE_THREADS routes
WATTLE_TRUSTED_PROXIES=nginx expect "a bad WATTLE_TRUSTED_PROXIES" WATTLE_TRUSTED_PROXIES routes
WATTLE_SMS_TOKEN=a WATTLE_SMS_TOKEN_FILE=/dev/null expect "a secret given twice" "WATTLE_SMS_TOKEN and WATTLE_SMS_TOKEN_FILE" routes
WATTLE_SMS_TOKEN_FILE=$tmp/absent expect "an unreadable secret file" "WATTLE_SMS_TOKEN_FILE=$tmp/absent cannot be read" routes
mkdir "$tmp/creds"; echo tok >"$tmp/creds/WATTLE_SMS_TOKEN"
CREDENTIALS_DIRECTORY=$tmp/creds WATTLE_SMS_TOKEN=a expect "a secret as credential and variable" \
  "WATTLE_SMS_TOKEN and the systemd credential $tmp/creds/WATTLE_SMS_TOKEN" routes
CREDENTIALS_DIRECTORY=$tmp/creds run routes
[ $rc = 0 ] || bad "a secret as a credential alone: exit $rc, $(cat "$tmp/err")"
echo "cli.sh: errors name the flag or variable"
exit $status
