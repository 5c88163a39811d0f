/*! The whole user-data schema, composed from the fragments each step owns (and the keys this
 * image accepts but does not implement). The single source of the UserData type, of validation
 * (user-data/validate.ts), `taupage schema` and docs/user-data.md. */
import { t, type Infer } from '../lib/schema/types.js';
import { containerKeys, mountsAvoidFlagBinds } from './container/schema.js';
import { credentialsKeys } from './credentials/schema.js';
import { loggingKeys } from './logging/schema.js';
import { sshKeys } from './ssh/schema.js';
import { disksKeys } from './disks/schema.js';
import { hostKeys } from './host/schema.js';
import { signalKeys } from './signal/schema.js';
import { publishedToEtcd, unsupportedKeys } from './unsupported.js';

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

const userDataKeys = {
  ...containerKeys,
  ...credentialsKeys,
  ...signalKeys,
  ...loggingKeys,
  ...sshKeys,
  ...disksKeys,
  ...hostKeys,
  ...unsupportedKeys,
};

export const userDataSchema = t
  .object(userDataKeys, { unknownKeyWarning: publishedToEtcd, acrossKeys: mountsAvoidFlagBinds })
  .describe('Taupage user data: the #taupage-ami-config YAML document that describes one application instance.');

export type UserData = Infer<typeof userDataSchema>;

/** The keys Senza fills in when a TaupageConfig does not set them (senza
 * `component_taupage_auto_scaling_group`): the stack name, the stack version, and a signal to the
 * stack's auto scaling group. */
export const SENZA_FILLS_IN = ['application_id', 'application_version', 'notify_cfn'] as const;

/** A Senza `TaupageConfig` mapping: the user data before Senza renders it. The keys Senza fills in
 * may be left out; everything else is as strict as in user data (Senza itself requires runtime
 * Docker and a source). */
export const senzaTaupageConfigSchema = t
  .object(
    {
      ...userDataKeys,
      application_id: containerKeys.application_id.optional(),
      // Senza's check_application_version: `senza create` refuses other versions.
      application_version: t
        .string({
          singleLine: true,
          maxLength: 256,
          pattern: /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/,
          patternMessage: 'Senza takes a version of letters and digits with . _ - between them, e.g. 1.0.3',
        })
        .describe(containerKeys.application_version.meta.description!),
    },
    { unknownKeyWarning: publishedToEtcd, acrossKeys: mountsAvoidFlagBinds },
  )
  .describe('A Senza TaupageConfig: the user data of a Senza::TaupageAutoScalingGroup before Senza adds application_id, application_version and notify_cfn.');

export type SenzaTaupageConfig = Infer<typeof senzaTaupageConfigSchema>;
