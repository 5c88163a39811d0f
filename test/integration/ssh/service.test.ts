/*! The SSH access service and its socket: what happens when the service is down, when the
 * socket gets garbage, oversized or slow requests, when the client hangs up mid-grant, who may
 * connect, systemd's socket hand-over, and agent.yaml reloads (with syslog down: the file stays
 * the record of truth). Real sshd, ssh, rsyslogd and the built agent, as in the other SSH tests. */
import { describe, expect, it } from 'vitest';
import { createConnection } from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { readFile, stat, writeFile, rm, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify, parse } from 'yaml';
import { passwdHas, run, waitFor } from './lab.js';
import { useLab } from '../../harness/lifecycle.js';
import { decodeAnswer, type HookAnswer } from '../../../agent/src/access/hook-protocol.js';

const lab = useLab();

const idOf = (flag: '-u' | '-g', name: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());

/** Connect to a socket, write `data` (and half-close when `end`), collect what comes back until the
 * service closes the connection. */
function talk(path: string, data: string | Buffer, options: { end?: boolean } = {}): Promise<{ raw: string; answer?: HookAnswer }> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const sock = createConnection(path, () => {
      sock.write(data);
      if (options.end) sock.end();
    });
    sock.on('data', (d) => (raw += d));
    sock.on('error', reject);
    sock.on('close', () => resolve({ raw, ...(raw ? { answer: decodeAnswer(raw.split('\n')[0]!) } : {}) }));
  });
}

describe('the service is down', () => {
  it('the client says so and exits 5; nothing is changed or recorded; a killed service is replaced on start', async () => {
    const u = lab.user('down');
    lab.even.keys.set(u, lab.keygen(u).text);
    const before = (await lab.audit()).length;
    expect(await lab.service.stop()).toBe(0);
    try {
      expect(existsSync(lab.hookSocket)).toBe(false);
      const r = await lab.hook(`grant-ssh-access ${u}`);
      expect(r.code).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        /^taupage ssh-hook: error TPG_SSH_SERVICE_UNAVAILABLE: the SSH access service is not running \(.*: no such socket\); nothing was changed\n {2}hint: start it/,
      );
    } finally {
      await lab.service.start();
    }
    // Killed outright, it leaves its socket behind: the client still says "not running" ...
    process.kill(lab.service.pid()!, 'SIGKILL');
    expect(await lab.service.stop()).toBe(null);
    try {
      expect((await stat(lab.hookSocket)).isSocket()).toBe(true);
      const r = await lab.hook(`grant-ssh-access ${u}`);
      expect([r.code, r.stderr]).toEqual([5, expect.stringMatching(/TPG_SSH_SERVICE_UNAVAILABLE: .*nothing listens on it\); nothing was changed/)]);
    } finally {
      // ... and a new service replaces the stale socket.
      await lab.service.start();
    }
    expect(await passwdHas(u)).toBe(false);
    expect((await lab.audit()).length).toBe(before);
    expect((await lab.hook(`grant-ssh-access ${u}`)).code).toBe(0);
  });

  it('a second service on the same socket refuses to start (exit 4) and leaves the first one alone', async () => {
    const r = await run(lab.agent[0]!, [...lab.agent.slice(1), 'ssh-service'], {
      env: { PATH: process.env.PATH, TAUPAGE_ROOT: lab.root, TAUPAGE_CONFIG: lab.configFile },
      timeoutMs: 10_000,
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/TPG_CONFIG_INVALID: another taupage ssh-service already listens on/);
    expect((await lab.client({ SSH_ORIGINAL_COMMAND: 'id' })).code).toBe(1);
  });
});

