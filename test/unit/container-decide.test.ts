import { describe, expect, it } from 'vitest';
import { decideContainer } from '../../agent/src/steps/container/decide.js';
import { planContainer, LABELS } from '../../agent/src/steps/container/plan.js';
import { configFromText } from '../../agent/src/config/load.js';
import { settingsFrom } from '../harness/boot-context.js';
import type { AppState } from '../../agent/src/ports/container-runtime.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;

function plan(extra = '', source = 'pierone.example.org/team/app:1.0') {
  const { config, paths } = configFromText('root: /r', undefined, {});
  const settings = settingsFrom(`#taupage-ami-config\napplication_id: app\napplication_version: "1.0"\nruntime: Docker\nsource: ${source}\n${extra}`);
  return { plan: planContainer({ settings, config, paths }), mounts: paths.mounts };
}

function state(p: ReturnType<typeof plan>['plan'], over: Partial<AppState> = {}, labels: Record<string, string> = {}): AppState {
  return {
    id: 'c1',
    image: `pierone.example.org/team/app@${DIGEST}`,
    imageId: 'sha256:img',
    labels: { ...p.labels, [LABELS.imageDigest]: DIGEST, ...labels },
    status: 'exited',
    running: false,
    exitCode: 137,
    restartCount: 0,
    ...over,
  };
}

describe('decideContainer', () => {
  it('creates when there is no container', () => {
    const { plan: p, mounts } = plan();
    expect(decideContainer(p, undefined, mounts).action).toBe('create');
  });

  it('reuses (starts) a stopped container made from the same plan, with its recorded digest', () => {
    const { plan: p, mounts } = plan();
    expect(decideContainer(p, state(p), mounts)).toMatchObject({ action: 'reuse', digest: DIGEST, start: 'start' });
  });

  it('leaves a running container alone unless it mounts volumes, which it restarts', () => {
    const a = plan();
    expect(decideContainer(a.plan, state(a.plan, { running: true, status: 'running' }), a.mounts)).toMatchObject({ action: 'reuse', start: 'none' });
    const b = plan('mounts:\n  /data:\n    filesystem: tmpfs\n');
    expect(decideContainer(b.plan, state(b.plan, { running: true, status: 'running' }), b.mounts)).toMatchObject({ action: 'reuse', start: 'restart' });
  });

  it('replaces when the plan changed, the digest is unknown or differs from the pin, or the image is not the digest', () => {
    const { plan: p, mounts } = plan();
    const changed = plan('environment:\n  A: b\n').plan;
    expect(decideContainer(changed, state(p), mounts).action).toBe('replace');
    expect(decideContainer(p, state(p, {}, { [LABELS.imageDigest]: '' }), mounts).action).toBe('replace');
    expect(decideContainer(p, state(p, { image: 'pierone.example.org/team/app:1.0' }), mounts).action).toBe('replace');
    expect(decideContainer(p, state(p, { status: 'dead' }), mounts).action).toBe('replace');
    const pinned = plan('', `pierone.example.org/team/app:1.0@${OTHER}`).plan;
    expect(decideContainer(pinned, state(pinned), mounts)).toMatchObject({ action: 'replace' });
  });
});

describe('planContainer hash', () => {
  it('ignores the health check (not part of the container) but not the container settings', () => {
    const base = plan().plan.configHash;
    expect(plan('health_check_path: /health\nhealth_check_port: 80\n').plan.configHash).toBe(base);
    expect(plan('read_only: true\n').plan.configHash).not.toBe(base);
  });

  it('defaults the health check port to the lowest TCP host port', () => {
    const p = plan('ports:\n  "53/udp": 53\n  9000: 9000\n  8080: 80\nhealth_check_path: /h\n').plan;
    expect(p.health.http?.url).toBe('http://127.0.0.1:8080/h');
    expect(p.health.timeoutSeconds).toBe(60);
  });
});
