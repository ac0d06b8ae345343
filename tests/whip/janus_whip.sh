#!/usr/bin/env bash
# Pushes `facecast live --output whip:...` to a real WHIP server: Debian's simple-whip-server (Meetecho's,
# on the Node.js modules in tests/whip) in front of Debian's Janus VideoRoom. Run by tests/whip_push.rs
# as `unshare --net -- bash tests/whip/janus_whip.sh FACECAST WORKDIR SWS_DIR`: everything runs in a
# private network namespace, between two ends of a veth pair (10.203.0.1 and .2), so no packet leaves it
# (libnice, under Janus, gathers no loopback candidates, so loopback alone would not do).
#
# facecast starts before the endpoint is created, so its first tries are refused and retried.
# Writes into WORKDIR: janus.log, whip-server.log, facecast.log, stats.json, handle_info.json (Janus's view
# of the publisher's PeerConnection halfway through), participants.json (the VideoRoom's publishers),
# after.json (the VideoRoom once facecast has stopped), facecast.status (its exit code).
set -euo pipefail
facecast="$1"
work="$2"
sws="$3"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
token="whip-test-token"
secret="facecast-admin"

ip link set lo up
ip link add fc0 type veth peer name fc1
ip addr add 10.203.0.1/24 dev fc0
ip addr add 10.203.0.2/24 dev fc1
ip link set fc0 up
ip link set fc1 up

mkdir -p "$work/conf" "$work/plugins" "$work/transports"
lib=/usr/lib/x86_64-linux-gnu/janus
[ -d "$lib" ] || lib=$(dirname "$(dirname "$(find /usr/lib -name libjanus_videoroom.so -print -quit)")")
ln -sf "$lib/plugins/libjanus_videoroom.so" "$work/plugins/"
ln -sf "$lib/transports/libjanus_websockets.so" "$lib/transports/libjanus_http.so" "$work/transports/"
cat >"$work/conf/janus.jcfg" <<EOF
general: {
	configs_folder = "$work/conf"
	plugins_folder = "$work/plugins"
	transports_folder = "$work/transports"
	events_folder = "$work/none"
	loggers_folder = "$work/none"
	debug_level = 4
	admin_secret = "$secret"
}
media: {
	rtp_port_range = "30000-31000"
}
nat: {
	ice_enforce_list = "fc0"
}
EOF
cat >"$work/conf/janus.transport.websockets.jcfg" <<'EOF'
general: {
	ws = true
	ws_port = 8188
	ws_ip = "127.0.0.1"
	wss = false
}
admin: {
	admin_ws = false
	admin_wss = false
}
EOF
cat >"$work/conf/janus.transport.http.jcfg" <<'EOF'
general: {
	http = false
	https = false
}
admin: {
	admin_base_path = "/admin"
	admin_http = true
	admin_port = 7088
	admin_ip = "127.0.0.1"
	admin_https = false
}
EOF
cat >"$work/conf/janus.plugin.videoroom.jcfg" <<'EOF'
general: {
}
room-1234: {
	description = "facecast"
	publishers = 4
	bitrate = 4000000
	audiocodec = "opus"
	videocodec = "h264"
	h264_profile = "42e01f"
}
EOF

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1:$2" >&2
  return 1
}

janus -F "$work/conf" -C "$work/conf/janus.jcfg" -o >"$work/janus.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 8188
wait_port 127.0.0.1 7088

rm -rf "$work/sws"
cp -r "$sws/src" "$work/sws"
rm -f "$work/sws/config.js"
cat >"$work/sws/config.js" <<'EOF'
module.exports = { janus: { address: 'ws://127.0.0.1:8188' }, port: 7080, rest: '/whip', allowTrickle: true,
  strictETags: false, iceServers: [] };
EOF
(cd "$work" && NODE_PATH="$here/node_modules" DEBUG='whip:*' exec node sws/server.js) >"$work/whip-server.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 7080

# facecast starts pushing before the endpoint exists: the server answers 404, and facecast retries.
FACECAST_WHIP_TOKEN="$token" "$facecast" live --input test-pattern --duration 20 \
  --output whip:http://10.203.0.1:7080/whip/endpoint/facecast --stats-json "$work/stats.json" \
  >"$work/facecast.log" 2>&1 &
fc=$!
sleep 3
python3 - "$token" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request("http://127.0.0.1:7080/whip/create", method="POST",
    data=json.dumps({"id": "facecast", "room": 1234, "token": sys.argv[1]}).encode(),
    headers={"Content-Type": "application/json"})
assert urllib.request.urlopen(req).status == 200
PY
sleep 12

admin() {
  python3 - "$secret" "$1" <<'PY'
import json, sys, urllib.request
secret, what = sys.argv[1], sys.argv[2]
def call(path, body):
    body = dict(body, transaction="t", admin_secret=secret)
    req = urllib.request.Request("http://127.0.0.1:7088/admin" + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
if what == "participants":
    print(json.dumps(call("", {"janus": "message_plugin", "plugin": "janus.plugin.videoroom",
                               "request": {"request": "listparticipants", "room": 1234}})))
else:
    infos = []
    for s in call("", {"janus": "list_sessions"}).get("sessions", []):
        for h in call(f"/{s}", {"janus": "list_handles"}).get("handles", []):
            info = call(f"/{s}/{h}", {"janus": "handle_info"}).get("info", {})
            if info.get("plugin") == "janus.plugin.videoroom":
                infos.append(info)
    print(json.dumps(infos))
PY
}
admin handles >"$work/handle_info.json"
admin participants >"$work/participants.json"
set +e
wait "$fc"
echo $? >"$work/facecast.status"
set -e
sleep 1
admin participants >"$work/after.json"