describe('what reaches the socket is judged by the service', () => {
  const refusedRecord = async (before: number) => {
    const recs = (await lab.audit()).slice(before);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({
      action: 'unknown',
      result: 'refused',
      caller: 'socket',
      reason: expect.stringMatching(/^malformed request on the hook socket: /),
    });
    return recs[0]!;
  };

  it.each([
    ['not JSON', 'hello\n', /the request is not JSON/],
    ['not an object', '["grant-ssh-access","x"]\n', /not a JSON object/],
    ['an unknown field', '{"command":"grant-ssh-access x","length":18,"connection":null,"agent":null,"user":"root"}\n', /unknown request field "user"/],
    ['a length that does not fit the command', '{"command":"grant-ssh-access x","length":3,"connection":null,"agent":null}\n', /"length" must be/],
    [
      'a command longer than the wire allows',
      `${JSON.stringify({ command: 'x'.repeat(1025), length: 1025, connection: null, agent: null })}\n`,
      /"command" must be null or a string of at most 1024/,
    ],
  ])('garbage (%s) is refused, answered and audited', async (_name, line, reason) => {
    const before = (await lab.audit()).length;
    const { answer } = await talk(lab.hookSocket, line);
    expect(answer).toEqual({
      exit: 1,
      stdout: '',
      stderr: expect.stringMatching(/^taupage ssh-hook: error TPG_SSH_REFUSED: malformed request on the hook socket: /),
    });
    expect((await refusedRecord(before)).reason).toMatch(reason);
  });

  it('an oversized request is cut off at 16 KiB, refused and audited; nothing is created', async () => {
    const before = (await lab.audit()).length;
    const u = lab.user('big');
    lab.even.keys.set(u, lab.keygen(u).text);
    const { answer } = await talk(lab.hookSocket, `{"command":"grant-ssh-access ${u}","length":30,"connection":"${'1'.repeat(100_000)}`);
    expect(answer?.exit).toBe(1);
    expect((await refusedRecord(before)).reason).toMatch(/longer than 16384 bytes/);
    expect(await passwdHas(u)).toBe(false);
  });

  it('a slow client is refused after ssh.hook_request_timeout_ms; one that sends nothing too', async () => {
    const before = (await lab.audit()).length;
    const t0 = Date.now();
    const { answer } = await talk(lab.hookSocket, '{"command":"grant-ssh-');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(answer?.stderr).toMatch(/not complete within 1000 ms \(\d+ bytes\)/);
    await refusedRecord(before);
    const silent = await talk(lab.hookSocket, '');
    expect(silent.answer?.stderr).toMatch(/no request within 1000 ms/);
  });

  it('a request cut short is refused and audited; a connection that sends nothing and closes is not a request', async () => {
    const before = (await lab.audit()).length;
    const cut = await talk(lab.hookSocket, '{"command":"grant-ssh-access x"', { end: true });
    expect(cut.answer?.exit).toBe(1);
    expect((await refusedRecord(before)).reason).toMatch(/the connection closed after \d+ bytes, before the end of the request/);
    const empty = await talk(lab.hookSocket, '', { end: true });
    expect(empty.raw).toBe('');
    await waitFor('the service to log it', () => lab.service.log().includes('closed without a request'));
    expect((await lab.audit()).length).toBe(before + 1);
  });

  it('the client sends an over-long command cut, with its length: refused as too long, the record keeps 400 characters', async () => {
    const before = (await lab.audit()).length;
    const long = `grant-ssh-access ${'a'.repeat(5000)}`;
    const r = await lab.client({ SSH_ORIGINAL_COMMAND: long, SSH_CONNECTION: '10.1.2.3 4444 10.0.0.1 22' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TPG_SSH_REFUSED: command too long \(5017 characters, at most 400\)/);
    const [rec] = (await lab.audit()).slice(before);
    expect(rec).toMatchObject({ result: 'refused', caller: '10.1.2.3 4444', command: long.slice(0, 400) });
  });
});

describe('a client that hangs up mid-grant', () => {
  it('does not cut the grant in half: the grant completes and has its audit record', async () => {
    const u = lab.user('hangup');
    const key = lab.keygen(u);
    lab.even.keys.set(u, key.text);
    lab.even.delayMs = 1_500;
    try {
      const ssh = lab.sshSpawn(lab.gsUser, lab.evenKey, `grant-ssh-access ${u}`);
      const exited = new Promise((r) => ssh.on('exit', r));
      // The service is fetching the key from Even (which holds the answer): hang up now.
      await waitFor("the service's request to Even", () => lab.even.requests.includes(`/public-keys/${u}/sshkey.pub`));
      ssh.kill('SIGKILL');
      await exited;
      expect((await lab.audit()).some((r) => r.user === u)).toBe(false);
      const rec = await waitFor('the grant record', async () => (await lab.audit()).find((r) => r.user === u));
      expect(rec).toMatchObject({ action: 'grant', result: 'granted', caller: expect.stringMatching(/^127\.0\.0\.1 /) });
    } finally {
      lab.even.delayMs = 0;
    }
    expect(await passwdHas(u)).toBe(true);
    // The whole result, so a failure shows ssh's exit code and stderr.
    expect(await lab.ssh(u, key, 'id -un')).toMatchObject({ stdout: `${u}\n` });
  });
});

describe('who may connect', () => {
  it('the socket is 0660 root:<granting-service group>; another unprivileged user cannot connect, granting-service can', async () => {
    const st = await stat(lab.hookSocket);
    expect([st.isSocket(), st.mode & 0o777, st.uid, st.gid]).toEqual([true, 0o660, 0, idOf('-g', lab.gsUser)]);
    const other = lab.user('other');
    execFileSync('useradd', ['--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', other]);
    const as = (user: string) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(lab.agent[0]!, [...lab.agent.slice(1), 'ssh-hook', '--socket', lab.hookSocket], {
          uid: idOf('-u', user),
          gid: idOf('-g', user),
          env: { PATH: process.env.PATH, SSH_ORIGINAL_COMMAND: 'revoke-ssh-access nobody-at-all' },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr!.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stderr }));
      });
    const before = (await lab.audit()).length;
    const denied = await as(other);
    expect(denied.code).toBe(5);
    expect(denied.stderr).toMatch(/TPG_SSH_SERVICE_UNAVAILABLE: the SSH access service is not running \(.*: EACCES\)/);
    expect((await lab.audit()).length).toBe(before);
    const allowed = await as(lab.gsUser);
    expect(allowed).toEqual({ code: 0, stderr: '' });
    expect((await lab.audit()).at(-1)).toMatchObject({ action: 'revoke', user: 'nobody-at-all', result: 'unchanged' });
  });
});

