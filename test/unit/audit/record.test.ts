import { describe, expect, it } from 'vitest';
import { EMPTY_TIP, hashLine, sealRecord, verifyChain, type AuditFields, type ChainTip } from '../../../agent/src/audit/record.js';

const fields = (i: number): AuditFields => ({
  time: `2026-11-26T10:00:0${i}.000Z`,
  action: 'grant',
  user: `u${i}`,
  result: 'granted',
  reason: 'ok',
  caller: '10.0.0.1 5000',
  instanceId: 'i-0123456789abcdef0',
});

function chain(n: number): { lines: string[]; tip: ChainTip } {
  const lines: string[] = [];
  let tip = EMPTY_TIP;
  for (let i = 1; i <= n; i++) {
    const s = sealRecord(fields(i), tip);
    lines.push(s.line);
    tip = { seq: s.record.seq, hash: s.hash };
  }
  return { lines, tip };
}
const text = (lines: string[]) => lines.map((l) => `${l}\n`).join('');

describe('the audit hash chain', () => {
  it('seals records in a fixed field order, one line each, chained by the previous line hash', () => {
    const { lines } = chain(2);
    expect(Object.keys(JSON.parse(lines[0]!))).toEqual(['seq', 'time', 'action', 'user', 'result', 'reason', 'caller', 'instanceId', 'prev']);
    expect(JSON.parse(lines[0]!).prev).toBe('0'.repeat(64));
    expect(JSON.parse(lines[1]!).prev).toBe(hashLine(lines[0]!));
    const hostile = sealRecord({ ...fields(1), command: 'grant-ssh-access alice\n{"seq":99}' }, EMPTY_TIP).line;
    expect(hostile.split('\n')).toHaveLength(1);
  });

  it('an intact chain verifies, with its tip', () => {
    const { lines, tip } = chain(5);
    expect(verifyChain(text(lines), tip)).toEqual({ ok: true, records: 5, tip });
    expect(verifyChain('')).toMatchObject({ ok: true, records: 0 });
  });

  it('an edited record breaks the chain at the record after it', () => {
    const { lines } = chain(5);
    lines[2] = lines[2]!.replace('"u3"', '"mallory"');
    expect(verifyChain(text(lines))).toMatchObject({ ok: false, seq: 4, reason: expect.stringMatching(/record 4 does not follow record 3/) });
  });

  it('a deleted record is named', () => {
    const { lines } = chain(5);
    lines.splice(1, 1);
    expect(verifyChain(text(lines))).toMatchObject({ ok: false, seq: 2, reason: expect.stringMatching(/record 2 is missing/) });
  });

  it('reordered records are named', () => {
    const { lines } = chain(5);
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    expect(verifyChain(text(lines))).toMatchObject({ ok: false, seq: 2 });
  });

  it('records cut off the end are caught by the head anchor', () => {
    const { lines, tip } = chain(5);
    expect(verifyChain(text(lines.slice(0, 3)), tip)).toMatchObject({
      ok: false,
      seq: 4,
      reason: expect.stringMatching(/records 4..5 are missing from the end/),
    });
  });

  it('a line that is not JSON (a torn write, an edit) is reported with its position', () => {
    const { lines } = chain(3);
    lines[1] = lines[1]!.slice(0, 30);
    expect(verifyChain(text(lines))).toMatchObject({ ok: false, seq: 2, line: 2 });
  });

  it('a recomputed record (edit + fixed seq) still fails: the next prev no longer matches', () => {
    const { lines } = chain(3);
    const forged = sealRecord({ ...fields(2), user: 'mallory' }, { seq: 1, hash: hashLine(lines[0]!) }).line;
    lines[1] = forged;
    expect(verifyChain(text(lines))).toMatchObject({ ok: false, seq: 3 });
  });
});
