/*! What must NOT happen, end to end through a real sshd: hostile commands, a granting-service
 * shell, unknown keys, bad keys from Even, an unwritable audit log, concurrent requests, and
 * tampering with the audit trail. */
import { describe, expect, it } from 'vitest';
import { readFile, readdir, rename, mkdir, rmdir, mkdtemp, writeFile, cp, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { passwdHas, run, waitFor, BUNDLE, SSH_CLIENT_OPTIONS } from './lab.js';
import { useLab } from '../../harness/lifecycle.js';
import { accessContext } from '../../../agent/src/cli/access-context.js';
import { runHook } from '../../../agent/src/access/hook.js';
import { hop, hopArgs } from '../../../agent/src/access/remote-host.js';
import { execFileSync, spawn } from 'node:child_process';
import type { Io } from '../../../agent/src/cli/io.js';

// Even is retried until shortly before the request deadline (not a count): the test of Even down waits that long.
const lab = useLab({ ssh: { request_deadline_ms: 8_000 } });

/** Every file under the lab root except the audit trail and the hook lock. */
async function files(dir = lab.root): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(relative(lab.root, p));
  }
  return out.filter((f) => !/^var\/log\/taupage\/|^var\/lib\/taupage\/ssh-audit\.head$/.test(f)).sort();
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

describe('a hostile-input corpus through ssh is refused: no user, no file, one audit record each', () => {
  it('refuses every case', async () => {
    const victim = lab.user('victim');
    // If anything slipped through, Even would hand out a key and an account would appear.
    lab.even.keys.set(victim, lab.keygen(victim).text);
    const v = victim;
    const corpus = [
      `grant-ssh-access ${v}; rm -rf /`,
      `grant-ssh-access $(id)`,
      'grant-ssh-access `id`',
      `grant-ssh-access ${v} && id`,
      `grant-ssh-access ${v} | nc 127.0.0.1 9`,
      `grant-ssh-access ${v} > /etc/passwd`,
      'grant-ssh-access --help',
      '--help',
      `grant-ssh-access -h ${v}`,
      `grant-ssh-access -- ${v}`,
      `grant-ssh-access -${v}`,
      'grant-ssh-access ../x',
      `grant-ssh-access ../../root`,
      `grant-ssh-access ${v.toUpperCase()}`,
      `GRANT-SSH-ACCESS ${v}`,
      `grant-ssh-access a${'b'.repeat(33)}`,
      `grant-ssh-access ${v}\nid`,
      `grant-ssh-access ${v}\rid`,
      `grant-ssh-access\t${v}`,
      `grant-ssh-access ｖictim`,
      `grant-ssh-access ${v} bob`,
      `grant-ssh-access ${v} ${v}`,
      `revoke-ssh-access ${v} --keep-local --help`,
      `grant-ssh-access --keep-local ${v}`,
      `grant-ssh-access '${v}'`,
      `grant-ssh-access "${v}"`,
      `grant-ssh-access \${IFS}${v}`,
      `grant-ssh-access --remote-host=${'a'.repeat(256)} ${v}`,
      `grant-ssh-access --remote-host=evil.example.org ${v}`,
      `grant-ssh-access --remote-host=a|b ${v}`,
      `grant-ssh-access --remote-host ${v}`,
      `grant-ssh-access --remote-host=x --remote-host=y ${v}`,
      'grant-ssh-access',
      'revoke-ssh-access',
      'rm -rf /',
      'sh',
      'bash -i',
      'id',
      'cat /etc/shadow',
      'scp -t /tmp',
      `sudo grant-ssh-access ${v}`,
      'x'.repeat(5000),
    ];
    expect(corpus.length).toBeGreaterThanOrEqual(30);
    const filesBefore = await files();
    const before = (await lab.audit()).length;
    const results = await mapLimit(corpus, 4, (c) => lab.hook(c));
    for (const [i, r] of results.entries()) {
      expect.soft(r.code, corpus[i]).toBe(1);
      expect.soft(r.stderr, corpus[i]).toMatch(/error TPG_SSH_REFUSED: /);
      expect.soft(r.stdout, corpus[i]).toBe('');
    }
    expect(await passwdHas(v)).toBe(false);
    expect(await passwdHas('x')).toBe(false);
    expect(await files()).toEqual(filesBefore);
    const records = (await lab.audit()).slice(before);
    expect(records).toHaveLength(corpus.length);
    for (const c of corpus) {
      const mine = records.filter((r) => r.command === c.slice(0, 400));
      expect.soft(mine.length, c).toBeGreaterThanOrEqual(1);
      expect
        .soft(
          mine.every((r) => r.result === 'refused'),
          c,
        )
        .toBe(true);
    }
    expect(records.every((r) => r.result === 'refused' && r.caller.startsWith('127.0.0.1 '))).toBe(true);
    expect((await lab.taupage(['audit', 'verify'])).code).toBe(0);
  });

  it('NUL bytes (which no ssh client can send) are refused in-process too', async () => {
    const ctx = await accessContext(io());
    const victim = lab.user('nul');
    lab.even.keys.set(victim, lab.keygen(victim).text);
    const r = await runHook({ command: `grant-ssh-access ${victim}\u0000id`, connection: '127.0.0.1 4000 127.0.0.1 22' }, ctx);
    expect(r).toMatchObject({ ok: false, code: 'TPG_SSH_REFUSED', record: { result: 'refused', reason: expect.stringMatching(/code 0 at position/) } });
    expect(await passwdHas(victim)).toBe(false);
  });
});