describe('systemd socket activation', () => {
  it('the service takes the listening socket systemd hands over (LISTEN_FDS=1, fd 3) and answers on it', async () => {
    const path = join(lab.dir, 'activated.sock');
    const env = ['-E', `TAUPAGE_ROOT=${lab.root}`, '-E', `TAUPAGE_CONFIG=${lab.configFile}`, '-E', `PATH=${process.env.PATH}`];
    const activator = spawn('systemd-socket-activate', ['-l', path, ...env, ...lab.agent, 'ssh-service'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    activator.stdout!.on('data', (d) => (log += d));
    activator.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => activator.on('exit', (code) => r(code)));
    try {
      await waitFor('systemd-socket-activate to listen', () => existsSync(path));
      const before = (await lab.audit()).length;
      // The first connection starts the service, which must answer on the socket it was given.
      const r = await lab.client({ SSH_ORIGINAL_COMMAND: 'grant-ssh-access $(id)', SSH_CONNECTION: '10.9.8.7 1234 10.0.0.1 22' }, ['--socket', path]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/TPG_SSH_REFUSED: grant-ssh-access: invalid user name/);
      expect((await lab.audit()).slice(before)).toEqual([expect.objectContaining({ result: 'refused', caller: '10.9.8.7 1234' })]);
      expect(log).toMatch(/"via":"systemd"/);
      // A second request reaches the same (now running) service.
      expect((await lab.client({ SSH_ORIGINAL_COMMAND: 'id' }, ['--socket', path])).code).toBe(1);
      expect(log.match(/ssh access service listening/g)).toHaveLength(1);
    } finally {
      activator.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    expect(log).toMatch(/ssh access service stopped/);
    await rm(path, { force: true });
  });
});

describe('agent.yaml reloads', () => {
  /** Replace agent.yaml by rename, as configuration management does; the service's log after it. */
  const replaceConfig = async (text: string) => {
    const from = lab.service.log().length;
    await writeFile(`${lab.configFile}.new`, text);
    await rename(`${lab.configFile}.new`, lab.configFile);
    await waitFor('the reload', () => /agent config (not )?reloaded/.test(lab.service.log().slice(from)));
    return lab.service.log().slice(from);
  };
  const edited = async (edit: (c: { ssh: Record<string, unknown> } & Record<string, unknown>) => void) => {
    const config = parse(await readFile(lab.configFile, 'utf8'));
    edit(config);
    return stringify(config);
  };

  it('with syslog unreachable a grant still works: the file has the record, the service logs the failed copy', async () => {
    const original = await readFile(lab.configFile, 'utf8');
    try {
      expect(await replaceConfig(await edited((c) => (c.ssh.audit_syslog_socket = join(lab.dir, 'no-syslog.sock'))))).toMatch(/agent config reloaded/);
      const u = lab.user('nosyslog');
      lab.even.keys.set(u, lab.keygen(u).text);
      const r = await lab.hook(`grant-ssh-access ${u}`);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Access for .* granted until/);
      const rec = (await lab.audit()).find((x) => x.user === u);
      expect(rec).toMatchObject({ result: 'granted' });
      await waitFor('the warning', () => lab.service.log().includes(`audit record ${rec!.seq} is in ${lab.paths.sshAuditLog} but its syslog copy failed`));
      expect((await lab.syslog()).some((l) => l.includes(`"user":"${u}"`))).toBe(false);
    } finally {
      expect(await replaceConfig(original)).toMatch(/agent config reloaded/);
    }
    // Back to the real syslog: the copies arrive again.
    const u = lab.user('syslogback');
    lab.even.keys.set(u, lab.keygen(u).text);
    expect((await lab.hook(`grant-ssh-access ${u}`)).code).toBe(0);
    await waitFor('the syslog copy', async () => (await lab.syslog()).some((l) => l.includes(`"user":"${u}"`)));
  });

  it('a request still running at ssh.request_deadline_ms is abandoned and recorded once; the next request does not wait for it', async () => {
    const original = await readFile(lab.configFile, 'utf8');
    const u = lab.user('stuck');
    lab.even.keys.set(u, lab.keygen(u).text);
    try {
      expect(await replaceConfig(await edited((c) => (c.ssh.request_deadline_ms = 1_000)))).toMatch(/agent config reloaded/);
      // Even answers after 2 s (within the Even client's own timeout): the request is past its deadline by then.
      lab.even.delayMs = 2_000;
      const r = await lab.hook(`grant-ssh-access ${u}`);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/TPG_SSH_FAILED: abandoned: not finished within ssh\.request_deadline_ms \(1000 ms\)/);
      lab.even.delayMs = 0;
      expect((await lab.client({ SSH_ORIGINAL_COMMAND: 'revoke-ssh-access nobody-at-all' })).code).toBe(0);
      // When Even does answer, the abandoned request changes nothing and records nothing more.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(await passwdHas(u)).toBe(false);
      expect((await lab.audit()).filter((x) => x.user === u)).toEqual([
        expect.objectContaining({ action: 'grant', result: 'failed', reason: expect.stringMatching(/^abandoned: /), command: `grant-ssh-access ${u}` }),
      ]);
    } finally {
      lab.even.delayMs = 0;
      expect(await replaceConfig(original)).toMatch(/agent config reloaded/);
    }
  });

  it('Even over plain http to a non-loopback host, and root-equivalent groups without grants_are_root, are refused', async () => {
    const original = await readFile(lab.configFile, 'utf8');
    try {
      expect(await replaceConfig(await edited((c) => (c.ssh.even_url = 'http://even.example.org')))).toMatch(
        /agent config not reloaded.*ssh\.even_url: must be an https:\/\/ URL/,
      );
      await replaceConfig(original);
      expect(await replaceConfig(await edited((c) => (c.ssh.user_groups = ['adm', 'docker'])))).toMatch(
        /agent config not reloaded.*ssh\.user_groups: docker is root-equivalent: every grant would be root/,
      );
      expect(await replaceConfig(await edited((c) => Object.assign(c.ssh, { user_groups: ['adm', 'docker'], grants_are_root: true })))).toMatch(
        /agent config reloaded/,
      );
    } finally {
      expect(await replaceConfig(original)).toMatch(/agent config reloaded/);
    }
  });

  it('an invalid agent.yaml is reported and the previous config stays in effect; SIGHUP reloads too', async () => {
    const original = await readFile(lab.configFile, 'utf8');
    try {
      expect(await replaceConfig(await edited((c) => (c.ssh.grant_lifetime_seconds = 'forever')))).toMatch(
        /agent config not reloaded, the previous one stays in effect: invalid agent config/,
      );
      expect((await lab.client({ SSH_ORIGINAL_COMMAND: 'revoke-ssh-access nobody-at-all' })).code).toBe(0);
    } finally {
      expect(await replaceConfig(original)).toMatch(/agent config reloaded/);
    }
    const from = lab.service.log().length;
    process.kill(lab.service.pid()!, 'SIGHUP');
    await waitFor('the SIGHUP reload', () => /"why":"SIGHUP".*agent config reloaded/.test(lab.service.log().slice(from)));
  });
});
