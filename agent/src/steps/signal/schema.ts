/*! User-data keys for telling CloudFormation the outcome and for batch shutdown. */
import { t } from '../../lib/schema/types.js';
import { singleLine } from '../../user-data/values.js';

export const signalKeys = {
  notify_cfn: t
    .object(
      {
        stack: singleLine({ maxLength: 128 }).required().describe('CloudFormation stack name.'),
        resource: singleLine({ maxLength: 255 }).required().describe('Logical id of the resource to signal (the auto scaling group).'),
      },
      { unknownKeys: 'error' },
    )
    .describe('Signal SUCCESS or FAILURE for this instance to a CloudFormation resource (creation/update policy).'),
  shutdown: t
    .enum(['never', 'on-exit', 'on-success'])
    .default('never')
    .describe(
      'Batch instances: after a successful boot, wait for the application container to exit, then power off always (on-exit) or only when it exited 0 (on-success).',
    ),
};
