/*! The refusal path must stay cheap: `taupage ssh-hook` loads no AWS SDK, dockerode, pino or
 * undici, even through dynamic imports (esbuild's metafile lists every input it would bundle). */
import { describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { resolve } from 'node:path';

describe('taupage ssh-hook', () => {
  it('bundles none of the heavy libraries', async () => {
    const result = await build({
      entryPoints: [resolve(import.meta.dirname, '../../../agent/src/cli/ssh-hook.ts')],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
      define: { __TAUPAGE_VERSION__: '"test"' },
    });
    const inputs = Object.keys(result.metafile.inputs);
    const packages = [...new Set(inputs.filter((i) => i.includes('node_modules/')).map((i) => i.replace(/^.*node_modules\/((?:@[^/]+\/)?[^/]+).*$/, '$1')))];
    expect(packages).toEqual(['yaml']);
    expect(inputs.some((i) => i.includes('agent/src/lib/log.ts'))).toBe(false);
  });
});
