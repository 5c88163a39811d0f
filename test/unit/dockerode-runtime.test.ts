import { describe, expect, it } from 'vitest';
import { containerBody, dockerConnection } from '../../agent/src/adapters/dockerode-runtime.js';
import { classifyPullError } from '../../agent/src/adapters/docker-pull.js';
import { Secret } from '../../agent/src/lib/secret.js';
import type { AppSpec } from '../../agent/src/ports/container-runtime.js';

const spec: AppSpec = {
  name: 'taupageapp',
  image: `r.example.org/t/a@sha256:${'a'.repeat(64)}`,
  env: [
    { name: 'A', value: 'b' },
    { name: 'PW', value: new Secret('plain') },
  ],
  binds: [{ host: '/meta', container: '/meta', readOnly: true }],
  ports: [
    { hostPort: 80, containerPort: 8080, protocol: 'tcp' },
    { hostPort: 53, containerPort: 5353, protocol: 'udp' },
  ],
  user: '999:999',
  capAdd: [],
  capDrop: ['ALL'],
  networkMode: 'bridge',
  privileged: false,
  readOnlyRootfs: true,
  restartPolicy: { name: 'on-failure', maximumRetryCount: 10 },
  logConfig: { type: 'syslog', config: { tag: 'a' } },
  labels: { l: 'v' },
};

describe('containerBody', () => {
  it('reveals secrets only in Env and publishes ports with their protocol', () => {
    const body = containerBody(spec) as { Env: string[]; ExposedPorts: object; HostConfig: { PortBindings: object; Binds: string[] } };
    expect(body.Env).toEqual(['A=b', 'PW=plain']);
    expect(body.ExposedPorts).toEqual({ '8080/tcp': {}, '5353/udp': {} });
    expect(body.HostConfig.PortBindings).toEqual({ '8080/tcp': [{ HostIp: '', HostPort: '80' }], '5353/udp': [{ HostIp: '', HostPort: '53' }] });
    expect(body.HostConfig.Binds).toEqual(['/meta:/meta:ro']);
  });

  it('publishes nothing on host networking', () => {
    const body = containerBody({ ...spec, networkMode: 'host' }) as { ExposedPorts: object };
    expect(body.ExposedPorts).toEqual({});
  });
});

describe('classifyPullError', () => {
  it.each([
    ['Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', 'TPG_REGISTRY_UNAVAILABLE'],
    ['received unexpected HTTP status: 503 Service Unavailable', 'TPG_REGISTRY_UNAVAILABLE'],
    ['unauthorized: authentication required', 'TPG_REGISTRY_AUTH'],
    ['manifest for r/t/a@sha256:x not found: manifest unknown', 'TPG_IMAGE_NOT_FOUND'],
    ['failed to register layer: something odd', 'TPG_PULL_FAILED'],
  ])('%s → %s', (message, code) => {
    expect(classifyPullError(message, 'r/t/a@sha256:x').code).toBe(code);
  });
});

describe('dockerConnection', () => {
  it('understands unix and tcp DOCKER_HOST values', () => {
    expect(dockerConnection('unix:///run/d.sock')).toEqual({ socketPath: '/run/d.sock' });
    expect(dockerConnection('tcp://10.0.0.1:2375')).toMatchObject({ host: '10.0.0.1', port: 2375, protocol: 'http' });
    expect(() => dockerConnection('ssh://x')).toThrow(/cannot use Docker host/);
  });
});
