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
  /** TERM every process of the user; KILL what is left after graceMs; wait until they are gone. */
  endProcesses(uid: number, graceMs: number): Promise<{ terminated: number; killed: number }>;
}
