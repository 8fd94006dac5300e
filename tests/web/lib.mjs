// tests/web/lib.mjs: what the web view's browser tests and benchmark share: starting and stopping
// `twinloom demo`, launching Debian's chromium headless through playwright-core, a plain WebSocket client
// that follows the live protocol on its own (docs/live-protocol.md), a small PNG decoder for pixel checks,
// and reading the saved live layers with usd-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = process.env.TWINLOOM_CLI || join(ROOT, 'target', 'debug', 'twinloom');
export const CHROMIUM = process.env.TWINLOOM_CHROMIUM || '/usr/bin/chromium';
export const PYTHON = process.env.TWINLOOM_PYTHON || join(ROOT, 'target', 'py-test-3.11', 'bin', 'python');
export const SHOTS = join(ROOT, 'target', 'web-screenshots');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on loopback. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

export function tempDir(prefix) { return mkdtempSync(join(tmpdir(), prefix)); }

/** Waits until `fn()` returns a truthy value (polling), or throws after `ms`. */
export async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** Starts `twinloom demo` on 127.0.0.1:port writing to out; resolves once /healthz answers. */
export async function startDemo({ port, out, args = [] }) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: cargo build -p twinloom (or set TWINLOOM_CLI)`);
  const child = spawn(CLI, ['demo', '--listen', `127.0.0.1:${port}`, '--out', out, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  child.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  child.log = () => log;
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`twinloom demo exited early:\n${log.slice(-3000)}`);
    const r = await fetch(`http://127.0.0.1:${port}/readyz`);
    return r.status === 200;
  }, 120000, 'twinloom demo to be ready').catch((e) => { child.kill('SIGKILL'); throw new Error(`${e.message}\n${log.slice(-3000)}`); });
  return child;
}

/** Stops a demo with a signal and waits for it to exit. */
export async function stopDemo(child, signal = 'SIGINT') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  await child.exited;
}

/** Launches the system chromium headless with WebGL on SwiftShader; returns a persistent context. */
export async function launchBrowser() {
  const profile = tempDir('twinloom-web-profile-');
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // WebGL without a GPU: ANGLE on SwiftShader (Chromium requires the opt-in since 2025).
      '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
    ],
  });
}

/** Opens the view; collects console errors and page errors into page.errors ({at, text}). */
export async function openView(ctx, url) {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push({ at: Date.now(), text: m.text() }); });
  page.on('pageerror', (e) => page.errors.push({ at: Date.now(), text: `pageerror: ${e.message}` }));
  await page.goto(url);
  await page.waitForFunction(() => window.twinloomStats && window.twinloomStats.firstRenderMs !== null, null, { timeout: 60000 });
  return page;
}

export function screenshotPath(name) {
  mkdirSync(SHOTS, { recursive: true });
  return join(SHOTS, name);
}

// ---------------------------------------------------------------------------------------------------------
// An independent live-protocol client (plain WebSocket + JSON snapshots), keeping every value's history.

export class LiveClient {
  constructor(base) {
    this.base = base;               // "127.0.0.1:PORT"
    this.values = new Map();        // attr path -> [[seq, value], ...] (seq 0: from a snapshot at shopSeq)
    this.shopSeq = new Map();
    this.lastSeq = 0;
    this.epoch = null;
    this.closed = null;
    this.anomalies = new Map();     // open anomaly episodes: id -> last message
  }

  async start() {
    this.ws = new WebSocket(`ws://${this.base}/v1/live`);
    this.pending = [];
    this.ready = new Promise((resolve, reject) => {
      this.ws.onerror = (e) => reject(new Error(`live client: ${e.message || 'error'}`));
      this.ws.onmessage = async (ev) => {
        const msg = JSON.parse(ev.data);
        if (msg.type === 'hello') {
          this.epoch = msg.epoch; this.lastSeq = msg.seq;
          await this.snapshots(msg.shops);
          for (const d of this.pending) this.delta(d);
          this.pending = null;
          resolve();
        } else if (msg.type === 'delta') {
          if (this.pending) this.pending.push(msg); else this.delta(msg);
        } else if (msg.type === 'anomaly') {
          if (msg.event === 'close') this.anomalies.delete(msg.id); else this.anomalies.set(msg.id, msg);
        } else if (msg.type === 'resync') {
          throw new Error('live client: unexpected resync in a test');
        }
      };
    });
    this.ws.onclose = (ev) => { this.closed = ev.code; };
    await this.ready;
  }

