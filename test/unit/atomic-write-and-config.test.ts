// Atomic writes (mode, content, no leftovers) and the agent config's precedence and errors.
import { describe, it, expect } from 'vitest';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../agent/src/lib/atomic-write.js';
import { configFromText, loadConfig } from '../../agent/src/config/load.js';
import { scratchDir } from '../harness/scratch.js';
import { paths } from '../../agent/src/config/paths.js';

describe('writeFileAtomic', () => {
  it('writes the content with exactly the mode asked, leaving no temp file', async () => {
    const dir = await scratchDir('aw');
    const f = join(dir, 'sub', 'creds.json');
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(f, '{"a":1}', { mode: 0o444, mkdirParents: true });
    } finally {
      process.umask(old);
    }
    expect(await readFile(f, 'utf8')).toBe('{"a":1}');
    expect((await stat(f)).mode & 0o777).toBe(0o444);
    await writeFileAtomic(f, 'v2', { mode: 0o400 });
    expect(await readFile(f, 'utf8')).toBe('v2');
    expect((await stat(f)).mode & 0o777).toBe(0o400);
    expect(await readdir(join(dir, 'sub'))).toEqual(['creds.json']);
  });
});

describe('agent config', () => {
  it('takes defaults, then the file, then the environment', async () => {
    const dir = await scratchDir('cfg');
    const file = join(dir, 'agent.yaml');
    await writeFile(file, 'boot:\n  deadline_seconds: 300\ndocker:\n  host: unix:///from/file.sock\n');
    const { config, paths: p } = await loadConfig({ file, env: { DOCKER_HOST: 'unix:///from/env.sock', TAUPAGE_ROOT: dir } });
    expect(config.boot.deadline_seconds).toBe(300);
    expect(config.docker.host).toBe('unix:///from/env.sock');
    expect(config.metadata.endpoint).toBe('http://169.254.169.254');
    expect(p.statusFile).toBe(join(dir, 'run/taupage/status.json'));
  });
  it('stops with file:line:col and what is wrong', () => {
    expect(() => configFromText('boot:\n  deadline_seconds: "ten"\nfoo: 1\n', '/etc/taupage/agent.yaml')).toThrow(
      /\/etc\/taupage\/agent.yaml:2:21: boot.deadline_seconds: expected an integer[\s\S]*\/etc\/taupage\/agent.yaml:3:1: foo: unknown key/,
    );
  });
  it('names the environment variable when an override is bad', () => {
    expect(() => configFromText('', undefined, { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'not a url' })).toThrow(
      /environment AWS_EC2_METADATA_SERVICE_ENDPOINT: metadata.endpoint: must be an http/,
    );
  });
  it('refuses an explicit config file that does not exist', async () => {
    await expect(loadConfig({ file: '/nonexistent/agent.yaml', env: {} })).rejects.toMatchObject({ code: 'TPG_CONFIG_INVALID' });
  });
  it('puts every host path under the root', () => {
    for (const v of Object.values(paths('/scratch'))) expect(v.startsWith('/scratch')).toBe(true);
  });
});
