/*! What Senza does to a `TaupageConfig` when it renders a stack (senza
 * `components/taupage_auto_scaling_group.py`): the keys the team left out are filled in from the
 * stack, and the header is put in front. `taupage plan --senza` shows the boot of such a stack. */
import type { SENZA_FILLS_IN, SenzaTaupageConfig, UserData } from '../steps/schema.js';

export interface SenzaStack {
  /** `senza create`'s stack name: Senza's application_id. */
  name: string;
  /** The stack version: Senza's application_version. */
  version: string;
  /** The Senza::TaupageAutoScalingGroup component's name: the resource Senza signals. */
  component: string;
}

/** What `plan --senza` shows for values only `senza create` knows. */
export const SENZA_PLACEHOLDERS: SenzaStack = { name: '<StackName>', version: '<StackVersion>', component: '<ComponentName>' };

/** The user data Senza renders: the keys the TaupageConfig sets win, as in Senza. */
export function renderSenza(config: SenzaTaupageConfig, stack: SenzaStack): { settings: UserData; filledIn: string[] } {
  const filledIn: string[] = [];
  const fill = <K extends (typeof SENZA_FILLS_IN)[number]>(key: K, value: NonNullable<UserData[K]>): NonNullable<UserData[K]> => {
    const given = config[key];
    if (given !== undefined) return given as NonNullable<UserData[K]>;
    filledIn.push(key);
    return value;
  };
  const settings: UserData = {
    ...config,
    application_id: fill('application_id', stack.name),
    application_version: fill('application_version', stack.version),
    notify_cfn: fill('notify_cfn', { stack: `${stack.name}-${stack.version}`, resource: stack.component }),
  };
  return { settings, filledIn };
}
