#!/bin/sh
# Starts the Linux fwasr-devserver ($FWASR_LINUX_DEVSERVER) for a Windows test program under
# Wine, which can start Unix programs: the cross-OS tests (a Windows client against a Linux
# server, e.g. for TLS, which Wine cannot serve). Paths arrive in Windows form, on drive Z:
# (Wine's view of /) or C: (the prefix's drive_c), and are turned back into Unix paths.
# Wine can neither connect a Unix child's output to its parent nor kill it, so the URL comes
# through --url-file and the server is stopped once that file is gone (the test removes it
# when it drops the server, then waits for this script, then removes its directory), or after
# 10 minutes should the test program die first. Its output goes nowhere: Wine hands it the
# test program's Unix output, which a pipe reading that program would wait on. (Our parent process is not the test program: Wine starts Unix
# programs through a process of its own that may be gone already.)
set -eu
url_file=
next_is_url_file=
for a; do
  shift
  case "$a" in
    [Zz]:\\*) a=$(printf '%s' "${a#??}" | tr '\\' /) ;;
    [Cc]:\\*) a=${WINEPREFIX:-$HOME/.wine}/drive_c$(printf '%s' "${a#??}" | tr '\\' /) ;;
    /*\\*) a=$(printf '%s' "$a" | tr '\\' /) ;;
    [A-Za-z]:\\*) printf 'linux-devserver.sh: %s is on neither drive C: nor Z:\n' "$a" >&2; exit 2 ;;
  esac
  [ -n "$next_is_url_file" ] && url_file=$a
  next_is_url_file=
  [ "$a" = --url-file ] && next_is_url_file=1
  set -- "$@" "$a"
done
[ -n "$url_file" ] || { echo "linux-devserver.sh: needs --url-file" >&2; exit 2; }
exec </dev/null >/dev/null
"${FWASR_LINUX_DEVSERVER:?the Linux fwasr-devserver}" "$@" &
server=$!
# Until the file, once written, is gone, or its directory is (a test may take and drop the
# server between two looks); 10 minutes at most.
dir=$(dirname "$url_file")
deadline=$(($(date +%s) + 600))
seen=
while kill -0 "$server" 2>/dev/null && [ -e "$dir" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  if [ -e "$url_file" ]; then seen=1; elif [ -n "$seen" ]; then break; fi
  sleep 0.2
done
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
