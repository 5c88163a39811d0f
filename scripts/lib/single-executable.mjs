// Node's single-executable-application packaging, shared by scripts/build.mjs (the agent) and the
// benchmarks (their baselines are packaged exactly like the agent, so both pay the same start).
import { writeFileSync, copyFileSync, chmodSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The fuse postject flips in the node binary; fixed by Node for every version with SEA. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * Write `out`: a copy of this node binary running `main` (a CommonJS file), with Node's code cache
 * for it and the given assets (name → file). Intermediate files are removed.
 * @param {{ main: string, out: string, assets?: Record<string, string> }} options
 */
export function makeSingleExecutable({ main, out, assets = {} }) {
  const blob = `${out}.blob`;
  const config = `${out}.sea.json`;
  writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }));
  try {
    execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
    copyFileSync(process.execPath, out);
    chmodSync(out, 0o755);
    // postject warns "Can't find string offset for section name '.note.100'" on Debian's node: harmless.
    execFileSync(process.execPath, [join(root, 'node_modules/postject/dist/cli.js'), out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], {
      stdio: 'ignore',
    });
  } finally {
    rmSync(blob, { force: true });
    rmSync(config, { force: true });
  }
}
