import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshAuditLog } from '../../../agent/src/audit/ssh-audit-log.js';
import { verifyChain, type AuditFields } from '../../../agent/src/audit/record.js';
import { acquireLock } from '../../../agent/src/lib/file-lock.js';

let dir: string;
let log: SshAuditLog;
const paths = () => ({ file: join(dir, 'log', 'ssh-audit.jsonl'), spill: join(dir, 'run', 'spill.jsonl'), head: join(dir, 'state', 'head') });
const fields = (user: string): AuditFields => ({
  time: new Date().toISOString(),
  action: 'grant',
  user,
  result: 'refused',
  reason: 'test',
  caller: 'local',
  instanceId: 'unknown',
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tpg-audit-'));
  log = new SshAuditLog(paths());
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('SshAuditLog', () => {
  it('appends chained records to a 0600 file and keeps the head anchor', async () => {
    await log.append(fields('a'));
    const second = await log.append(fields('b'));
    expect(second.record.seq).toBe(2);
    expect(second.where).toBe('log');
    expect((await stat(paths().file)).mode & 0o777).toBe(0o600);
    expect(verifyChain(await log.readText(), await log.readHead())).toMatchObject({ ok: true, records: 2 });
  });

  it('continues the chain across instances (each hook run is a new process)', async () => {
    await log.append(fields('a'));
    await new SshAuditLog(paths()).append(fields('b'));
    expect(verifyChain(await readFile(paths().file, 'utf8'))).toMatchObject({ ok: true, records: 2 });
  });

  it('fails with TPG_AUDIT_WRITE_FAILED when the log cannot be written', async () => {
    await writeFile(join(dir, 'log'), 'a file where the directory should be');
    await expect(log.append(fields('a'))).rejects.toMatchObject({ code: 'TPG_AUDIT_WRITE_FAILED' });
  });

  it('after a torn last line, starts a new line and verify names the torn one', async () => {
    await log.append(fields('a'));
    await appendFile(paths().file, '{"seq":2,"ti');
    await log.append(fields('b'));
    const text = await readFile(paths().file, 'utf8');
    expect(text.split('\n')).toHaveLength(4);
    expect(verifyChain(text)).toMatchObject({ ok: false, seq: 2, line: 2 });
  });

  it('spilled records (written while the disk was full) are read in order and moved into the log later', async () => {
    const first = await log.append(fields('a'));
    // As if the disk had been full for the next record: it went to the spill file, same chain.
    const { sealRecord, hashLine } = await import('../../../agent/src/audit/record.js');
    const spilled = sealRecord(fields('b'), { seq: first.record.seq, hash: hashLine(first.line) });
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'run'), { recursive: true }));
    await writeFile(paths().spill, `${spilled.line}\n`);
    expect(verifyChain(await log.readText())).toMatchObject({ ok: true, records: 2 });
    const third = await log.append(fields('c'));
    expect(third).toMatchObject({ where: 'log', record: { seq: 3 } });
    await expect(stat(paths().spill)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(verifyChain(await readFile(paths().file, 'utf8'), await log.readHead())).toMatchObject({ ok: true, records: 3 });
  });

  it('concurrent writers under the hook lock never fork the chain', async () => {
    const lockPath = join(dir, 'hook.lock');
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const lock = await acquireLock(lockPath, { timeoutMs: 10_000, pollMs: 2 });
        try {
          await new SshAuditLog(paths()).append(fields(`u${i}`));
        } finally {
          await lock.release();
        }
      }),
    );
    expect(verifyChain(await readFile(paths().file, 'utf8'))).toMatchObject({ ok: true, records: 20 });
  });
});
