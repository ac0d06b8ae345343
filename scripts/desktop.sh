# Sourced by the scripts that need a screen and a sound card on a machine with neither:
#   start_desktop RUNTIME_DIR WIDTHxHEIGHT SINK
# starts a private X server (Xvfb) on a free display and a private PulseAudio server whose default sink
# is a null sink named SINK (its monitor, SINK.monitor, is the default source), waits for both, exports
# DISPLAY, XDG_RUNTIME_DIR and PULSE_SERVER, and appends their pids to the caller's `pids` array.
start_desktop() {
  local runtime="$1" size="$2" sink="$3" display="" n
  for n in $(seq 150 250); do
    if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=":$n"; break; fi
  done
  [ -n "$display" ] || { echo "no free X display number" >&2; return 1; }
  Xvfb "$display" -screen 0 "${size}x24" -nolisten tcp >/dev/null 2>&1 &
  pids+=($!)
  XDG_RUNTIME_DIR="$runtime" HOME="$runtime" pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit \
    --load="module-null-sink sink_name=$sink" --load=module-native-protocol-unix >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [ -e "/tmp/.X11-unix/X${display#:}" ] && [ -e "$runtime/pulse/native" ] && break
    sleep 0.1
  done
  export DISPLAY="$display" XDG_RUNTIME_DIR="$runtime" PULSE_SERVER="unix:$runtime/pulse/native"
}
