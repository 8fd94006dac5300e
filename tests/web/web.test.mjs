// tests/web/web.test.mjs: the web view (issue 21) in a real headless chromium against `twinloom demo`.
// One demo run, checked step by step: no console errors; the canvas draws the plant (pixels); a robot's pose
// follows its joints (world matrix + pixels, values equal to an independent WebSocket client's); a station's
// state colour and panel text follow a state change; keyboard selection shows the station's signals with the
// WebSocket client's values; after a clean stop the page holds what the saved live layers hold (read with
// usd-core) and lists the open anomalies the WebSocket client saw (`--diagnostics`); after a restart and
// after a SIGKILL + restart the page resumes by itself; recommendations written by `twinloom recommend`
// while the demo runs are listed, and an approval over HTTP shows on the page.
// Run: cd tests/web && npm ci && npm test   (TWINLOOM_CLI, TWINLOOM_CHROMIUM, TWINLOOM_PYTHON override paths)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CLI, LiveClient, decodePng, freePort, launchBrowser, openView, pixel, readSavedValues, screenshotPath, sleep,
  srgb, startDemo, stopDemo, tempDir, until,
} from './lib.mjs';

const STATE_COLORS = [[1.0, 0.7, 0.0], [0.1, 0.75, 0.2], [0.1, 0.35, 0.95], [0.9, 0.08, 0.08], [0.8, 0.8, 0.8]];
const STATE_NAMES = ['idle', 'running', 'blocked', 'faulted', 'break'];
const BACKGROUND = [0x20, 0x26, 0x2d];
const JOINTS = ['Link1.xformOp:rotateZ', 'Link1/Link2.xformOp:rotateY', 'Link1/Link2/Link3.xformOp:rotateY',
  'Link1/Link2/Link3/Link4.xformOp:rotateZ', 'Link1/Link2/Link3/Link4/Link5.xformOp:rotateY',
  'Link1/Link2/Link3/Link4/Link5/Link6.xformOp:rotateZ'];
const TOOL = 'Base/Link1/Link2/Link3/Link4/Link5/Link6/Tool';

const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
/** The name the page shows for a state code of a station in `area`. */
const stateName = (code, path) => (code === 2 && path.startsWith('/Plant/BIW/') ? 'welding' : STATE_NAMES[code]);
const codeOf = (deg) => ((Math.round(deg / 72) % 5) + 5) % 5;

