/*! Mint credentials: which objects to fetch from which bucket into which directory. */
import { applicationOwner, type Owner, type PlanInput, type StepPlan } from '../step.js';
import { CONTAINER_CREDENTIALS_DIR } from '../container/plan.js';

export const CREDENTIAL_FILES = ['user.json', 'client.json'] as const;

export interface CredentialsPlan extends StepPlan {
  bucket: string;
  applicationId: string;
  /** Object keys, `<application_id>/<file>`. */
  keys: string[];
  directory: string;
  containerDirectory: string;
  owner: Owner;
  /** Readable by the container's user and nobody else (octal text, e.g. "0400"). */
  fileMode: string;
  refreshIntervalSeconds: number;
}

export function planCredentials({ settings: s, config, paths }: PlanInput): CredentialsPlan | null {
  if (!s.mint_bucket) return null;
  const owner = applicationOwner({ settings: s, config });
  return {
    bucket: s.mint_bucket,
    applicationId: s.application_id,
    keys: CREDENTIAL_FILES.map((f) => `${s.application_id}/${f}`),
    directory: paths.credentialsDir,
    containerDirectory: CONTAINER_CREDENTIALS_DIR,
    owner,
    fileMode: '0400',
    refreshIntervalSeconds: config.credentials.refresh_interval_seconds,
    ...(s.root
      ? { notes: [{ level: 'info' as const, message: 'root: true: credentials are owned by root, since the container runs as the image user' }] }
      : {}),
  };
}