  async snapshots(shops) {
    for (const s of shops) {
      const r = await fetch(`http://${this.base}${s.snapshot}&format=json`);
      if (!r.ok) continue;
      const snap = await r.json();
      this.shopSeq.set(s.name, snap.seq);
      for (const e of snap.edits) this.record(e.path, snap.seq, e.value);
    }
  }

  delta(d) {
    this.lastSeq = d.seq;
    if (d.seq <= (this.shopSeq.get(d.shop) ?? -1)) return;
    for (const e of d.edits) this.record(e.path, d.seq, e.value);
  }

  record(path, seq, value) {
    let h = this.values.get(path);
    if (!h) this.values.set(path, (h = []));
    h.push([seq, value]);
  }

  /** The value of `path` after applying every delta with seq <= `seq` (undefined when unknown). */
  valueAt(path, seq = Infinity) {
    const h = this.values.get(path) || [];
    let v;
    for (const [s, x] of h) { if (s <= seq) v = x; else break; }
    return v;
  }

  last(path) { return this.valueAt(path); }
  close() { try { this.ws.close(); } catch { /* closed */ } }
}

// ---------------------------------------------------------------------------------------------------------
// PNG decoding (8-bit RGB/RGBA, not interlaced: what Chromium's screenshots are) for pixel checks.

export function decodePng(buf) {
  let pos = 8, width = 0, height = 0, channels = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs');
      channels = { 2: 3, 6: 4 }[data[9]];
      if (!channels) throw new Error(`PNG colour type ${data[9]} not supported`);
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(width * height * 4);
  const prev = Buffer.alloc(stride), cur = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    raw.copy(cur, 0, y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels] : 0, b = prev[i], c = i >= channels ? prev[i - channels] : 0;
      let p = 0;
      if (f === 1) p = a; else if (f === 2) p = b; else if (f === 3) p = (a + b) >> 1;
      else if (f === 4) { const q = a + b - c; const pa = Math.abs(q - a), pb = Math.abs(q - b), pc = Math.abs(q - c); p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      cur[i] = (cur[i] + p) & 255;
    }
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      out[o] = cur[x * channels]; out[o + 1] = cur[x * channels + 1]; out[o + 2] = cur[x * channels + 2];
      out[o + 3] = channels === 4 ? cur[x * channels + 3] : 255;
    }
    cur.copy(prev);
  }
  return { width, height, data: out };
}

/** RGB of pixel (x, y). */
export function pixel(img, x, y) {
  const o = (Math.round(y) * img.width + Math.round(x)) * 4;
  return [img.data[o], img.data[o + 1], img.data[o + 2]];
}

/** Linear RGB (0..1) -> sRGB bytes, as the canvas shows a MeshBasicMaterial colour. */
export function srgb(linear) {
  return linear.map((c) => Math.round(255 * (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055)));
}

// ---------------------------------------------------------------------------------------------------------
// The saved stage, read with Pixar's usd-core (independent of the page and the connector's stream).

/** Reads `attr` of every prim listed, from the layer file, as {path: value}. */
export function readSavedValues(layerFile, attrPaths) {
  const script = `
import json, sys
from pxr import Sdf
layer = Sdf.Layer.FindOrOpen(sys.argv[1])
out = {}
for p in json.loads(sys.stdin.read()):
    spec = layer.GetAttributeAtPath(Sdf.Path(p))
    out[p] = None if spec is None or spec.default is None else spec.default
print(json.dumps(out))
`;
  const text = execFileSync(PYTHON, ['-c', script, layerFile], { input: JSON.stringify(attrPaths) }).toString();
  return JSON.parse(text);
}
