# The peer of the benchmarks, sourced by bench/run.sh and bench/floor.sh: start_server ARGS...
# starts fwasr-devserver ($devserver) on a free port with ARGS and sets $url and $server_pid;
# stop_server ends it. The event loop (one thread for every connection, so the peer does not
# crowd the cores the client is measured on) unless ARGS ask for TLS, which only the threaded
# server serves. $pin, if set, is a command prefix for the server (taskset). Logs go to $out.
server_pid=
url=
start_server() {
  local log=$out/server.$$.out
  local loop=(--event-loop)
  [[ " $* " == *" --tls-cert "* ]] && loop=()
  rm -f "$log"
  ${pin:-} "$devserver" --port 0 --quiet "${loop[@]}" "$@" >"$log" 2>"$out/server.err" &
  server_pid=$!
  for _ in $(seq 200); do
    url=$(sed -n 's/^listening //p' "$log")
    [[ -n $url ]] && return 0
    sleep 0.05
  done
  echo "fwasr-devserver did not start" >&2
  exit 1
}
stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
trap stop_server EXIT
