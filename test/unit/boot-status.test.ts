import { describe, it, expect } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { render, formatDuration } from '../../agent/src/cli/status.js';
import { scratchDir } from '../harness/scratch.js';
import { renderMetrics } from '../../agent/src/engine/metrics.js';
import { StatusWriter, type BootStatus } from '../../agent/src/engine/status.js';
import { acquireBootLock, markBootLockFinished, releaseBootLock } from '../../agent/src/engine/lock.js';
import { Scrubber } from '../../agent/src/lib/scrub.js';
import { paths } from '../../agent/src/config/paths.js';
import { silentLogger } from '../../agent/src/lib/log.js';

const base: BootStatus = {
  schemaVersion: 1,
  bootId: 'b-1',
  instanceId: 'i-1',
  configHash: `sha256:${'a'.repeat(64)}`,
  agentVersion: '0.1.0',
  pid: 1,
  startedAt: '2026-01-01T00:00:00.000Z',
  deadline: '2026-01-01T00:10:00.000Z',
  state: 'ended',
  endedAt: '2026-01-01T00:00:02.500Z',
  durationMs: 2500,
  outcome: 'failed',
  errorCode: 'TPG_CREDENTIALS_FAILED',
  message: 'step credentials failed: access denied',
  facts: { signal: 'FAILURE', signalSent: true },
  keys: { applied: ['application_id', 'mounts', 'source'], ignored: ['xray_enabled'], notApplied: ['scalyr_account_key'] },
  steps: [
    { id: 'user-data', title: 'u', phase: 'boot', outcome: 'success', startedAt: '2026-01-01T00:00:00.000Z', durationMs: 120 },
    {
      id: 'credentials',
      title: 'c',
      phase: 'boot',
      outcome: 'failed',
      startedAt: '2026-01-01T00:00:00.120Z',
      durationMs: 2100,
      errorCode: 'TPG_CREDENTIALS_FAILED',
      message: 'access denied',
    },
    {
      id: 'container',
      title: 'c',
      phase: 'boot',
      outcome: 'failed',
      startedAt: '2026-01-01T00:00:02.220Z',
      durationMs: 0,
      errorCode: 'TPG_DEPENDENCY_FAILED',
      message: 'not run: it needs credentials, which failed',
    },
    {
      id: 'ssh',
      title: 's',
      phase: 'boot',
      outcome: 'skipped',
      startedAt: '2026-01-01T00:00:00.120Z',
      durationMs: 0,
      note: 'not asked for (this image does not apply it yet)',
    },
    { id: 'signal', title: 's', phase: 'finally', outcome: 'success', startedAt: '2026-01-01T00:00:02.300Z', durationMs: 200, note: 'FAILURE sent to s/r' },
  ],
};

describe('taupage status rendering', () => {
  it('lists steps slowest first with outcome and reason, like systemd-analyze blame', () => {
    const text = render('failed', base, paths('/x'));
    const rows = text.split('\n').filter((l) => /^\s+(-|\d\S*)\s+\S+\s+(success|failed|skipped|running|pending)\b/.test(l));
    expect(rows.map((r) => r.trim().split(/\s+/)[1])).toEqual(['credentials', 'signal', 'user-data', 'container', 'ssh']);
    expect(text).toContain('state: failed in 2.500s: TPG_CREDENTIALS_FAILED');
    expect(text).toContain('signal: FAILURE sent');
    expect(text).toMatch(/2\.100s credentials\s+failed\s+TPG_CREDENTIALS_FAILED: access denied/);
    expect(text).toMatch(/ - ssh\s+skipped\s+not asked for \(this image does not apply it yet\)/);
    expect(text).toContain('keys applied: application_id, mounts, source');
    expect(text).toContain('keys ignored (accepted, not supported by this image): xray_enabled');
    expect(text).toContain('keys NOT applied by this image (the boot fails with TPG_NOT_APPLIED): scalyr_account_key');
  });

  it('formats durations as systemd does', () => {
    expect([formatDuration(12), formatDuration(1234), formatDuration(61_500), formatDuration(undefined)]).toEqual(['12ms', '1.234s', '1min 1.500s', '-']);
  });
});

