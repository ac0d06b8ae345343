// Opens facecast's WHEP viewer page in headless Chromium (Debian's, through playwright-core) and reports,
// as one JSON object on standard output, what the page received:
//
//   node whep_check.mjs URL --seconds 12 --screenshot shot.png [--av]
//
// - video: frames decoded, their size and rate (getStats inbound-rtp, and requestVideoFrameCallback
//   counted over the last half of the run);
// - audio: packets and samples received, total audio energy (getStats inbound-rtp; the page plays it
//   unmuted, which the autoplay flag allows);
// - with --av, the A/V offset: the page plays the stream, taps its audio with WebAudio (an AudioWorklet
//   finds each beep's first loud sample and maps it to the time it is heard, getOutputTimestamp) and
//   times each frame with requestVideoFrameCallback (expectedDisplayTime), reading the sync marker in
//   the frame's top-left corner; each flash onset is paired with the nearest beep onset.
//   audio_minus_video_ms > 0 means the sound comes after the picture. median_ms is over the whole run,
//   settled_median_ms over the pairs after --warmup seconds (default 10), once the receiver's audio
//   jitter buffer has settled.
//
// Exit code 0 when the page connected, 1 otherwise (the JSON says why).

import { chromium } from "playwright-core";
import { writeFileSync } from "node:fs";

const args = process.argv.slice(2);
const url = args[0];
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const seconds = Number(opt("--seconds", "12"));
const screenshot = opt("--screenshot", null);
const av = args.includes("--av");
const warmup = Number(opt("--warmup", "10"));
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

