/*! Pure parts of the credentials feature: what counts as a Mint object, how S3's answers become
 * errors that say what to do, the watcher's jitter, and stale temp files. */
import { describe, expect, it } from 'vitest';
import { writeFile, utimes, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { checkCredentialFile } from '../../agent/src/steps/credentials/validate.js';
import { scratchDir } from '../harness/scratch.js';
import { mapS3Error } from '../../agent/src/adapters/aws/s3.js';
import { nextDelayMs } from '../../agent/src/steps/credentials/watch.js';
import { removeStaleTemps } from '../../agent/src/steps/credentials/files.js';

const where = { bucket: 'b-stups-mint-1-eu-west-1', key: 'kio/user.json', region: 'eu-central-1' };
const s3Error = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} from S3`), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}), ...extra });

describe('checkCredentialFile', () => {
  it('accepts what Mint writes, extra fields included', () => {
    expect(checkCredentialFile('user.json', '{"application_username":"u","application_password":"p","x":1}')).toEqual({ ok: true });
    expect(checkCredentialFile('client.json', '{"client_id":"c","client_secret":"s"}')).toEqual({ ok: true });
  });

  it.each([
    ['user.json', '', /is empty/],
    ['user.json', '{"application_username":"u","application_password":"sec', /is not valid JSON/],
    ['user.json', '"secret"', /a JSON string, not a JSON object/],
    ['user.json', 'null', /is null/],
    ['client.json', '{"client_id":"c"}', /lacks client_secret/],
    ['client.json', '{"client_id":"c","client_secret":""}', /client_secret that is not a non-empty string/],
    ['user.json', '{"application_username":1,"application_password":"secret"}', /application_username that is not/],
    // The other file's fields are not this file's.
    ['user.json', '{"client_id":"c","client_secret":"secret"}', /lacks application_username and application_password/],
  ] as const)('%s %j is refused: %s', (file, text, problem) => {
    const r = checkCredentialFile(file, text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problem).toMatch(problem);
      expect(r.problem).not.toContain('secret"'); // never quotes the content
      expect(r.problem).not.toMatch(/\bsec\b|"secret/);
    }
  });
});

describe('mapS3Error', () => {
  it('403: names the permission the role needs, on the app prefix', () => {
    const e = mapS3Error(s3Error('AccessDenied', 403), where);
    expect(e.code).toBe('TPG_S3_ACCESS_DENIED');
    expect(e.hint).toContain('s3:GetObject on arn:aws:s3:::b-stups-mint-1-eu-west-1/kio/*');
    expect(e.retriable).toBe(false);
    expect(mapS3Error(s3Error('InvalidAccessKeyId', 403), where).hint).toContain('credentials themselves are wrong');
  });

  it('404: a missing object and a missing bucket say different things', () => {
    expect(mapS3Error(s3Error('NoSuchKey', 404), where).hint).toContain('Mint has not synced');
    const b = mapS3Error(s3Error('NoSuchBucket', 404), where);
    expect(b.message).toBe('bucket b-stups-mint-1-eu-west-1 does not exist');
    expect(b.hint).toContain('mint_bucket is wrong');
  });

  it('wrong region: from a redirect header or the AuthorizationHeaderMalformed answer', () => {
    const e = mapS3Error(s3Error('PermanentRedirect', 301, { $response: { headers: { 'x-amz-bucket-region': 'eu-west-1' } } }), where);
    expect(e.code).toBe('TPG_S3_WRONG_REGION');
    expect(e.message).toContain('is not in eu-central-1 but in eu-west-1');
    expect(mapS3Error(s3Error('AuthorizationHeaderMalformed', 400, { Region: 'eu-west-1' }), where).details?.bucketRegion).toBe('eu-west-1');
  });

  it.each([
    ['SlowDown', 503],
    ['InternalError', 500],
    ['TooManyRequests', 429],
    ['ECONNREFUSED', undefined],
  ])('%s (%s) is retriable: S3 unavailable', (name, status) => {
    const e = mapS3Error(s3Error(name, status), where);
    expect(e.code).toBe('TPG_S3_UNAVAILABLE');
    expect(e.retriable).toBe(true);
  });

  it('a cancelled request reports the cancellation, not a network error', () => {
    const c = new AbortController();
    c.abort();
    expect(mapS3Error(s3Error('AbortError'), where, c.signal).code).toBe('TPG_CANCELLED');
  });
});

describe('nextDelayMs', () => {
  it('adds up to the jitter, never more than half the interval', () => {
    expect(nextDelayMs(120_000, 15_000, () => 0)).toBe(120_000);
    expect(nextDelayMs(120_000, 15_000, () => 0.999999)).toBe(135_000);
    expect(nextDelayMs(50, 15_000, () => 0.999999)).toBe(75);
  });
});

describe('removeStaleTemps', () => {
  it('removes only old temp files of the credentials files', async () => {
    const dir = await scratchDir('tmp');
    for (const f of ['.user.json.1.aa.tmp', '.client.json.2.bb.tmp', '.user.json.3.cc.tmp', '.other.1.dd.tmp', 'user.json']) await writeFile(join(dir, f), 'x');
    const old = new Date(Date.now() - 3_600_000);
    for (const f of ['.user.json.1.aa.tmp', '.client.json.2.bb.tmp', '.other.1.dd.tmp']) await utimes(join(dir, f), old, old);
    expect(await removeStaleTemps(dir, ['user.json', 'client.json'], Date.now())).toBe(2);
    expect((await readdir(dir)).sort()).toEqual(['.other.1.dd.tmp', '.user.json.3.cc.tmp', 'user.json']);
  });
});