describe('granting-service can only run the hook', () => {
  it('no shell: a login without a command is refused and audited', async () => {
    const before = (await lab.audit()).length;
    const r = await lab.ssh(lab.gsUser, lab.evenKey);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no command given/);
    // Asking for a terminal is refused (restrict); the client gives up, the hook still records.
    const withPty = await lab.ssh(lab.gsUser, lab.evenKey, undefined, ['-tt']);
    expect(withPty.code).toBe(255);
    expect(withPty.stderr).toMatch(/PTY allocation request failed/);
    const recs = await waitFor('both records', async () => {
      const all = (await lab.audit()).slice(before);
      return all.length >= 2 && all;
    });
    expect(recs.map((x) => [x.action, x.result])).toEqual([
      ['unknown', 'refused'],
      ['unknown', 'refused'],
    ]);
  });

  it('no sftp, no port forwarding', async () => {
    const sftp = await run('sftp', [...SSH_CLIENT_OPTIONS, '-i', lab.evenKey.priv, '-P', String(lab.port), '-b', '-', `${lab.gsUser}@127.0.0.1`], {
      input: 'ls /\n',
    });
    expect(sftp.code).not.toBe(0);
    expect((await lab.audit()).at(-1)).toMatchObject({ result: 'refused', command: 'internal-sftp' });
    const fwd = await lab.ssh(lab.gsUser, lab.evenKey, undefined, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9']);
    expect(fwd.code).toBe(255);
    expect(fwd.stderr).toMatch(/remote port forwarding failed/);
  });

  it('an unknown key logs in neither as granting-service nor as a granted user', async () => {
    const stranger = lab.keygen('stranger');
    expect((await lab.ssh(lab.gsUser, stranger, 'grant-ssh-access x')).code).toBe(255);
    const eve = lab.user('eve');
    lab.even.keys.set(eve, lab.keygen(eve).text);
    expect((await lab.hook(`grant-ssh-access ${eve}`)).code).toBe(0);
    const r = await lab.ssh(eve, stranger, 'id');
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied/);
  });
});

