/*! The AWS credentials every SDK client of the agent uses (KMS, CloudFormation, S3, EC2): keys
 * from the environment, else the instance role's from the metadata service through our IMDS
 * client, so the lookup has the agent's timeouts, retries and deadline instead of the SDK's
 * provider defaults (1 s, no retries: a metadata service answering in 1-2 s failed every AWS call).
 *
 * Failures name the real cause: TPG_IMDS_UNAVAILABLE (the metadata service did not answer, with
 * what it was asked and how long it was waited for), TPG_AWS_CREDENTIALS (no instance profile,
 * or an answer that is not credentials). Credentials are kept until five minutes before they
 * expire; concurrent callers share one lookup. The SDK's other sources (~/.aws files, SSO, web
 * identity) are not read: on an instance there is the role. */
import type { Imds } from '../../ports/imds.js';
import { AgentError, isAgentError, errorMessage } from '../../lib/errors.js';
import { realClock, type Clock } from '../../lib/clock.js';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export type CredentialsProvider = () => Promise<AwsCredentials>;

const ROLE_PATH = 'iam/security-credentials/';
/** Fetch new credentials this long before the old ones expire. */
const REFRESH_BEFORE_MS = 5 * 60_000;

export function instanceCredentials(imds: () => Pick<Imds, 'metadata'>, options: { env?: NodeJS.ProcessEnv; clock?: Clock } = {}): CredentialsProvider {
  const env = options.env ?? process.env;
  const clock = options.clock ?? realClock;
  let cached: AwsCredentials | undefined;
  let pending: Promise<AwsCredentials> | undefined;
  return () => {
    if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      return Promise.resolve({
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      });
    }
    if (cached && (!cached.expiration || cached.expiration.getTime() - REFRESH_BEFORE_MS > clock.now())) return Promise.resolve(cached);
    pending ??= fetchRole(imds())
      .then((c) => {
        cached = c;
        return c;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}

async function fetchRole(imds: Pick<Imds, 'metadata'>): Promise<AwsCredentials> {
  const ask = async (path: string) => {
    try {
      return await imds.metadata(path);
    } catch (e) {
      throw new AgentError('TPG_IMDS_UNAVAILABLE', `the instance role's AWS credentials could not be read: ${errorMessage(e)}`, {
        cause: e,
        retriable: true,
        ...(isAgentError(e) && e.hint ? { hint: e.hint } : {}),
        details: { source: 'instance metadata', path },
      });
    }
  };
  const roles = await ask(ROLE_PATH);
  const role = roles?.split('\n')[0]?.trim();
  if (!role) {
    throw new AgentError('TPG_AWS_CREDENTIALS', 'the instance has no AWS credentials: no IAM role (instance profile), and none in the environment', {
      retriable: false,
      hint: 'launch the instance with an instance profile whose role may do what the user data asks (KMS, S3, CloudFormation)',
    });
  }
  const text = await ask(`${ROLE_PATH}${role}`);
  let doc: Record<string, unknown> | undefined;
  try {
    doc = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    doc = undefined;
  }
  const str = (k: string) => (typeof doc?.[k] === 'string' && doc[k] !== '' ? (doc[k] as string) : undefined);
  const accessKeyId = str('AccessKeyId');
  const secretAccessKey = str('SecretAccessKey');
  if (!doc || (str('Code') && str('Code') !== 'Success') || !accessKeyId || !secretAccessKey) {
    throw new AgentError(
      'TPG_AWS_CREDENTIALS',
      `the metadata service has no usable credentials for role ${role}${str('Code') ? ` (Code ${str('Code')})` : ''}`,
      {
        retriable: true,
        hint: 'the instance profile may still be attaching; if this lasts, check the role and its trust policy',
      },
    );
  }
  const expiration = str('Expiration') ? new Date(str('Expiration')!) : undefined;
  return {
    accessKeyId,
    secretAccessKey,
    ...(str('Token') ? { sessionToken: str('Token')! } : {}),
    ...(expiration && !Number.isNaN(expiration.getTime()) ? { expiration } : {}),
  };
}
