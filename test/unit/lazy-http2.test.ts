/*! The agent's bundles load node:http2 only when something uses it (scripts/lib/lazy-http2.mjs):
 * undici and the AWS SDK require it as they load, which cost every boot ~17 ms before its first
 * request. Run in the image's Node, in a process of its own (this one may have loaded http2). */
import { describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { lazyHttp2 } from '../../scripts/lib/lazy-http2.mjs';
import { SEA_NODE } from '../../scripts/lib/single-executable.mjs';

const root = resolve(import.meta.dirname, '../..');

/** Bundle `source` as the agent's build does and run it; its last stdout line, parsed. */
async function run(source: string): Promise<Record<string, unknown>> {
  const out = await build({
    stdin: { contents: source, resolveDir: root, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
    plugins: [lazyHttp2],
  });
  const dir = mkdtempSync(join(tmpdir(), 'lazy-http2-'));
  try {
    writeFileSync(join(dir, 'main.cjs'), out.outputFiles[0]!.text);
    const lines = execFileSync(SEA_NODE, [join(dir, 'main.cjs')], { encoding: 'utf8' })
      .trim()
      .split('\n');
    return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const http2Loaded = "process.moduleLoadList.includes('NativeModule http2')";

describe('node:http2 in the bundles', () => {
  it('undici and the AWS SDK HTTP handler load, and undici makes a request, without loading it', async () => {
    const r = await run(`
      const http = require('node:http');
      const Agent = require('undici/lib/dispatcher/agent.js');
      Object.assign(require('undici/lib/dispatcher/dispatcher.js').prototype, require('undici/lib/api/index.js'));
      require('@smithy/node-http-handler');
      const server = http.createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', async () => {
        const res = await new Agent().request({ origin: 'http://127.0.0.1:' + server.address().port, path: '/', method: 'GET' });
        const body = await res.body.text();
        server.close();
        console.log(JSON.stringify({ status: res.statusCode, body, loaded: ${http2Loaded} }));
      });`);
    expect(r).toEqual({ status: 200, body: 'ok', loaded: false });
  });

  it('hands out the real module once used: its constants as they load, then everything else', async () => {
    const r = await run(`
      const lazy = require('node:http2');
      const early = lazy.constants;
      const before = ${http2Loaded};
      const connect = lazy.connect;
      const real = process.getBuiltinModule('node:http2');
      console.log(JSON.stringify({ before, after: ${http2Loaded}, same: connect === real.connect, constants: JSON.stringify(early) === JSON.stringify(real.constants), keys: Object.keys(lazy).includes('createServer') }));`);
    expect(r).toEqual({ before: false, after: true, same: true, constants: true, keys: true });
  });
});
