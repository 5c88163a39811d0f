/*! What the volume tests share: the local cloud (its EC2 attaches volumes as loop devices), AWS
 * keys for the SDK, and before each test a fresh scratch root whose /dev the test instance's
 * volumes appear in. */
import { beforeEach } from 'vitest';
import { join } from 'node:path';
import { useLocalCloud } from './lifecycle.js';
import { scratchRoot } from './scratch.js';
import { INSTANCE_ID } from './boot-context.js';
import type { LocalCloud } from '../fakes/local-cloud.js';

/** The test instance's availability zone (testBoot's identity). */
export const AZ = 'eu-central-1a';

export interface VolumeLab {
  cloud: LocalCloud;
  /** This test's scratch root. */
  root: string;
}

export function useVolumeLab(purpose: string): VolumeLab {
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIATESTVOLUMES00001',
    AWS_SECRET_ACCESS_KEY: 'test-secret',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  const lab: VolumeLab = { cloud: useLocalCloud(), root: '' };
  beforeEach(async () => {
    lab.root = await scratchRoot({ purpose });
    lab.cloud.ec2.instance(INSTANCE_ID, { availabilityZone: AZ, dev: join(lab.root, 'dev') });
  });
  return lab;
}
