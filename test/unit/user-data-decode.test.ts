// The 16 KiB EC2 limit is on what EC2 stores: a gzipped document's compressed size. Decompression
// is bounded, so a small gzip cannot expand into gigabytes.
import { describe, it, expect } from 'vitest';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeUserData, USER_DATA_MAX_BYTES, USER_DATA_MAX_DECOMPRESSED_BYTES } from '../../agent/src/user-data/decode.js';
import { validateUserData } from '../../agent/src/user-data/validate.js';
import { main } from '../../agent/src/main.js';
import { scratchRoot } from '../harness/scratch.js';
import { memoryIo } from '../harness/io.js';

const DOC = '#taupage-ami-config\napplication_id: my-app\napplication_version: "1.0"\nruntime: Docker\nsource: pierone.stups.zalan.do/team/my-app:1.0\n';
/** A valid document of about 40 KiB that gzips to well under 16 KiB (a long, repetitive comment). */
const LARGE = `${DOC}${'# the same long comment line, as teams paste licence headers and certificates\n'.repeat(520)}`;

describe('user data as EC2 stores it', () => {
  it('a gzip under 16 KiB whose text is larger is accepted (the issue: 946 bytes refused)', () => {
    const zipped = gzipSync(LARGE);
    expect(zipped.length).toBeLessThan(2_000);
    expect(Buffer.byteLength(LARGE)).toBeGreaterThan(USER_DATA_MAX_BYTES);
    const d = decodeUserData(zipped);
    expect(d).toMatchObject({ ok: true, compressed: true, storedBytes: zipped.length });
    if (!d.ok) return;
    expect(d.text).toBe(LARGE);
    expect(validateUserData(d.text, { storedBytes: d.storedBytes })).toMatchObject({ valid: true });
    // Without the stored size, the same text is over the limit: the limit is EC2's, on bytes stored.
    expect(validateUserData(d.text).errors.map((e) => e.code)).toEqual(['TPG_UD_TOO_LARGE']);
  });

  it('plain text over 16 KiB, and a gzip over 16 KiB, are refused', () => {
    expect(decodeUserData(Buffer.from(LARGE))).toMatchObject({ ok: false, issue: { code: 'TPG_UD_TOO_LARGE' } });
    const noise = randomBytes(40_000);
    const zipped = gzipSync(noise);
    expect(zipped.length).toBeGreaterThan(USER_DATA_MAX_BYTES);
    expect(decodeUserData(zipped)).toMatchObject({ ok: false, compressed: true, issue: { code: 'TPG_UD_TOO_LARGE', message: /\(gzipped\)/ } });
  });

  it('a gzip bomb stops at the bound, and corrupt gzip is named', () => {
    const bomb = gzipSync(Buffer.alloc(12 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(USER_DATA_MAX_BYTES);
    const d = decodeUserData(bomb);
    expect(d).toMatchObject({
      ok: false,
      issue: { code: 'TPG_UD_TOO_LARGE', message: new RegExp(`more than ${USER_DATA_MAX_DECOMPRESSED_BYTES / 1024} KiB`) },
    });
    const cut = gzipSync(DOC).subarray(0, 20);
    expect(decodeUserData(cut)).toMatchObject({ ok: false, issue: { code: 'TPG_UD_GZIP' } });
  });

  it('taupage validate takes a gzipped file the same way', async () => {
    const dir = await scratchRoot();
    const file = join(dir, 'user-data.gz');
    await writeFile(file, gzipSync(LARGE));
    const first = memoryIo();
    expect(await main(['validate', file], first.io)).toBe(0);
    expect(first.out()).toContain(': valid');
    await writeFile(file, gzipSync(Buffer.alloc(8 * 1024 * 1024)));
    const second = memoryIo();
    expect(await main(['validate', '--json', file], second.io)).toBe(1);
    expect(JSON.parse(second.out())).toMatchObject({ valid: false, errors: [{ code: 'TPG_UD_TOO_LARGE' }] });
  });
});
