/*! The root service against the people it serves: a granted person, running as themselves, swaps
 * paths in their own home with renameat2(RENAME_EXCHANGE) in a tight loop (race.c, compiled here)
 * while Even re-grants them as fast as the service answers; and a person who tries to outlive a
 * revoke. Black box: real accounts, the real `taupage ssh-service` (root), requests on its real
 * socket, real sshd for logins. Each race runs for a fixed time (RACE_SECONDS) that the service
 * before the hardening lost within (a second for ~/.ssh, a few seconds for ~/.profile, at once
 * for the FIFO); the number of re-grants each got is printed. The swapper stops on SIGTERM and
 * reports its exchanges: a race in which renameat2 never exchanged anything raced nothing, and fails. */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { constants } from 'node:fs';
import { mkdir, open, readdir, lstat, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startLab, waitFor, type Lab, type KeyPair } from './lab.js';
import { encodeRequest, type HookAnswer } from '../../../agent/src/access/hook-protocol.js';

/** How long each race runs. */
const RACE_SECONDS = 3;
/** Every request must be answered within this (the FIFO race is about requests that never are). */
const ANSWER_MS = 10_000;

let lab: Lab;
let race: string;
beforeAll(async () => {
  lab = await startLab();
  race = join(lab.dir, 'race');
  execFileSync('gcc', ['-O2', '-o', race, join(import.meta.dirname, 'race.c')]);
  await chmod(race, 0o755);
}, 60_000);
afterAll(async () => {
  // A service stuck in open() on a FIFO never finishes its queue: do not wait for it forever.
  const pid = lab?.service.pid();
  const killer = setTimeout(() => pid && spawnSync('kill', ['-KILL', String(pid)]), 5_000);
  await lab?.close();
  clearTimeout(killer);
});

const ids = (name: string) => ({
  uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' })),
  gid: Number(execFileSync('id', ['-g', name], { encoding: 'utf8' })),
});
const homeOf = (name: string) => join(lab.paths.home, name);
/** The user's live processes (a zombie is dead already: it waits for its parent, or a slow PID 1, to reap it). */
const procsOf = (uid: number) => (spawnSync('pgrep', ['-U', String(uid), '-r', 'D,R,S,T,t'], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean);

/** Even's request straight on the service's socket (what the forced command sends), answered or
 * 'no answer' after ANSWER_MS. Skipping ssh here lets a race re-grant some hundred times. */
function request(command: string): Promise<HookAnswer | 'no answer'> {
  return new Promise((resolve) => {
    const sock = connect(lab.hookSocket);
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('no answer');
    }, ANSWER_MS);
    sock.on('data', (d) => (data += d));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(data ? (JSON.parse(data) as HookAnswer) : 'no answer');
    });
    sock.write(encodeRequest({ SSH_ORIGINAL_COMMAND: command, SSH_CONNECTION: '127.0.0.1 40000 127.0.0.1 22' }));
  });
}