describe('boot metrics', () => {
  it('renders Prometheus text with escaped labels and no time to healthy for a failed boot', () => {
    const text = renderMetrics({ ...base, instanceId: 'i-"odd"\\\n' }, Date.parse(base.startedAt) - 500);
    expect(text).toContain('taupage_boot_step_duration_seconds{step="credentials"} 2.1');
    expect(text).not.toContain('taupage_boot_step_duration_seconds{step="ssh"}');
    expect(text).toContain('taupage_boot_step_outcome{step="ssh",outcome="skipped"} 1');
    expect(text).toContain('taupage_boot_success 0');
    expect(text).toContain('taupage_boot_duration_seconds 3');
    expect(text).not.toContain('time_to_healthy');
    expect(text).toContain('instance_id="i-\\"odd\\"\\\\\\n"');
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \S+ .+|[a-z_]+(\{.*\})? [0-9.]+)$/);
    expect(renderMetrics({ ...base, outcome: 'success' }, Date.parse(base.startedAt))).toContain('taupage_boot_time_to_healthy_seconds 2.5');
  });
});

describe('status writer and scrubber', () => {
  it('scrubs registered plaintexts from what it writes, and refuses secret-named facts', async () => {
    const root = await scratchDir('status');
    const p = paths(root);
    const scrubber = new Scrubber();
    scrubber.add('tops3cret"x');
    scrubber.add('abc'); // too short to scrub
    const w = new StatusWriter(
      p,
      { bootId: 'b', startedAt: Date.now(), deadline: Date.now() + 1000, agentVersion: 'v' },
      { scrub: (t) => scrubber.scrub(t), log: silentLogger() },
    );
    w.addStep('a', 'A', 'boot');
    w.ended({ id: 'a', outcome: 'failed', startedAt: Date.now(), durationMs: 1, errorCode: 'TPG_X', message: 'saw tops3cret"x here' });
    w.record('db_password', 'nope');
    w.record('imageDigest', 'sha256:abc');
    await w.finish({ at: Date.now(), outcome: 'failed', errorCode: 'TPG_X', message: 'abc tops3cret"x' });
    const written = await readFile(p.resultFile, 'utf8');
    expect(written).not.toContain('tops3cret');
    expect(written).toContain('saw [redacted] here');
    expect(JSON.parse(written)).toMatchObject({ imageDigest: 'sha256:abc', facts: {}, message: 'abc [redacted]' });
    expect(await readFile(p.statusFile, 'utf8')).toBe(written);
  });

  it('takes over a lock left by an earlier boot, but not one of this boot', async () => {
    const file = join(await scratchDir('lock'), 'run/boot.lock');
    // pid 1 is alive: a boot still running.
    expect(await acquireBootLock(file, { bootId: 'one', pid: 1, startedAt: 't1' })).toEqual({ acquired: true });
    expect(await acquireBootLock(file, { bootId: 'one', pid: 2, startedAt: 't2' })).toMatchObject({
      acquired: false,
      state: 'running',
      holder: { bootId: 'one', pid: 1, startedAt: 't1' },
    });
    expect(await acquireBootLock(file, { bootId: 'two', pid: 3, startedAt: 't3' })).toEqual({ acquired: true });
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ bootId: 'two', pid: 3, startedAt: 't3' });
  });

  it('in the same boot: a finished boot is not run again, one whose process died is', async () => {
    const file = join(await scratchDir('lock'), 'run/boot.lock');
    const me = { bootId: 'b', pid: process.pid, startedAt: 't1' };
    expect(await acquireBootLock(file, me)).toEqual({ acquired: true });
    await markBootLockFinished(file, me, '2026-01-01T00:00:00.000Z');
    expect(await acquireBootLock(file, { bootId: 'b', pid: 999_999, startedAt: 't2' })).toMatchObject({ acquired: false, state: 'finished' });
    // A holder that died without finishing (no such pid, or the pid now another process).
    await writeFile(file, JSON.stringify({ bootId: 'b', pid: 2 ** 22 + 7, startedAt: 't0' }));
    expect(await acquireBootLock(file, me)).toMatchObject({ acquired: true, tookOverFrom: { pid: 2 ** 22 + 7 } });
    await writeFile(file, JSON.stringify({ bootId: 'b', pid: 1, startedAt: 't0', pidStart: 'not-the-start-of-pid-1' }));
    expect(await acquireBootLock(file, me)).toMatchObject({ acquired: true, tookOverFrom: { pid: 1 } });
    // An interrupted boot removes its own lock, and only its own.
    await releaseBootLock(file, { bootId: 'b', pid: 12345 });
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid });
    await releaseBootLock(file, me);
    await expect(readFile(file, 'utf8')).rejects.toThrow(/ENOENT/);
  });
});
