#!/usr/bin/env bash
# Builds the seed corpora in fuzz/corpus/ (not committed: made from files the repository has).
#   audio_decode: the test clips in every container facecast reads, cut short (WAV, FLAC, MP3, OGG, M4A)
#   config_parse: the bundled configs and presets
#   image_decode: the portrait at 48 px as PNG, JPEG (plain and with EXIF orientation 6) and BMP
#   whep_offer:   a browser's recvonly offer (the shape Chrome and Firefox send)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root=..
rm -rf corpus
mkdir -p corpus/{audio_decode,config_parse,image_decode,whep_offer}
cp "$root"/tests/data/cards_001_22k.wav "$root"/tests/data/cards_001_44k_stereo.{flac,mp3} \
  "$root"/tests/data/cards_001_48k.ogg corpus/audio_decode/
for ext in wav flac mp3 ogg m4a; do
  ffmpeg -v error -y -t 0.3 -i "$root/assets/speech/goforward.wav" "corpus/audio_decode/short.$ext"
done
ffmpeg -v error -y -t 0.3 -i "$root/assets/speech/goforward.wav" -ac 2 -ar 48000 -c:a pcm_f32le corpus/audio_decode/float_stereo.wav
cp "$root"/configs/*.toml corpus/config_parse/
for ext in png jpg bmp; do
  ffmpeg -v error -y -i "$root/assets/portraits/astronaut.png" -vf scale=48:48 "corpus/image_decode/portrait.$ext"
done
python3 - corpus/image_decode/portrait.jpg corpus/image_decode/portrait_exif6.jpg <<'PY'
import struct, sys
jpg = open(sys.argv[1], "rb").read()
# An APP1 Exif segment: a little-endian TIFF header with one IFD entry, Orientation (0x0112) = 6.
tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 0)
app1 = b"Exif\x00\x00" + tiff
open(sys.argv[2], "wb").write(jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpg[2:])
PY
printf '%s\r\n' 'v=0' 'o=- 4611731400430051336 2 IN IP4 127.0.0.1' 's=-' 't=0 0' 'a=group:BUNDLE 0 1' \
  'a=extmap-allow-mixed' 'a=msid-semantic: WMS' \
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103' 'c=IN IP4 0.0.0.0' 'a=rtcp:9 IN IP4 0.0.0.0' \
  'a=ice-ufrag:Ew3S' 'a=ice-pwd:kU6ZyPsGgvNeIYQqQnE8oWbT' 'a=ice-options:trickle' \
  'a=fingerprint:sha-256 5B:1A:0D:7C:2E:31:9F:AA:03:44:6B:8E:21:C0:DD:17:9A:62:F3:0B:4E:88:15:C2:7D:39:A4:60:EE:51:0F:93' \
  'a=setup:actpass' 'a=mid:0' 'a=extmap:1 urn:ietf:params:rtp-hdrext:toffset' 'a=recvonly' 'a=rtcp-mux' 'a=rtcp-rsize' \
  'a=rtpmap:96 VP8/90000' 'a=rtcp-fb:96 nack' 'a=rtcp-fb:96 nack pli' 'a=rtpmap:97 rtx/90000' 'a=fmtp:97 apt=96' \
  'a=rtpmap:102 H264/90000' 'a=rtcp-fb:102 nack pli' \
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' \
  'a=rtpmap:103 rtx/90000' 'a=fmtp:103 apt=102' \
  'm=audio 9 UDP/TLS/RTP/SAVPF 111' 'c=IN IP4 0.0.0.0' 'a=rtcp:9 IN IP4 0.0.0.0' \
  'a=ice-ufrag:Ew3S' 'a=ice-pwd:kU6ZyPsGgvNeIYQqQnE8oWbT' 'a=ice-options:trickle' \
  'a=fingerprint:sha-256 5B:1A:0D:7C:2E:31:9F:AA:03:44:6B:8E:21:C0:DD:17:9A:62:F3:0B:4E:88:15:C2:7D:39:A4:60:EE:51:0F:93' \
  'a=setup:actpass' 'a=mid:1' 'a=recvonly' 'a=rtcp-mux' 'a=rtpmap:111 opus/48000/2' 'a=fmtp:111 minptime=10;useinbandfec=1' \
  >corpus/whep_offer/chrome.sdp
ls corpus/* | head -40
