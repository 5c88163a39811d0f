/*! A separate process reading the credentials files in a tight loop, as an application would,
 * while a test rotates them. It counts every read that finds a file missing, empty, partial or
 * invalid, and every version that goes backwards; "stop" on stdin prints a summary and exits,
 * and so does the end of stdin (its test is gone).
 * Usage: node credentials-reader.mjs DIR */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const FILES = { 'user.json': ['application_username', 'application_password'], 'client.json': ['client_id', 'client_secret'] };
const SECRET_FIELD = { 'user.json': 'application_password', 'client.json': 'client_secret' };
const stats = { reads: 0, bad: 0, badKinds: {}, regressions: 0, last: {}, firstBad: undefined };
const bad = (kind, file) => {
  stats.bad++;
  stats.badKinds[kind] = (stats.badKinds[kind] ?? 0) + 1;
  stats.firstBad ??= `${file}: ${kind}`;
};

function readOnce(file) {
  let text;
  try {
    text = readFileSync(join(dir, file), 'utf8');
  } catch (e) {
    return bad(e.code === 'ENOENT' ? 'missing' : `read ${e.code}`, file);
  }
  if (text.length === 0) return bad('empty', file);
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return bad('invalid JSON', file);
  }
  if (!FILES[file].every((k) => typeof v[k] === 'string' && v[k])) return bad('fields missing', file);
  // Secrets look like pw-<mark>-<version>-<padding>: the version must never go backwards.
  const version = Number(v[SECRET_FIELD[file]].split('-')[2]);
  if (!(version >= (stats.last[file] ?? 0))) stats.regressions++;
  stats.last[file] = version;
  stats.reads++;
}

let stopping = false;
process.stdin.on('data', (d) => {
  if (String(d).includes('stop')) stopping = true;
});
// The test that started us is gone (failed, timed out, killed): do not spin on for ever.
process.stdin.on('end', () => process.exit(2));
process.stdout.write('ready\n');
(function loop() {
  for (let i = 0; i < 100; i++) for (const f of Object.keys(FILES)) readOnce(f);
  if (stopping) {
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    process.exit(0);
  }
  setImmediate(loop); // let "stop" in between batches, keep reading as fast as possible
})();