describe('what Even serves and what the host can write', () => {
  it('an unacceptable key from Even is refused, with no account created', async () => {
    const u = lab.user('weak');
    lab.even.keys.set(u, lab.keygen(u, 'rsa').text.replace(/^ssh-rsa/, 'ssh-ed25519'));
    const r = await lab.hook(`grant-ssh-access ${u}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TPG_SSH_KEY_INVALID: Even's key for .* is not acceptable: the key says "ssh-ed25519" but its data is "ssh-rsa"/);
    expect(await passwdHas(u)).toBe(false);
  });

  it('a user Even does not know, and Even being down, change nothing', async () => {
    const u = lab.user('ghost');
    const r = await lab.hook(`grant-ssh-access ${u}`);
    expect([r.code, /TPG_EVEN_NOT_FOUND/.test(r.stderr)]).toEqual([1, true]);
    lab.even.keys.set(u, lab.keygen(u).text);
    lab.even.failNext(100, 503);
    try {
      const down = await lab.hook(`grant-ssh-access ${u}`);
      expect(down.code).toBe(5);
      expect(down.stderr).toMatch(/TPG_EVEN_UNAVAILABLE/);
    } finally {
      lab.even.failNext(0, 503);
    }
    expect(await passwdHas(u)).toBe(false);
    expect((await lab.audit()).slice(-2).map((x) => x.result)).toEqual(['failed', 'failed']);
  });

  it('when the audit record cannot be written, nothing is granted (the new account is removed again)', async () => {
    const u = lab.user('noaudit');
    lab.even.keys.set(u, lab.keygen(u).text);
    const log = lab.paths.sshAuditLog;
    await rename(log, `${log}.aside`);
    await mkdir(log);
    try {
      const r = await lab.hook(`grant-ssh-access ${u}`);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/TPG_AUDIT_WRITE_FAILED/);
      expect(await passwdHas(u)).toBe(false);
      expect(await readdir(lab.paths.home)).not.toContain(u);
      await expect(stat(join(lab.paths.sshGrants, `${u}.json`))).rejects.toThrow();
    } finally {
      await rmdir(log);
      await rename(`${log}.aside`, log);
    }
  });

  it('concurrent grants all succeed and keep one intact chain', async () => {
    const users = Array.from({ length: 5 }, () => lab.user('par'));
    for (const u of users) lab.even.keys.set(u, lab.keygen(u).text);
    const results = await Promise.all(users.map((u) => lab.hook(`grant-ssh-access ${u}`)));
    expect(results.map((r) => r.code)).toEqual(users.map(() => 0));
    for (const u of users) expect(await passwdHas(u)).toBe(true);
    expect((await lab.taupage(['audit', 'verify'])).stdout).toMatch(/intact/);
  });
});

describe('--remote-host (in-process, with the hop replaced)', () => {
  it('with allowed networks the hop runs; when it fails the local grant is undone', async () => {
    const ctx = await accessContext(io());
    ctx.config = { ...ctx.config, ssh: { ...ctx.config.ssh, allowed_remote_networks: ['127.0.0.0/8'] } };
    const hops: string[][] = [];
    ctx.hop = async (address, words) => {
      hops.push([address, ...words]);
      throw new Error('connection refused');
    };
    const u = lab.user('hop');
    lab.even.keys.set(u, lab.keygen(u).text);
    const r = await runHook({ command: `grant-ssh-access --remote-host=localhost ${u}`, connection: undefined }, ctx);
    expect(hops).toEqual([['127.0.0.1', 'grant-ssh-access', u]]);
    expect(r).toMatchObject({
      ok: false,
      record: { result: 'failed', remoteHost: 'localhost', caller: 'local', reason: expect.stringMatching(/local grant was undone/) },
    });
    expect(await passwdHas(u)).toBe(false);
    ctx.hop = async (address, words) => void hops.push([address, ...words]);
    expect(await runHook({ command: `grant-ssh-access --remote-host=localhost ${u}`, connection: undefined }, ctx)).toMatchObject({ ok: true });
    expect(await passwdHas(u)).toBe(true);
  });
});

describe("--remote-host: the real hop (ssh as root, but nothing of root's)", () => {
  const words = ['revoke-ssh-access', 'nobody-hopped'];
  const options = (knownHosts: string, agentSocket?: string) => ({
    port: lab.port,
    user: lab.gsUser,
    timeoutMs: 10_000,
    knownHosts,
    ...(agentSocket ? { agentSocket } : {}),
  });

  it('refuses without the known-hosts file, and a host whose key is not in it', async () => {
    await expect(hop('127.0.0.1', words, options(join(lab.dir, 'no-known-hosts')))).rejects.toThrow(/needs the host keys it may accept in .*no-known-hosts/);
    const empty = join(lab.dir, 'known-hosts-empty');
    await writeFile(empty, '');
    await expect(hop('127.0.0.1', words, options(empty))).rejects.toThrow(/Host key verification failed/);
    expect(await readFile(empty, 'utf8')).toBe('');
  });

  it("with the host's key known it connects; with no forwarded agent it offers no key at all; with Even's agent the request runs there", async () => {
    const known = join(lab.dir, 'known-hosts');
    const hostKey = (await readFile(join(lab.dir, 'ssh', 'host_key.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
    await writeFile(known, `[127.0.0.1]:${lab.port} ${hostKey}\n`);
    await expect(hop('127.0.0.1', words, options(known))).rejects.toThrow(/Permission denied \(publickey\)/);

    // Even's forwarded agent: a socket of a user's session (here granting-service's), holding Even's key.
    const sock = join(lab.dir, 'even-agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      await waitFor('the agent socket', () =>
        stat(sock).then(
          () => true,
          () => false,
        ),
      );
      execFileSync('ssh-add', ['-q', lab.evenKey.priv], { env: { PATH: process.env.PATH, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      execFileSync('chown', [lab.gsUser, sock]);
      const before = (await lab.audit()).length;
      await hop('127.0.0.1', words, options(known, sock));
      expect((await lab.audit()).slice(before)).toEqual([expect.objectContaining({ action: 'revoke', user: 'nobody-hopped', result: 'unchanged' })]);
    } finally {
      agent.kill('SIGTERM');
    }
  });

  it('the argv names every option: no config file, no identity file, strict host keys, the agent only when given', () => {
    const args = hopArgs('10.0.0.7', words, { port: 22, knownHosts: '/etc/taupage/ssh_known_hosts', agent: undefined, timeoutMs: 30_000 });
    expect(args.slice(0, 2)).toEqual(['-F', '/dev/null']);
    for (const o of [
      'UserKnownHostsFile=/etc/taupage/ssh_known_hosts',
      'GlobalKnownHostsFile=/dev/null',
      'StrictHostKeyChecking=yes',
      'IdentityFile=none',
      'IdentityAgent=none',
      'BatchMode=yes',
    ])
      expect(args).toContain(o);
    expect(args.slice(-4)).toEqual(['--', '10.0.0.7', ...words]);
    expect(hopArgs('10.0.0.7', words, { port: 22, knownHosts: '/k', agent: '/tmp/ssh-x/agent.1', timeoutMs: 30_000 })).toContain(
      'IdentityAgent=/tmp/ssh-x/agent.1',
    );
  });
});

describe('tampering with the audit trail is reported by `taupage audit verify`', () => {
  const tampered = async (edit: (lines: string[]) => string[]) => {
    const root = await mkdtemp('/run/tpg-ssh-audit-');
    await cp(`${lab.root}/var`, join(root, 'var'), { recursive: true, filter: (src) => !src.includes('/home') });
    const file = join(root, 'var/log/taupage/ssh-audit.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    await writeFile(
      file,
      edit(lines)
        .map((l) => `${l}\n`)
        .join(''),
    );
    const r = await run(process.execPath, [BUNDLE, 'audit', 'verify'], { env: { PATH: process.env.PATH, TAUPAGE_ROOT: root } });
    await import('node:fs/promises').then((fs) => fs.rm(root, { recursive: true, force: true }));
    return r;
  };

  it('an intact copy verifies', async () => {
    expect((await tampered((l) => l)).code).toBe(0);
  });

  it('an edited line', async () => {
    const r = await tampered((l) => l.map((x, i) => (i === 2 ? x.replace('"refused"', '"granted"') : x)));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TPG_AUDIT_BROKEN: audit trail broken at seq 4: record 4 does not follow record 3/);
  });

  it('a deleted line', async () => {
    const r = await tampered((l) => l.filter((_, i) => i !== 4));
    expect(r.stderr).toMatch(/broken at seq 5: record 5 is missing/);
  });

  it('two lines swapped', async () => {
    const r = await tampered((l) => [l[0]!, l[2]!, l[1]!, ...l.slice(3)]);
    expect(r.stderr).toMatch(/broken at seq 2: .*has seq 3/);
  });

  it('the last lines cut off', async () => {
    const r = await tampered((l) => l.slice(0, -2));
    expect(r.stderr).toMatch(/records \d+\.\.\d+ are missing from the end/);
  });
});

describe('taupage audit list', () => {
  it('filters by user and time, as JSON or a table', async () => {
    const some = (await lab.audit()).find((r) => r.user && r.result === 'granted')!;
    const r = await lab.taupage(['audit', 'list', '--user', some.user!, '--json']);
    const listed = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((x) => x.user === some.user)).toBe(true);
    expect((await lab.taupage(['audit', 'list', '--since', '2099-01-01T00:00:00Z', '--json'])).stdout).toBe('');
    const table = await lab.taupage(['audit', 'list', '--since', '1h']);
    expect(table.stdout).toMatch(/^SEQ +TIME +ACTION +USER +RESULT/);
    expect((await lab.taupage(['audit', 'list', '--since', 'yesterday'])).code).toBe(2);
  });
});

function io(): Io {
  return {
    out: () => undefined,
    err: () => undefined,
    env: { TAUPAGE_ROOT: lab.root, TAUPAGE_CONFIG: lab.configFile },
    isTty: false,
    readStdin: async () => '',
  };
}
