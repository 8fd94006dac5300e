// tests/web/screenshot.mjs: makes docs/web-view.png (the README's and docs/web.md's picture of the web view)
// from a run of `twinloom demo --diagnostics` at 1280x720: the whole plant, a BIW station selected.
// Run: cd tests/web && npm ci && node screenshot.mjs [OUT.png]   (default: docs/web-view.png)
import { join } from 'node:path';
import { ROOT, freePort, launchBrowser, openView, sleep, startDemo, stopDemo, tempDir } from './lib.mjs';

const out = process.argv[2] || join(ROOT, 'docs', 'web-view.png');
const port = await freePort();
const demo = await startDemo({ port, out: tempDir('twinloom-web-shot-'), args: ['--diagnostics'] });
const ctx = await launchBrowser();
try {
  const page = await openView(ctx, `http://127.0.0.1:${port}/`);
  await page.evaluate(() => twinloomDebug.select('/Plant/BIW/Line/Station02'));
  await sleep(Number(process.env.SHOT_WAIT_S || 40) * 1000);  // anomalies need the detectors' warm-up
  await page.screenshot({ path: out });
  console.log(`wrote ${out}; page errors: ${page.errors.length}`);
} finally {
  await ctx.close();
  await stopDemo(demo, 'SIGKILL');
}
