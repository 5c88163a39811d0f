/*! lib/run-tool against real processes: what root code learns from a tool it runs. */
import { describe, expect, it } from 'vitest';
import { open, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runTool, type ToolNotRun } from '../../../agent/src/lib/run-tool.js';

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as ToolNotRun,
  );

describe('runTool', () => {
  it('gives the exit code and output; a non-zero exit is an answer; stdin is empty, the environment fixed', async () => {
    expect(await runTool('sh', ['-c', 'echo out; echo err >&2; exit 3'])).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(await runTool('sh', ['-c', 'read x; echo "read:$?:$LC_ALL:$PATH"'])).toMatchObject({ code: 0, stdout: 'read:1:C:/usr/sbin:/usr/bin:/sbin:/bin\n' });
  });

  it('a tool that is not there, outlives its time, is cancelled or prints too much is ToolNotRun, saying which', async () => {
    expect(await failure(runTool('no-such-tool-here', []))).toMatchObject({ reason: 'not run', why: expect.stringContaining('ENOENT') });
    expect(await failure(runTool('sleep', ['5'], { timeoutMs: 50 }))).toMatchObject({ reason: 'timeout', why: 'did not end within 50 ms' });
    const c = new AbortController();
    const running = runTool('sleep', ['5'], { signal: c.signal });
    c.abort(new Error('boot over'));
    expect(await failure(running)).toMatchObject({ reason: 'cancelled' });
    expect(await failure(runTool('head', ['-c', '100000', '/dev/zero'], { maxBuffer: 1000 }))).toMatchObject({
      reason: 'not run',
      why: 'printed more than 1000 bytes',
    });
    expect(await failure(runTool('sh', ['-c', 'kill -KILL $$']))).toMatchObject({ reason: 'not run', why: 'was killed by SIGKILL' });
  });

  it('hands descriptors on as the tool 3, 4, ...', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'run-tool-'));
    try {
      await writeFile(join(dir, 'a'), 'from a');
      const a = await open(join(dir, 'a'), 'r');
      try {
        expect((await runTool('cat', ['/proc/self/fd/3'], { fds: [a.fd] })).stdout).toBe('from a');
      } finally {
        await a.close();
      }
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
