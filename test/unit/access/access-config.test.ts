import { describe, expect, it } from 'vitest';
import { configFromText } from '../../../agent/src/config/load.js';

const load = (yaml: string) => () => configFromText(yaml, 'agent.yaml');

describe('the SSH access settings refuse what would weaken a grant', () => {
  it('Even only over https (plain http only to loopback, for tests)', () => {
    expect(load('ssh:\n  even_url: http://even.example.org\n')).toThrow(/agent\.yaml:2:13: ssh\.even_url: must be an https:\/\/ URL/);
    expect(load('ssh:\n  even_url: http://10.0.0.5:8080\n')).toThrow(/must be an https:\/\/ URL/);
    for (const ok of ['https://even.example.org', 'http://127.0.0.1:8080', 'http://localhost/x', 'http://[::1]:9']) {
      expect(configFromText(`ssh:\n  even_url: ${ok}\n`, 'agent.yaml').config.ssh.even_url).toBe(ok);
    }
  });

  it('a grant is not root by default; a root-equivalent group needs grants_are_root', () => {
    expect(configFromText('', undefined).config.ssh.user_groups).toEqual(['adm']);
    expect(load('ssh:\n  user_groups: [adm, docker, sudo]\n')).toThrow(
      /agent\.yaml: ssh\.user_groups: docker, sudo are root-equivalent: every grant would be root\. Remove them, or set ssh\.grants_are_root: true/,
    );
    expect(configFromText('ssh:\n  user_groups: [adm, docker]\n  grants_are_root: true\n', 'agent.yaml').config.ssh.user_groups).toEqual(['adm', 'docker']);
  });
});