test('web view against twinloom demo', { timeout: 600000 }, async (t) => {
  const port = await freePort();
  const out = tempDir('twinloom-web-demo-');
  const base = `127.0.0.1:${port}`;
  const args = ['--diagnostics'];          // anomaly messages too
  let demo = await startDemo({ port, out, args });
  const ctx = await launchBrowser();
  const client = new LiveClient(base);
  const outages = [];                       // [from, to] ms: connection errors expected then
  try {
    await client.start();
    const page = await openView(ctx, `http://${base}/`);
    const stats = () => page.evaluate(() => ({
      lastSeq: twinloomStats.lastSeq, appliedSeq: twinloomStats.appliedSeq, badge: twinloomStats.badge,
      epoch: twinloomStats.epoch, frames: twinloomStats.frames, queued: twinloomStats.queued,
    }));

    /** Waits until the page has drawn n more frames (software rendering draws a few per second). */
    const framesPass = async (n) => {
      const f0 = (await stats()).frames;
      await until(async () => (await stats()).frames >= f0 + n, 20000, `${n} frames`);
    };

    await t.test('opens live with no console errors', async () => {
      await until(async () => (await stats()).badge === 'live', 30000, 'badge live');
      const first = await page.evaluate(() => twinloomStats.firstRenderMs);
      assert.ok(first > 0 && first < 30000, `first render at ${first} ms`);
      await until(async () => (await stats()).appliedSeq > 0, 30000, 'a delta applied');
      assert.deepEqual(page.errors, []);
    });

    await t.test('the canvas draws the plant', async () => {
      const png = await page.screenshot({ path: screenshotPath('plant.png') });
      const img = decodePng(png);
      const box = await page.locator('#view canvas').boundingBox();
      let drawn = 0, total = 0;
      for (let y = box.y; y < box.y + box.height; y += 4) {
        for (let x = box.x; x < box.x + box.width; x += 4) {
          total++;
          if (dist(pixel(img, x, y), BACKGROUND) > 30) drawn++;
        }
      }
      assert.ok(drawn / total > 0.3, `only ${(100 * drawn / total).toFixed(1)} % of the canvas is drawn`);
      const colours = new Set();
      for (let y = box.y; y < box.y + box.height; y += 8) for (let x = box.x; x < box.x + box.width; x += 8) colours.add(pixel(img, x, y).map((c) => c >> 4).join());
      assert.ok(colours.size > 20, `the canvas has ${colours.size} colours: not a plant`);
    });

    await t.test('a robot moves with its joints', async () => {
      // The robot that moves most over a second.
      const robots = [];
      for (let s = 1; s <= 6; s++) for (let r = 2 * s - 1; r <= 2 * s; r++) robots.push(`/Plant/BIW/Line/Station0${s}/R${String(r).padStart(2, '0')}`);
      const tools = () => page.evaluate((ps) => ps.map((p) => twinloomDebug.worldPosition(p)), robots.map((r) => `${r}/${TOOL}`));
      let best = null;
      for (let attempt = 0; attempt < 20 && !best; attempt++) {
        const a = await tools(); await sleep(1000); const b = await tools();
        const moved = robots.map((r, i) => [dist(a[i], b[i]), r]).sort((x, y) => y[0] - x[0]);
        if (moved[0][0] > 0.02) best = moved[0][1];
      }
      assert.ok(best, 'no robot moved in 40 s');
      const tool = `${best}/${TOOL}`;
      // Look at it from 7 m.
      const p = await page.evaluate((x) => twinloomDebug.worldPosition(x), `${best}/Base`);
      await page.evaluate(([q]) => twinloomDebug.look([q[0], q[1], q[2] + 1.2], [q[0] - 4, q[1] - 5, q[2] + 4]), [p]);
      await framesPass(2);
      const before = await page.evaluate((x) => ({ m: twinloomDebug.nodeWorldMatrix(x), s: twinloomDebug.screenPoint(x) }), tool);
      const shot1 = decodePng(await page.screenshot({ path: screenshotPath('robot-1.png') }));
      await until(async () => {
        const m = await page.evaluate((x) => twinloomDebug.nodeWorldMatrix(x), tool);
        return dist(m.slice(12, 15), before.m.slice(12, 15)) > 0.1;
      }, 40000, `${tool} to move 0.1 m`);
      await framesPass(1);
      const after = await page.evaluate((x) => ({ m: twinloomDebug.nodeWorldMatrix(x), s: twinloomDebug.screenPoint(x) }), tool);
      const shot2 = decodePng(await page.screenshot({ path: screenshotPath('robot-2.png') }));
      assert.notDeepEqual(after.m, before.m);
      // The region around the tool's two positions changed on screen.
      const x0 = Math.max(0, Math.min(before.s.x, after.s.x) - 60), x1 = Math.min(shot1.width - 1, Math.max(before.s.x, after.s.x) + 60);
      const y0 = Math.max(0, Math.min(before.s.y, after.s.y) - 60), y1 = Math.min(shot1.height - 1, Math.max(before.s.y, after.s.y) + 60);
      let changed = 0;
      for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) if (dist(pixel(shot1, x, y), pixel(shot2, x, y)) > 40) changed++;
      assert.ok(changed > 50, `only ${changed} pixels changed around ${tool}`);
      // Its joint values are exactly what an independent client of the stream holds at the same seq.
      const joints = JOINTS.map((j) => `${best}/Base/${j}`);
      const seen = await page.evaluate((js) => ({ seq: twinloomStats.appliedSeq, v: js.map((j) => twinloomDebug.value(j)) }), joints);
      await until(() => client.lastSeq >= seen.seq, 10000, 'the client to catch up');
      assert.deepEqual(seen.v, joints.map((j) => client.valueAt(j, seen.seq)));
      assert.ok(seen.v.every((v) => typeof v === 'number'));
    });

    let stationsSeen;
    await t.test('station colours and panel text follow state changes', async () => {
      await page.reload();
      await page.waitForFunction(() => window.twinloomStats && twinloomStats.firstRenderMs !== null && twinloomStats.badge === 'live');
      const all = await page.evaluate(() => twinloomDebug.stations());
      stationsSeen = all;
      assert.ok(all.length >= 18, `${all.length} stations`);
      const read = () => page.evaluate((ps) => ps.map((p) => twinloomDebug.stationState(p)), all);
      await until(async () => (await read()).every((s) => s.code !== null), 20000, 'every station to have a state');
      const start = await read();
      let changedAt = -1, now;
      await until(async () => {
        now = await read();
        changedAt = now.findIndex((s, i) => s.code !== start[i].code);
        return changedAt >= 0;
      }, 120000, 'a station to change its state');
      const path = all[changedAt];
      // Panel text and icon class follow; the value is the stream's.
      await until(async () => {
        const s = await page.evaluate((p) => twinloomDebug.stationState(p), path);
        return s.chip === stateName(s.code, path) && s.chipClass.includes(`s${s.code}`);
      }, 5000, `${path}'s chip`);
      const seen = await page.evaluate((p) => ({ seq: twinloomStats.appliedSeq, s: twinloomDebug.stationState(p) }), path);
      const drumValue = await page.evaluate((d) => twinloomDebug.value(d), `${seen.s.drum}.xformOp:rotateX`);
      await until(() => client.lastSeq >= seen.seq, 10000, 'the client to catch up');
      assert.equal(drumValue, client.valueAt(`${seen.s.drum}.xformOp:rotateX`, seen.seq));
      assert.equal(seen.s.code, codeOf(drumValue));
      // The beacon over its lamp shows the state's colour: look at it from close by and read the pixels.
      const p = await page.evaluate((x) => twinloomDebug.worldPosition(`${x}/StateLamp`), path);
      await page.evaluate(([q]) => twinloomDebug.look([q[0], q[1], q[2] + 3], [q[0] - 2, q[1] - 6, q[2] + 6]), [p]);
      await framesPass(2);
      // (The state may change while the screenshot is taken: then look again.)
      let s, code, bestD;
      for (let attempt = 0; attempt < 5; attempt++) {
        s = await page.evaluate((x) => twinloomDebug.stationState(x), path);
        code = s.code;
        const img = decodePng(await page.screenshot({ path: screenshotPath('station-state.png') }));
        const again = await page.evaluate((x) => twinloomDebug.stationState(x), path);
        if (again.code !== code) continue;
        const want = srgb(STATE_COLORS[code]);
        bestD = Infinity;
        for (let dy = -6; dy <= 6; dy++) for (let dx = -6; dx <= 6; dx++) bestD = Math.min(bestD, dist(pixel(img, s.beacon.x + dx, s.beacon.y + dy), want));
        break;
      }
      assert.ok(bestD < 40, `no pixel near ${path}'s beacon has the colour of '${STATE_NAMES[code]}' (closest ${bestD.toFixed(0)})`);
    });

    let rows;
    await t.test('keyboard selection of a station shows its signals', async () => {
      const target = '/Plant/BIW/Line/Station02';
      await page.focus('#tree li[tabindex="0"]');
      for (let i = 0; i < 80; i++) {
        const at = await page.evaluate(() => document.activeElement.dataset.path);
        if (at === target) break;
        await page.keyboard.press('ArrowDown');
      }
      await page.keyboard.press('Enter');
      assert.equal(await page.evaluate(() => twinloomDebug.selected()), target);
      await until(async () => (await page.locator('#selection tr[data-attr]').count()) > 0, 5000, 'the signal table');
      rows = await page.locator('#selection tr[data-attr]').evaluateAll((trs) => trs.map((tr) => tr.dataset.attr));
      assert.ok(rows.includes(`${target}.twinloom:cycleTime`), `rows: ${rows.join(', ')}`);
      assert.ok(rows.some((r) => r.endsWith('Drum.xformOp:rotateX')), 'the state lamp signal');
      assert.ok(rows.filter((r) => /\/R0[34]\//.test(r)).length === 12, 'the two robots\' joints');
      const units = await page.locator('#selection tr[data-attr] td:nth-child(2)').allTextContents();
      assert.ok(units.includes('deg') && units.includes('s'), `units: ${units.join(', ')}`);
    });

    await t.test('recommendations appear and follow their state', async () => {
      // `twinloom recommend` on the running demo's stage writes recommendations.usda; the service reads it
      // and every page gets them; an operator's approval (HTTP) shows with who approved.
      execFileSync(CLI, ['recommend', '--stage', out, '--domain', 'assembly'], { stdio: ['ignore', 'ignore', 'pipe'] });
      const listed = () => page.evaluate(() => twinloomDebug.recommendations());
      await until(async () => (await listed()).length > 0, 20000, 'recommendations listed');
      const [[id, state]] = await listed();
      assert.equal(state, 'proposed');
      const r = await fetch(`http://${base}/v1/recommendations/${id}/state`, {
        method: 'POST', body: JSON.stringify({ state: 'approved', by: 'line manager' }),
      });
      assert.equal(r.status, 200, await r.text());
      await until(async () => (await listed()).some(([i, s]) => i === id && s === 'approved'), 10000, 'approved listed');
      // The panel is redrawn on the next animation frame (a few per second in software rendering).
      const panel = () => page.locator('#recommendations').textContent();
      await until(async () => (await panel()).includes('approved'), 10000, 'approved shown in the panel');
      const text = await panel();
      assert.ok(text.includes('approved') && text.includes('line manager'), text);
    });

    await t.test('after a clean stop the page holds the saved live layers', async (st) => {
      const t0 = Date.now();
      await stopDemo(demo, 'SIGINT');
      outages.push([t0, Infinity]);
      // The stream ends with every delta published: the page applies them all.
      await until(async () => { const s = await stats(); return s.appliedSeq >= client.lastSeq && s.queued === 0; }, 20000, 'the page to apply the last deltas');
      await sleep(600);  // the selection table is redrawn at most 5 times a second
      // Selection table == the WebSocket client's last values.
      const table = await page.locator('#selection tr[data-attr]').evaluateAll((trs) => trs.map((tr) => [tr.dataset.attr, JSON.parse(tr.querySelector('td.v').dataset.value)]));
      // (JSON has no -0: the table's 0 is the stream's -0)
      for (const [attr, v] of table) assert.deepEqual(v, client.last(attr) === 0 ? 0 : client.last(attr) ?? null, attr);
      // The active anomalies: the same episodes as the client's, one list entry each.
      const ids = await page.evaluate(() => twinloomDebug.anomalies());
      st.diagnostic(`${ids.length} active anomalies, ${table.length} signals of the selection compared`);
      assert.deepEqual(ids, [...client.anomalies.keys()].sort((a, b) => a - b));
      const items = await page.locator('#anomalies li.anomaly').count();
      assert.equal(items, Math.min(ids.length, 30));
      assert.equal(await page.locator('#anomaly-count').textContent(), String(ids.length));
      // Every station's state, read with usd-core from the layers the connector saved.
      const byShop = { BIW: 'biw', Paint: 'paint', Assembly: 'assembly' };
      for (const [area, shop] of Object.entries(byShop)) {
        const paths = stationsSeen.filter((p) => p.startsWith(`/Plant/${area}/`));
        const drums = paths.map((p) => `${p}/StateLamp/Drum.xformOp:rotateX`);
        const saved = readSavedValues(join(out, 'live', `${shop}.usdc`), drums);
        for (let i = 0; i < paths.length; i++) {
          const s = await page.evaluate((p) => twinloomDebug.stationState(p), paths[i]);
          assert.equal(await page.evaluate((d) => twinloomDebug.value(d), drums[i]), saved[drums[i]], drums[i]);
          assert.equal(s.code, codeOf(saved[drums[i]]), paths[i]);
          assert.equal(s.chip, stateName(codeOf(saved[drums[i]]), paths[i]), paths[i]);
        }
      }
    });

    await t.test('the page resumes by itself after restarts', async () => {
      for (const how of ['restart', 'SIGKILL']) {
        if (how === 'SIGKILL') {
          const t0 = Date.now();
          await stopDemo(demo, 'SIGKILL');
          outages.push([t0, Infinity]);
          await until(async () => (await stats()).badge !== 'live', 15000, 'the badge to leave live');
        }
        const before = await stats();
        demo = await startDemo({ port, out, args });
        await until(async () => { const s = await stats(); return s.badge === 'live' && s.epoch !== before.epoch; }, 60000, `the page to come back after ${how}`);
        const s1 = await stats();
        await until(async () => (await stats()).appliedSeq > s1.appliedSeq + 20, 30000, 'lastSeq to advance');
        outages[outages.length - 1][1] = Date.now();
        await page.screenshot({ path: screenshotPath(`resumed-${how}.png`) });
      }
    });

    await t.test('no console errors (connection errors only while the service was down)', () => {
      const during = (e) => outages.some(([a, b]) => e.at >= a && e.at <= b);
      const unexpected = page.errors.filter((e) => !(during(e) && /ERR_CONNECTION_REFUSED|WebSocket connection to|Failed to fetch|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/.test(e.text)));
      assert.deepEqual(unexpected, []);
    });
    writeFileSync(screenshotPath('console.json'), JSON.stringify(page.errors, null, 1));
  } finally {
    client.close();
    await ctx.close();
    await stopDemo(demo, 'SIGKILL');
  }
});