/** A shell command run by the person, as themselves, in their home. */
function asPerson(name: string, script: string): string {
  return execFileSync('/bin/sh', ['-c', script], { ...ids(name), cwd: homeOf(name), env: { HOME: homeOf(name), PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
}

/** A granted person (first grant through ssh, as Even does it). */
async function grantedPerson(prefix: string): Promise<{ name: string; key: KeyPair }> {
  const name = lab.user(prefix);
  const key = lab.keygen(name);
  lab.even.keys.set(name, key.text);
  const r = await lab.hook(`grant-ssh-access ${name}`);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return { name, key };
}

interface RaceResult {
  /** Whether `lost` ever held (checked after every answer). */
  lost: boolean;
  grants: number;
  failed: string[];
  noAnswer: number;
  /** Exchanges renameat2 made: none, and nothing raced. */
  exchanges: number;
  /** renameat2 calls that failed (a name the service had just removed). */
  exchangeErrors: number;
}

/** The person swaps A and B in their home for RACE_SECONDS while Even re-grants them in a loop;
 * `lost` is checked after every answer and stops the race early once the service has lost. */
async function raceRegrants(name: string, a: string, b: string, bait: string, lost: () => Promise<boolean>): Promise<RaceResult> {
  const swapper = spawn(race, ['swap', a, b, String(RACE_SECONDS), bait], { ...ids(name), cwd: homeOf(name), stdio: ['ignore', 'pipe', 'inherit'] });
  let swaps = '';
  swapper.stdout.on('data', (d) => (swaps += d));
  const swapped = new Promise((r) => swapper.on('exit', r));
  const result: RaceResult = { lost: false, grants: 0, failed: [], noAnswer: 0, exchanges: 0, exchangeErrors: 0 };
  const until = Date.now() + RACE_SECONDS * 1000;
  while (Date.now() < until) {
    const answer = await request(`grant-ssh-access ${name}`);
    if (answer === 'no answer') {
      result.noAnswer++;
      break;
    }
    result.grants++;
    if (answer.exit !== 0) result.failed.push(answer.stderr.trim());
    if (await lost()) {
      result.lost = true;
      break;
    }
  }
  // The swapper stops on SIGTERM (or at RACE_SECONDS) and prints its counts; killed, it printed none.
  swapper.kill('SIGTERM');
  const killer = setTimeout(() => swapper.kill('SIGKILL'), 5_000);
  await swapped;
  clearTimeout(killer);
  const counts = /^(\d+) (\d+)$/.exec(swaps.trim());
  if (counts) [result.exchanges, result.exchangeErrors] = [Number(counts[1]), Number(counts[2])];
  console.info(
    `${name}: ${result.grants} re-grant(s) in the race, ${result.failed.length} failed, swapper: ${counts ? `${result.exchanges} exchange(s), ${result.exchangeErrors} failed` : `no counts (${JSON.stringify(swaps)})`}`,
  );
  return result;
}

/** A file's text as root, never through a link (the swapper swaps names under the test too). */
async function readPlain(path: string): Promise<string> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return '';
  try {
    return (await fh.stat()).isFile() ? await fh.readFile('utf8') : '';
  } finally {
    await fh.close();
  }
}

/** Every regular file under dir (not following links), as root. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('a granted person swapping paths in their home while Even re-grants them', () => {
  it('~/.ssh swapped with a link to a root-only directory: the directory stays root-only, nothing is written into it', async () => {
    const { name } = await grantedPerson('race-ssh');
    // Stands for /etc, or granting-service's ~/.ssh: root's, 0700, one file.
    const target = join(lab.dir, `root-only-${randomBytes(3).toString('hex')}`);
    await mkdir(target, { mode: 0o700 });
    await writeFile(join(target, 'passwd'), 'root:x:0:0\n', { mode: 0o600 });
    asPerson(name, `mkdir -p .ssh && ln -s ${target} decoy`);
    const intact = async () => {
      const st = await stat(target);
      return st.uid === 0 && (st.mode & 0o7777) === 0o700 && (await readdir(target)).join() === 'passwd';
    };
    const r = await raceRegrants(name, '.ssh', 'decoy', `link:${target}`, async () => !(await intact()));
    expect(r.lost).toBe(false);
    const st = await stat(target);
    expect({ uid: st.uid, mode: (st.mode & 0o7777).toString(8), files: await readdir(target) }).toEqual({ uid: 0, mode: '700', files: ['passwd'] });
    expect(r.noAnswer).toBe(0);
    expect(r.grants).toBeGreaterThan(10);
    expect(r.exchanges).toBeGreaterThan(0);
  });

  it('~/.profile swapped with a link to a root-only file: its content never reaches a file the person can read', async () => {
    const { name } = await grantedPerson('race-profile');
    const secret = join(lab.dir, `shadow-${randomBytes(3).toString('hex')}`);
    const marker = `TOPSECRET-${randomBytes(8).toString('hex')}`;
    await writeFile(secret, `root:${marker}:19000:0:99999:7:::\n`, { mode: 0o600 });
    asPerson(name, `ln -s ${secret} decoy`);
    const leaked = async () => {
      for (const f of await filesUnder(homeOf(name))) if ((await readPlain(f)).includes(marker)) return true;
      return false;
    };
    const r = await raceRegrants(name, '.profile', 'decoy', `link:${secret}`, leaked);
    expect(r.lost).toBe(false);
    expect(await leaked()).toBe(false);
    const st = await lstat(secret);
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o600]);
    expect(r.noAnswer).toBe(0);
    expect(r.grants).toBeGreaterThan(10);
    expect(r.exchanges).toBeGreaterThan(0);
  });

  it('~/.ssh/authorized_keys swapped with a FIFO: every request is still answered, and the service serves others after', async () => {
    const { name } = await grantedPerson('race-fifo');
    asPerson(name, 'mkdir -p .ssh && touch .ssh/authorized_keys && mkfifo .ssh/fifo');
    const r = await raceRegrants(name, '.ssh/authorized_keys', '.ssh/fifo', 'fifo', async () => false);
    expect(r.noAnswer).toBe(0);
    expect(r.grants).toBeGreaterThan(10);
    expect(r.exchanges).toBeGreaterThan(0);
    // Nothing holds the lock: another person's grant goes through at once.
    const other = lab.user('after-fifo');
    lab.even.keys.set(other, lab.keygen(other).text);
    const answer = await request(`grant-ssh-access ${other}`);
    expect(answer).toMatchObject({ exit: 0 });
  });
});

describe('a person who tries to keep access after a revoke', () => {
  it('~/.ssh/authorized_keys made a non-empty directory: the revoke still ends their processes and their access', async () => {
    const { name, key } = await grantedPerson('eisdir');
    const { uid } = ids(name);
    asPerson(name, 'rm -rf .ssh/authorized_keys && mkdir -p .ssh/authorized_keys/x && (setsid sleep 300 </dev/null >/dev/null 2>&1 &)');
    await waitFor('their process', () => procsOf(uid).length > 0);
    const answer = await request(`revoke-ssh-access ${name}`);
    expect(answer).toMatchObject({ exit: 0, stdout: expect.stringMatching(/revoked/) });
    expect(procsOf(uid)).toEqual([]);
    expect((await lab.ssh(name, key, 'id')).stdout).toMatch(/^Your SSH access was revoked/);
    expect((await lab.audit()).at(-1)).toMatchObject({ user: name, action: 'revoke', result: 'revoked' });
  });

  it('a process that forks to a new pid faster than a scan of /proc is gone after the revoke', async () => {
    const { name, key } = await grantedPerson('hopper');
    const { uid } = ids(name);
    // Started in their own ssh session, detached from it, bounded so a failed test cannot leave it running.
    const started = await lab.ssh(name, key, `setsid ${race} hop 20 </dev/null >/dev/null 2>&1 & echo started`);
    expect(started.stdout).toBe('started\n');
    await waitFor('the hopping process', () => procsOf(uid).length > 0);
    const answer = await request(`revoke-ssh-access ${name}`);
    expect(answer).toMatchObject({ exit: 0 });
    // Give a survivor time to show itself: a hop takes microseconds.
    await new Promise((r) => setTimeout(r, 300));
    expect(procsOf(uid)).toEqual([]);
  });
});
