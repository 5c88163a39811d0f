/*! User-data keys for Mint credentials. */
import { t } from '../../lib/schema/types.js';

export const credentialsKeys = {
  mint_bucket: t
    .string({
      singleLine: true,
      acceptNumbers: false,
      pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
      patternMessage: 'must be an S3 bucket name (3-63 lowercase letters, digits, dots and dashes)',
    })
    .describe('S3 bucket where Mint writes <application_id>/user.json and client.json; they are kept current in /meta/credentials (CREDENTIALS_DIR).')
    .examples('exampleorg-stups-mint-123456789012-eu-central-1'),
};
