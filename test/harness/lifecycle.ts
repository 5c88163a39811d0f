/*! What a test file shares for all its tests, started before them and stopped after them, in one
 * line instead of a setup block per file:
 *
 *   const s3 = useS3([BUCKET]);        // a real S3 server (s3rver)
 *   const proxy = useFaultProxy(s3);   // faults in front of it
 *   const cloud = useLocalCloud();     // fake IMDS, KMS, CloudFormation; faults and records reset after each test
 *   const lab = useLab();              // the SSH lab (root)
 *
 * Each returns a handle that stands for the running thing once the file's tests run (using it
 * while tests are being collected is an error). */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startS3, type LocalS3, type LocalS3Options } from './s3rver.js';
import { startFaultProxy, type FaultProxy } from '../fakes/fault-proxy.js';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from '../fakes/local-cloud.js';
import { startLab, type Lab, type LabOptions } from '../integration/ssh/lab.js';

/** A stand-in for `current()`: property reads, calls and writes go to the started object. */
function handle<T extends object>(what: string, current: () => T | undefined): T {
  const target = () => {
    const t = current();
    if (!t) throw new Error(`${what} is not running: use it inside a test (it starts in beforeAll)`);
    return t;
  };
  return new Proxy({} as T, {
    get: (_, key) => {
      const t = target();
      const v = Reflect.get(t, key, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
    set: (_, key, value) => Reflect.set(target(), key, value),
    has: (_, key) => Reflect.has(target(), key),
  });
}

/** Start `start()` before the file's tests and `stop` it after them. */
function useService<T extends object>(what: string, start: () => Promise<T>, stop: (t: T) => Promise<unknown>, timeoutMs?: number): T {
  let running: T | undefined;
  beforeAll(async () => {
    running = await start();
  }, timeoutMs);
  afterAll(async () => {
    if (running) await stop(running);
    running = undefined;
  });
  return handle(what, () => running);
}

export function useS3(buckets: string[], options: LocalS3Options = {}): LocalS3 {
  return useService(
    'the S3 server',
    () => startS3(buckets, options),
    (s3) => s3.dispose(),
  );
}

/** A fault proxy in front of `s3` (declare it after useS3: hooks run in order). */
export function useFaultProxy(s3: LocalS3): FaultProxy {
  return useService(
    'the fault proxy',
    () => startFaultProxy(s3.endpoint),
    (p) => p.close(),
  );
}

/** The local cloud; after each test its faults are cleared and what it recorded is forgotten. */
export function useLocalCloud(options: LocalCloudOptions = {}): LocalCloud {
  const cloud = useService(
    'the local cloud',
    () => startLocalCloud(options),
    (c) => c.close(),
  );
  afterEach(() => cloud.reset());
  return cloud;
}

export function useLab(options: LabOptions = {}): Lab {
  return useService(
    'the SSH lab',
    () => startLab(options),
    (lab) => lab.close(),
    60_000,
  );
}