const userDataDir = `/tmp/facecast-chromium-${process.pid}`;
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: chromiumPath,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    // Sound without a click, and ICE candidates on loopback (facecast's test server listens there).
    "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
    // Plain host candidates instead of mDNS names: nothing goes out as multicast.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
  ],
});
const result = { url, connected: false, console: [] };
try {
  const page = browser.pages()[0] || await browser.newPage();
  page.on("console", m => { if (result.console.length < 50) result.console.push(m.type() + ": " + m.text()); });
  page.on("pageerror", e => result.console.push("pageerror: " + e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.facecast && window.facecast.state === "connected", null, { timeout: 20000 });
  result.connected = true;
  await page.waitForFunction(() => document.getElementById("video").readyState >= 2, null, { timeout: 10000 });

  // Frames presented over the second half of the run, counted by requestVideoFrameCallback.
  await page.evaluate(({ av }) => {
    const video = document.getElementById("video");
    const m = window.facecastMeasure = { frames: 0, counting: false, flashes: [], beeps: [], lit: false, start: performance.now() };
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 8;
    const g = canvas.getContext("2d", { willReadFrequently: true });
    const onFrame = (now, meta) => {
      if (m.counting) m.frames++;
      if (av) {
        // The marker is the top-left size/16 square: read a patch inside it.
        const side = Math.max(8, Math.floor(meta.width / 16));
        g.drawImage(video, 2, 2, side - 4, side - 4, 0, 0, 8, 8);
        const px = g.getImageData(0, 0, 8, 8).data;
        let sum = 0;
        for (let i = 0; i < px.length; i += 4) sum += px[i] + px[i + 1] + px[i + 2];
        const lit = sum / (px.length / 4) / 3 > 128;
        if (lit && !m.lit) m.flashes.push(meta.expectedDisplayTime);
        m.lit = lit;
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }, { av });

  if (av) {
    await page.evaluate(async () => {
      const video = document.getElementById("video");
      const m = window.facecastMeasure;
      const ctx = new AudioContext();
      await ctx.resume();
      // The first sample above -26 dBFS after 50 ms below it is a beep's onset.
      const code = `class Onsets extends AudioWorkletProcessor {
        constructor() { super(); this.quiet = 1; }
        process(inputs) {
          const ch = inputs[0] && inputs[0][0];
          if (!ch) return true;
          for (let i = 0; i < ch.length; i++) {
            if (Math.abs(ch[i]) > 0.05) {
              if (this.quiet >= 0.05 * sampleRate) this.port.postMessage(currentTime + i / sampleRate);
              this.quiet = 0;
            } else {
              this.quiet++;
            }
          }
          return true;
        }
      }
      registerProcessor("onsets", Onsets);`;
      await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([code], { type: "application/javascript" })));
      const node = new AudioWorkletNode(ctx, "onsets");
      ctx.createMediaStreamSource(video.srcObject).connect(node);
      const mute = ctx.createGain();
      mute.gain.value = 0;
      node.connect(mute).connect(ctx.destination);
      node.port.onmessage = e => {
        const ts = ctx.getOutputTimestamp();
        m.beeps.push(ts.performanceTime + (e.data - ts.contextTime) * 1000);
      };
      m.audioContext = { sampleRate: ctx.sampleRate, baseLatency: ctx.baseLatency, outputLatency: ctx.outputLatency };
    });
  }

  // Sound on (the autoplay flag allows it without a click), so the audio is played and measured.
  await page.evaluate(async () => {
    const video = document.getElementById("video");
    video.muted = false;
    await video.play();
  });
  const decodedNow = () => page.evaluate(async () => {
    let n = 0;
    (await window.facecast.pc.getStats()).forEach(s => { if (s.type === "inbound-rtp" && s.kind === "video") n = s.framesDecoded; });
    return n;
  });
  await page.waitForTimeout(seconds * 500);
  await page.evaluate(() => { window.facecastMeasure.counting = true; });
  const decoded0 = await decodedNow();
  const t0 = Date.now();
  await page.waitForTimeout(seconds * 500);
  const decoded1 = await decodedNow();
  const countedSecs = (Date.now() - t0) / 1000;

  const collected = await page.evaluate(async () => {
    const m = window.facecastMeasure;
    const stats = await window.facecast.pc.getStats();
    const out = { frames: m.frames, flashes: m.flashes, beeps: m.beeps, audioContext: m.audioContext, start: m.start };
    stats.forEach(s => {
      if (s.type === "inbound-rtp") out[s.kind] = s;
      if (s.type === "codec") (out.codecs ||= []).push(s.mimeType + " " + (s.sdpFmtpLine || ""));
    });
    return out;
  });
  const v = collected.video || {};
  const a = collected.audio || {};
  result.video = {
    frames_decoded: v.framesDecoded, frame_width: v.frameWidth, frame_height: v.frameHeight,
    frames_per_second: v.framesPerSecond, frames_dropped: v.framesDropped, key_frames_decoded: v.keyFramesDecoded,
    freeze_count: v.freezeCount, packets_lost: v.packetsLost, bytes_received: v.bytesReceived,
    decoded_fps: (decoded1 - decoded0) / countedSecs,
    presented_fps: collected.frames / countedSecs,
  };
  result.audio = {
    packets_received: a.packetsReceived, bytes_received: a.bytesReceived, samples_received: a.totalSamplesReceived,
    total_audio_energy: a.totalAudioEnergy, packets_lost: a.packetsLost,
    jitter_buffer_delay_ms: a.jitterBufferEmittedCount ? 1000 * a.jitterBufferDelay / a.jitterBufferEmittedCount : null,
  };
  result.codecs = collected.codecs;
  if (av) {
    // Each flash with the nearest beep; [seconds since the page started playing, offset].
    const pairs = [];
    for (const f of collected.flashes) {
      let best = null;
      for (const b of collected.beeps) if (best === null || Math.abs(b - f) < Math.abs(best - f)) best = b;
      if (best !== null && Math.abs(best - f) < 400) pairs.push([(f - collected.start) / 1000, best - f]);
    }
    const median = xs => {
      const sorted = [...xs].sort((x, y) => x - y);
      return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
    };
    // A receiver's audio jitter buffer starts deep and settles in the first seconds.
    const settled = pairs.filter(([t]) => t >= warmup).map(([, o]) => o);
    result.av = {
      flashes: collected.flashes.length, beeps: collected.beeps.length, pairs: pairs.length,
      audio_minus_video_ms: pairs.map(([, o]) => Math.round(o * 10) / 10),
      median_ms: median(pairs.map(([, o]) => o)),
      warmup_secs: warmup,
      settled_pairs: settled.length,
      settled_median_ms: median(settled),
      audio_context: collected.audioContext,
    };
  }
  if (screenshot) await page.screenshot({ path: screenshot });
} catch (e) {
  result.error = String(e && e.message || e);
} finally {
  await browser.close();
}
writeFileSync(1, JSON.stringify(result, null, 1) + "\n");
process.exit(result.connected && !result.error ? 0 : 1);
