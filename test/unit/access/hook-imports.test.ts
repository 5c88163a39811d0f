/*! `taupage ssh-hook` (granting-service's forced command) must start about as fast as `node -e 0`:
 * the client loads node:net and a few small modules of ours, no package, no config or YAML, no
 * node:crypto; and the single executable's main script is only that client (the agent is read
 * from an asset for every other command). esbuild's metafile lists everything a bundle would hold. */
import { describe, expect, it } from 'vitest';
import { build, type Metafile } from 'esbuild';
import { resolve } from 'node:path';

const src = resolve(import.meta.dirname, '../../../agent/src');

async function bundle(entry: string, format: 'esm' | 'cjs'): Promise<{ meta: Metafile; bytes: number }> {
  const result = await build({
    entryPoints: [resolve(src, entry)],
    bundle: true,
    write: false,
    platform: 'node',
    format,
    metafile: true,
    logLevel: 'silent',
    minifyWhitespace: true,
    define: { __TAUPAGE_VERSION__: '"test"' },
  });
  return { meta: result.metafile, bytes: result.outputFiles[0]!.contents.length };
}

const ours = (meta: Metafile) => Object.keys(meta.inputs).map((i) => i.replace(/^.*agent\/src\//, ''));
const builtins = (meta: Metafile) => [...new Set(Object.values(meta.inputs).flatMap((i) => i.imports.filter((x) => x.external).map((x) => x.path)))].sort();

describe('taupage ssh-hook, the thin client', () => {
  it('bundles no package, no config, no YAML and no node:crypto', async () => {
    const { meta } = await bundle('cli/ssh-hook.ts', 'esm');
    expect(ours(meta).sort()).toEqual(['access/hook-protocol.ts', 'cli/ssh-hook.ts', 'lib/errors.ts']);
    expect(builtins(meta)).toEqual(['node:net']);
  });

  it("is all the single executable's main script holds besides the loader (a few KB, not the 2.4 MB agent)", async () => {
    const { meta, bytes } = await bundle('sea-main.ts', 'cjs');
    expect(ours(meta).sort()).toEqual(['access/hook-protocol.ts', 'cli/io.ts', 'cli/ssh-hook.ts', 'lib/errors.ts', 'sea-main.ts']);
    expect(builtins(meta)).toEqual(['node:fs/promises', 'node:net', 'node:sea', 'node:vm']);
    expect(bytes).toBeLessThan(20_000);
  });
});
