// tests/web/bench.mjs: the web view's benchmark (issue 21) in headless chromium against `twinloom demo`.
// Prints `name value` lines:
//   web_first_render_ms     navigation start -> first frame drawn with the live state applied (fresh profile)
//   web_delta_apply_p99_ms  p99 over animation frames of the time spent applying queued deltas, with the demo
//                           at ~20,000 samples/s (WEB_BENCH_SIGNALS, WEB_BENCH_HZ; the measured rate is printed)
//   web_payload_bytes       bytes transferred (encoded bodies + headers) for every response the page loads
//                           until it is live: page, three.js, scene, scene.bin, snapshots
// and, for context: web_samples_per_s (measured from /metrics), web_fps, web_apply_frames.
// Run: cd tests/web && npm ci && node bench.mjs   (WEB_BENCH_SECONDS: measuring window, default 40)
import { freePort, launchBrowser, sleep, startDemo, stopDemo, tempDir, until } from './lib.mjs';

const SIGNALS = process.env.WEB_BENCH_SIGNALS || '2600';
const HZ = process.env.WEB_BENCH_HZ || '10';
const SECONDS = Number(process.env.WEB_BENCH_SECONDS || 40);

async function samplesIn(base) {
  const text = await (await fetch(`http://${base}/metrics`)).text();
  const m = /^twinloom_samples_in_total (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

const port = await freePort();
const base = `127.0.0.1:${port}`;
const demo = await startDemo({ port, out: tempDir('twinloom-web-bench-'), args: ['--signals', SIGNALS, '--update-hz', HZ] });
const ctx = await launchBrowser();
try {
  await sleep(3000);  // let the plant run a little: the snapshots are what a user would load
  const page = ctx.pages()[0] || await ctx.newPage();
  const responses = [];
  page.on('response', (r) => responses.push(r));
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`http://${base}/`);
  await page.waitForFunction(() => window.twinloomStats && twinloomStats.firstRenderMs !== null, null, { timeout: 60000 });
  const firstRender = await page.evaluate(() => twinloomStats.firstRenderMs);
  await until(() => responses.length >= 9, 10000, 'the page\'s responses');
  await sleep(500);
  let payload = 0;
  for (const r of responses) {
    const s = await r.request().sizes();
    payload += Math.max(0, s.responseBodySize) + Math.max(0, s.responseHeadersSize);
  }

  await sleep(3000);  // warm-up
  await page.evaluate(() => twinloomStats.resetApplyTimes());
  const f0 = await page.evaluate(() => twinloomStats.frames);
  const n0 = await samplesIn(base), t0 = Date.now();
  await sleep(SECONDS * 1000);
  const n1 = await samplesIn(base), t1 = Date.now();
  const r = await page.evaluate(() => ({ p99: twinloomStats.applyMsP99(), p50: twinloomStats.applyMsP99(50), p90: twinloomStats.applyMsP99(90), max: twinloomStats.applyMsP99(100), frames: twinloomStats.frames, applyFrames: twinloomStats.applyFrames(), badge: twinloomStats.badge, applied: twinloomStats.deltasApplied }));
  if (r.badge !== 'live') throw new Error(`the page is ${r.badge} at the end of the run`);
  if (errors.length) throw new Error(`console errors: ${errors.join('; ')}`);
  // One JSON object per measurement, as ci/bench prints them.
  const out = (name, value, unit, target) => console.log(JSON.stringify({ name, value: Number(value), unit, ...(target ? { target } : {}) }));
  out('web_first_render_ms', firstRender.toFixed(0), 'ms', '<= 3000');
  out('web_delta_apply_p99_ms', r.p99.toFixed(2), 'ms', '<= 4');
  out('web_payload_bytes', payload, 'bytes', '<= 5000000');
  out('web_samples_per_s', Math.round((n1 - n0) / ((t1 - t0) / 1000)), 'samples/s');
  out('web_fps', ((r.frames - f0) / ((t1 - t0) / 1000)).toFixed(1), 'frames/s');
  out('web_apply_frames', r.applyFrames, 'frames');
  out('web_delta_apply_p50_ms', r.p50.toFixed(2), 'ms');
  out('web_delta_apply_p90_ms', r.p90.toFixed(2), 'ms');
  out('web_delta_apply_max_ms', r.max.toFixed(2), 'ms');
} finally {
  await ctx.close();
  await stopDemo(demo, 'SIGKILL');
}
