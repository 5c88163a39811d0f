/*! The log daemons as the logging step needs them: rsyslog and logrotate check a configuration
 * before it is used, rsyslog and the custom log reader restart to read it, and a systemd unit (the
 * Scalyr agent) restarts.
 * Implemented in adapters/log-daemons.ts (rsyslogd -N1, logrotate --debug, systemctl); tests of
 * the step start their own rsyslogd with the configuration it wrote. */

export interface LogDaemons {
  /** `rsyslogd -N1 -f mainConfig`: undefined when rsyslog accepts it, else what rsyslog said. */
  checkRsyslog(mainConfig: string, signal?: AbortSignal): Promise<string | undefined>;
  /** `logrotate --debug file`: undefined when logrotate accepts it, else its error lines. */
  checkLogrotate(file: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Restart rsyslog so it reads its configuration; resolves once it runs again. */
  restartRsyslog(signal?: AbortSignal): Promise<void>;
  /** Restart the custom log reader (an rsyslogd running as the application's user over
   * paths.customLogReaderConf); it stops when that file is gone. Resolves once it runs (or stopped). */
  restartCustomLogReader(signal?: AbortSignal): Promise<void>;
  /** Whether systemd knows the unit (a unit file, or one generated from an init script). */
  unitInstalled(unit: string, signal?: AbortSignal): Promise<boolean>;
  /** Restart a systemd unit (the Scalyr agent's). */
  restartUnit(unit: string, signal?: AbortSignal): Promise<void>;
}
