/*! The whole user-data schema, composed from the fragments each step owns. The single source of
 * the UserData type, runtime validation, `taupage schema` and docs/user-data.md. */
import { t, type Infer } from '../lib/schema/types.js';
import { containerKeys } from '../steps/container/schema.js';
import { credentialsKeys } from '../steps/credentials/schema.js';
import { loggingKeys } from '../steps/logging/schema.js';
import { sshKeys } from '../steps/ssh/schema.js';
import { disksKeys } from '../steps/disks/schema.js';
import { hostKeys } from '../steps/host/schema.js';
import { signalKeys } from '../steps/signal/schema.js';
import { unsupportedKeys } from './unsupported.js';

export const USER_DATA_HEADER = '#taupage-ami-config';
/** EC2 refuses user data over 16 KiB. */
export const USER_DATA_MAX_BYTES = 16 * 1024;

/** Fragments in documentation order: what a team writes first comes first. */
export const userDataFragments = {
  container: containerKeys,
  credentials: credentialsKeys,
  signal: signalKeys,
  logging: loggingKeys,
  ssh: sshKeys,
  disks: disksKeys,
  host: hostKeys,
  unsupported: unsupportedKeys,
} as const;

export const userDataSchema = t
  .object({
    ...containerKeys,
    ...credentialsKeys,
    ...signalKeys,
    ...loggingKeys,
    ...sshKeys,
    ...disksKeys,
    ...hostKeys,
    ...unsupportedKeys,
  })
  .describe('Taupage user data: the #taupage-ami-config YAML document that describes one application instance.');

export type UserData = Infer<typeof userDataSchema>;
