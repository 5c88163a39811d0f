/*! Local accounts and their processes, as the SSH access hook needs them. Implemented over
 * useradd/userdel, /etc/passwd and /proc in adapters/linux-accounts.ts; tests of the planner use
 * plain data instead. */

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** The GECOS comment. */
  comment: string;
}

export interface NewAccount {
  name: string;
  /** Supplementary groups (each must exist). */
  groups: string[];
  home: string;
  shell: string;
  comment: string;
}

export interface Accounts {
  lookup(name: string): Promise<Account | undefined>;
  list(): Promise<Account[]>;
  /** The names among `names` that exist as groups. */
  existingGroups(names: readonly string[]): Promise<string[]>;
  /** Create an account that can log in with a key only (password field `*`, not locked `!`). */
  create(spec: NewAccount): Promise<Account>;
  /** Remove an account and its home: only to undo a `create` of the same run. */
  remove(name: string): Promise<void>;
  /** Create the group when it does not exist (a system group). */
  ensureGroup(name: string): Promise<void>;
  /** Whether the account is in the group, and adding it (its other groups kept). */
  inGroup(name: string, group: string): Promise<boolean>;
  addToGroup(name: string, group: string): Promise<void>;
  /** End every process of the user: the login sessions and user slice through systemd-logind where
   * it runs; TERM, then after graceMs KILL, repeated until a scan finds none left (or a bound). */
  endProcesses(account: Pick<Account, 'name' | 'uid' | 'gid'>, graceMs: number): Promise<EndedProcesses>;
}

export interface EndedProcesses {
  terminated: number;
  killed: number;
  /** Processes still alive when it gave up (0 when every one is gone). */
  left: number;
  /** Whether systemd-logind was asked to end the user's sessions. */
  logind: boolean;
}
