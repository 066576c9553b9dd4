// The layer check (docs/design.md "Layers"): a module of src/ imports only from
// its own package or a lower layer, so no package-level cycle can form.
//
//   node scripts/check-layers.mjs [--update]
//
// The imports that break the order today are listed, one `from -> to` per line,
// in scripts/layer-debt.txt: the check fails on any other upward import, and on
// a listed one that is gone (delete its line: the debt only shrinks). --update
// rewrites the list from the tree, for a reviewer to read in the diff.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(repo, 'src');
const debtPath = join(repo, 'scripts', 'layer-debt.txt');

/** Lowest first. A root file is placed by its name; the rest by their folder. */
const LAYERS = [
  ['errors.ts', 'errno.ts', 'time-format.ts', 'version.ts'],
  ['config'],
  ['observability'],
  ['zone'],
  ['balancer'],
  ['peer', 'codec'],
  ['keepalive'],
  ['upstream'],
  ['http'],
  ['protocols'],
  ['process'],
  ['modules.ts', 'api'],
  ['index.ts', 'cli.ts', 'worker-main.ts'],
];

function rankOf(file) {
  const parts = file.split('/');
  const key = parts.length === 1 ? parts[0] : parts[0];
  const i = LAYERS.findIndex((names) => names.includes(key));
  if (i === -1) throw new Error(`${file}: its folder is in no layer of scripts/check-layers.mjs`);
  return i;
}

function* sources(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

const found = new Set();
for (const path of sources(src)) {
  const from = relative(src, path);
  const text = readFileSync(path, 'utf8');
  for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '(\.[^']+)'/gms)) {
    const to = relative(src, normalize(join(dirname(path), m[1]))).replace(/\.js$/, '.ts');
    const fromPkg = from.split('/')[0];
    const toPkg = to.split('/')[0];
    if (fromPkg === toPkg && from.includes('/')) continue;
    if (rankOf(to) > rankOf(from)) found.add(`${from} -> ${to}`);
  }
}

if (process.argv.includes('--update')) {
  writeFileSync(debtPath, `# Upward imports of src/ that the layer order (scripts/check-layers.mjs) does not allow yet.\n# Each line is debt: fix the import and delete the line; never add one by hand.\n${[...found].sort().join('\n')}\n`);
  console.log(`layer debt: ${found.size} imports written to scripts/layer-debt.txt`);
  process.exit(0);
}

const debt = new Set(readFileSync(debtPath, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#')));
const added = [...found].filter((e) => !debt.has(e));
const paid = [...debt].filter((e) => !found.has(e));
for (const e of added) console.error(`layers: upward import not allowed: ${e}`);
for (const e of paid) console.error(`layers: no longer imported, delete its line in scripts/layer-debt.txt: ${e}`);
if (added.length > 0 || paid.length > 0) process.exit(1);
console.log(`layers: ok (${debt.size} upward imports of debt left)`);
