/*! The local cloud: fake IMDS, KMS, CloudFormation and EC2 started together, plus the environment
 * that points the agent and the AWS SDK at them. Tests start it in-process; scripts/local-cloud
 * runs it as a daemon for the demo and the benchmarks. */
import { startImds, DEFAULT_IDENTITY, type FakeImds, type ImdsOptions } from './imds.js';
import { startKms, type FakeKms, type KmsOptions } from './kms.js';
import { startCloudFormation, type FakeCloudFormation, type CloudFormationOptions } from './cloudformation.js';
import { startEc2, type FakeEc2, type Ec2Options } from './ec2.js';

export interface LocalCloudOptions {
  imds?: ImdsOptions;
  kms?: KmsOptions;
  cloudformation?: CloudFormationOptions;
  ec2?: Ec2Options;
}

export interface LocalCloud {
  imds: FakeImds;
  kms: FakeKms;
  cloudformation: FakeCloudFormation;
  /** Volumes attach as real loop devices (root only). */
  ec2: FakeEc2;
  region: string;
  /**
   * Variables that point taupage and the AWS SDK here. Without static keys (`withKeys: false`) the
   * SDK's default chain takes the instance role credentials from the fake IMDS, as on EC2.
   */
  env(options?: { withKeys?: boolean }): Record<string, string>;
  /** Clear every fault and forget the signals and KMS calls recorded so far (between tests). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const region = options.imds?.identity?.region ?? DEFAULT_IDENTITY.region;
  const [imds, kms, cloudformation, ec2] = await Promise.all([
    startImds(options.imds),
    startKms({ region, ...options.kms }),
    startCloudFormation(options.cloudformation),
    startEc2(options.ec2),
  ]);
  return {
    imds,
    kms,
    cloudformation,
    ec2,
    region,
    env: ({ withKeys = true } = {}) => ({
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
      AWS_ENDPOINT_URL_KMS: kms.url,
      AWS_ENDPOINT_URL_CLOUDFORMATION: cloudformation.url,
      AWS_ENDPOINT_URL_EC2: ec2.url,
      AWS_REGION: region,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...(withKeys && imds.state.role
        ? {
            AWS_ACCESS_KEY_ID: imds.state.role.credentials.AccessKeyId,
            AWS_SECRET_ACCESS_KEY: imds.state.role.credentials.SecretAccessKey,
            AWS_SESSION_TOKEN: imds.state.role.credentials.Token,
          }
        : {}),
    }),
    reset: async () => {
      await Promise.all([imds.faults.clear(), kms.faults.clear(), cloudformation.faults.clear(), ec2.faults.clear(), ec2.reset()]);
      cloudformation.signals.length = 0;
      kms.calls.length = 0;
    },
    close: async () => {
      await Promise.all([imds.close(), kms.close(), cloudformation.close(), ec2.close()]);
    },
  };
}

/** Environment for a child process with nothing of the caller's AWS setup leaking in. */
export function isolatedAwsEnv(extra: Record<string, string>, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!/^(AWS_|TAUPAGE_)/.test(k)) env[k] = v;
  return { ...env, AWS_CONFIG_FILE: '/nonexistent/aws-config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials', ...extra };
}
