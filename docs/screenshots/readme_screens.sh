#!/bin/sh
# The README's overview and chair screenshots (1920x1080 and 1366x768), from the demo.
# Run from the repository: `sh docs/screenshots/readme_screens.sh` (after `make .venv/.installed-stamp`).
# The station is given a private PulseAudio daemon with a null sink, as a station with speakers would
# have: without a sound server the screens show the "NO AUDIO" notice instead (that screen is
# no-audio-1366.png: see the README's "Alarm sound").
set -eu
out=docs/screenshots
chairside=.venv/bin/chairside
pulse=$(mktemp -d)
trap 'kill "$(cat "$pulse/runtime/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$pulse"' EXIT
mkdir -m 700 "$pulse/runtime"
HOME=$pulse XDG_RUNTIME_DIR=$pulse/runtime XDG_CONFIG_HOME=$pulse/config PULSE_RUNTIME_PATH=$pulse/runtime \
    pulseaudio --daemonize=yes -n --exit-idle-time=-1 --use-pid-file=yes --log-level=error \
    "--load=module-native-protocol-unix socket=$pulse/native auth-anonymous=1" \
    "--load=module-null-sink sink_name=readme_speakers"
export PULSE_SERVER="unix:$pulse/native" QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
for size in 1920x1080 1366x768; do
    width=${size%x*}
    "$chairside" --demo 6 --speed 60 --preroll 150 --nurse AB --window-size "$size" \
        --screenshot "$out/overview-$width.png" --quit-after 10
    "$chairside" --demo 6 --speed 60 --preroll 140 --nurse AB --window-size "$size" --chair 1 \
        --screenshot "$out/chair-reaction-$width.png" --quit-after 10
done
