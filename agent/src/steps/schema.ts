/*! The whole user-data schema, composed from the fragments each step owns (and the keys this
 * image accepts but does not implement). The single source of the UserData type, of validation
 * (user-data/validate.ts), `taupage schema` and docs/user-data.md. */
import { t, type Infer } from '../lib/schema/types.js';
import { containerKeys } from './container/schema.js';
import { credentialsKeys } from './credentials/schema.js';
import { loggingKeys } from './logging/schema.js';
import { sshKeys } from './ssh/schema.js';
import { disksKeys } from './disks/schema.js';
import { hostKeys } from './host/schema.js';
import { signalKeys } from './signal/schema.js';
import { unsupportedKeys } from './unsupported.js';

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
