// Plays an MP4 in headless Chromium (Debian's chromium, driven by playwright-core) and prints what the
// browser decoded: size, duration, frames presented, audio bytes decoded, and a screenshot.
// Usage: node scripts/chromium_playback.mjs out/demo.mp4 out/chromium_playback.png
// (scripts/check-chromium.sh installs chromium and playwright-core, serves the file on loopback.)
import { chromium } from 'playwright-core';

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--autoplay-policy=no-user-gesture-required'],
});
const page = await browser.newPage({ viewport: { width: 560, height: 560 } });
await page.setContent('<html><body style="margin:0;background:#222"></body></html>');
const result = await page.evaluate(async (src) => {
  const v = document.createElement('video');
  v.src = src;
  v.style.width = '512px';
  document.body.appendChild(v);
  let presented = 0;
  const onFrame = () => { presented++; v.requestVideoFrameCallback(onFrame); };
  v.requestVideoFrameCallback(onFrame);
  const ended = new Promise((res) => { v.onended = res; v.onerror = res; });
  try { await v.play(); } catch (e) { return { error: String(e) }; }
  await ended;
  const q = v.getVideoPlaybackQuality();
  return {
    error: v.error ? v.error.message || String(v.error.code) : null,
    videoWidth: v.videoWidth, videoHeight: v.videoHeight, duration: v.duration,
    framesPresented: presented, totalVideoFrames: q.totalVideoFrames, droppedVideoFrames: q.droppedVideoFrames,
    audioBytesDecoded: v.webkitAudioDecodedByteCount, videoBytesDecoded: v.webkitVideoDecodedByteCount,
  };
}, url);
// Seek to the middle of the speech for a screenshot.
await page.evaluate(async () => { const v = document.querySelector('video'); v.currentTime = 0.9; await new Promise(r => v.onseeked = r); });
await page.screenshot({ path: shot });
console.log(JSON.stringify(result));
await browser.close();
