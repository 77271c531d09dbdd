#!/usr/bin/env bash
# The RTP example end to end, with ffmpeg as the sender: ffmpeg streams the sample recording
# as RTP at real-time pace to examples-c/rtp_receiver, which pushes it into a session against
# fwasr-devserver; then the transcript, the receiver's packet counts and the audio the devserver
# saved (against the source recording) are checked.
#
#   run.sh MODE RECEIVER AUDIO_MATCH SAMPLE.wav SAVED_AUDIO_DIR TRANSCRIPT
#
# Run under fwasr-devserver --save-audio SAVED_AUDIO_DIR (it sets FWASR_URL). MODE:
#   pcmu      the plain ffmpeg command for G.711 mu-law (ffmpeg's own packet sizes)
#   pcma      G.711 A-law in 20 ms packets
#   l16       16 kHz 16-bit linear PCM in 20 ms packets, dynamic payload type (Asterisk's slin16)
#   impaired  mu-law in 20 ms packets through impair.py: lost, duplicated and reordered packets
#   handover  mu-law in 20 ms packets from two ffmpeg runs one after the other (the first 4.5 s,
#             then the rest): a new source with its own sequence numbers and timestamps
set -euo pipefail
mode=$1 receiver=$2 match=$3 wav=$4 saved=$5 transcript=$6
here=$(cd "$(dirname "$0")" && pwd)
command -v ffmpeg >/dev/null || { echo "ffmpeg not found (Debian: apt-get install ffmpeg)"; exit 1; }
rm -f "$saved"/connection-*.raw
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

twenty_ms_mulaw=(-af aresample=8000,asetnsamples=n=160:p=0 -ac 1 -c:a pcm_mulaw -pkt_size 172)
codec=()
case $mode in
  pcmu) ff=(-ar 8000 -ac 1 -c:a pcm_mulaw) ;;
  pcma) ff=(-af aresample=8000,asetnsamples=n=160:p=0 -ac 1 -c:a pcm_alaw -pkt_size 172) ;;
  l16) ff=(-af asetnsamples=n=320:p=0 -ac 1 -c:a pcm_s16be -pkt_size 652); codec=(--codec l16/16000) ;;
  impaired | handover) ff=("${twenty_ms_mulaw[@]}") ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac

# Waits for a line matching a sed pattern in a file and prints its capture.
wait_line() { # file, sed expression
  for _ in $(seq 200); do
    v=$(sed -n "$2" "$1")
    [ -n "$v" ] && { echo "$v"; return 0; }
    sleep 0.05
  done
  return 1
}

# RUN_UNDER: a command to run the receiver under (valgrind), split into words; IDLE_MS: its
# hang-up time (longer under valgrind, whose threads take turns).
# shellcheck disable=SC2086
timeout -k 5 120 ${RUN_UNDER:-} "$receiver" --listen 127.0.0.1:0 --idle-ms "${IDLE_MS:-1500}" "${codec[@]}" >"$tmp/receiver.out" 2>"$tmp/receiver.err" &
rx=$!
port=$(wait_line "$tmp/receiver.out" 's|^listening on udp://127\.0\.0\.1:\([0-9]*\)$|\1|p') ||
  { echo "the receiver did not start"; cat "$tmp/receiver.err"; exit 1; }
target=$port
if [ "$mode" = impaired ]; then
  python3 "$here/impair.py" "$port" >"$tmp/relay.out" &
  relay=$!
  target=$(wait_line "$tmp/relay.out" 's|^relaying on \([0-9]*\)$|\1|p') || { echo "the relay did not start"; exit 1; }
fi

send() { ffmpeg -hide_banner -loglevel error -nostdin -re "$@" "${ff[@]}" -f rtp "rtp://127.0.0.1:$target" >/dev/null; }
if [ "$mode" = handover ]; then
  send -t 4.5 -i "$wav"
  sleep 0.2 # a transfer or re-INVITE takes at least a round trip; the receiver waits 60 ms
  send -ss 4.5 -i "$wav"
else
  send -i "$wav"
fi
[ -z "${relay:-}" ] || wait "$relay"
status=0
wait "$rx" || status=$?
cat "$tmp/receiver.out"
cat "$tmp/receiver.err" >&2
[ -z "${relay:-}" ] || cat "$tmp/relay.out"
[ "$status" = 0 ] || { echo "FAILED: the receiver exited with $status"; exit 1; }

fail() { echo "FAILED: $*"; exit 1; }
grep -qxF "final transcript: $transcript" "$tmp/receiver.out" || fail "transcript"

# The receiver's counts against what the network did to the stream.
counts=$(grep '^rtp: ' "$tmp/receiver.out") || fail "no packet counts"
count() { sed -n "s/.* \([0-9]*\) $1[,;].*/\1/p" <<<"$counts"; }
declare -A want=([lost]=0 [duplicates]=0 [reordered]=0 [late]=0 [malformed]=0 [foreign]=0)
if [ "$mode" = impaired ]; then
  relay_line=$(grep '^relay: ' "$tmp/relay.out")
  relayed() { sed -n "s/.* \([0-9]*\) $1[,;]*\( .*\)*$/\1/p" <<<"$relay_line"; }
  want=([lost]=$(relayed dropped) [duplicates]=$(relayed duplicated) [reordered]=$(relayed swapped) [late]=0
        [malformed]=$(relayed malformed) [foreign]=$(relayed foreign))
  for k in lost duplicates reordered malformed foreign; do
    [ "${want[$k]:-0}" -gt 0 ] || fail "the relay made no $k packets"
  done
fi
for k in "${!want[@]}"; do
  [ "$(count "$k")" = "${want[$k]}" ] || fail "$k $(count "$k"), want ${want[$k]}"
done
# Every packet of the call that was neither a duplicate nor too late was played.
[ "$(count played)" = $(($(count received) - $(count duplicates) - $(count late))) ] || fail "packets went unplayed"

grep -q '; [0-9]* ms silence filled, 0 ms refused$' <<<"$counts" || fail "audio was refused"

# The audio that reached the server is the recording, as long as it, in order. A telephony
# codec keeps the band below 4 kHz with about 38 dB SNR; lost packets are silence in place.
files=("$saved"/connection-*.raw)
[ ${#files[@]} = 1 ] || fail "expected one connection, got ${#files[@]}"
min_corr=0.995
[ "$mode" = impaired ] && min_corr=0.98
"$match" "$wav" "${files[0]}" "$min_corr" 10 || fail "the audio at the server is not the recording"
echo "rtp $mode: passed"
