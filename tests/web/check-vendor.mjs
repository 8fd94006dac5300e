// tests/web/check-vendor.mjs: checks that the vendored three.js (web/assets/vendor/three/) is the pinned
// version, untouched: VERSION holds an exact version, the REVISION constant inside three.core.min.js
// (read by importing the module, not by pattern) is that version's minor number, every file listed in
// SHA256SUMS (written by web/refresh-three) has that sha256, and nothing else lives in the folder.
// Run: node tests/web/check-vendor.mjs   (no dependencies; exits 1 with the reasons on a mismatch)
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web', 'assets', 'vendor', 'three');
const problems = [];

const version = readFileSync(join(dir, 'VERSION'), 'utf8').trim();
const m = /^0\.(\d+)\.(\d+)$/.exec(version);
if (!m) problems.push(`VERSION is not an exact 0.N.P version: '${version}'`);

// three.js's REVISION is the minor number of its npm version ("184" for 0.184.x).
const core = await import(pathToFileURL(join(dir, 'three.core.min.js')).href);
if (!m || core.REVISION !== m[1]) problems.push(`three.core.min.js REVISION '${core.REVISION}' does not match VERSION ${version}`);
const moduleText = readFileSync(join(dir, 'three.module.min.js'), 'utf8');
if (!moduleText.includes('"./three.core.min.js"')) problems.push('three.module.min.js does not import ./three.core.min.js');
const orbit = readFileSync(join(dir, 'OrbitControls.js'), 'utf8');
if (!orbit.includes("from './three.module.min.js';") || /from 'three'/.test(orbit)) problems.push('OrbitControls.js does not import ./three.module.min.js');

const listed = new Set(['SHA256SUMS']);
for (const line of readFileSync(join(dir, 'SHA256SUMS'), 'utf8').split('\n').filter(Boolean)) {
  const [sum, name] = line.split(/\s+\*?/);
  listed.add(name);
  const actual = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
  if (actual !== sum) problems.push(`${name}: sha256 ${actual}, SHA256SUMS says ${sum}`);
}
for (const f of ['three.module.min.js', 'three.core.min.js', 'OrbitControls.js', 'LICENSE', 'VERSION']) {
  if (!listed.has(f)) problems.push(`SHA256SUMS does not list ${f}`);
}
for (const f of readdirSync(dir)) if (!listed.has(f)) problems.push(`${f} is not in SHA256SUMS`);

if (problems.length) {
  console.error(`vendored three.js: ${problems.length} problem(s)\n  ${problems.join('\n  ')}\nrun web/refresh-three`);
  process.exit(1);
}
console.log(`vendored three.js ${version} (REVISION ${core.REVISION}): ${listed.size - 1} files match SHA256SUMS`);
