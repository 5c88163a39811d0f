/*! User data for tests: `#taupage-ami-config` documents from a few fields. */
import YAML from 'yaml';

/** A document with application_id my-app, version 1.0 and runtime Docker, plus `fields`. */
export function userData(fields: Record<string, unknown>): string {
  return `#taupage-ami-config\n${YAML.stringify({ application_id: 'my-app', application_version: '1.0', runtime: 'Docker', ...fields })}`;
}

/** A valid document that asks for a CloudFormation signal and nothing the engine tests cannot do. */
export const VALID_USER_DATA = `#taupage-ami-config
application_id: my-app
application_version: "1.0"
runtime: Docker
source: pierone.stups.zalan.do/team/my-app:1.0
notify_cfn:
  stack: my-stack
  resource: AppServerGroup
`;
