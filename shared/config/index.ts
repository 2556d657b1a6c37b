/** Environment validated at boot from a declarative schema. */
export { ConfigError, type ConfigIssue } from "./errors.js";
export {
  bool,
  type Field,
  type FieldOptions,
  int,
  type ListOptions,
  list,
  type NumberOptions,
  number,
  oneOf,
  type StringOptions,
  string,
  type UrlOptions,
  url,
} from "./fields.js";
export {
  type ClientSecurity,
  type ClientTlsSettings,
  clientSecurity,
  grpcClientSecurityEnv,
  grpcServerSecurityEnv,
  MIN_TOKEN_LENGTH,
  type ServerSecurity,
  type ServerTlsSettings,
  serverSecurity,
} from "./grpc-security.js";
export { type ConfigOf, type ConfigSchema, loadConfig } from "./load.js";
export { LOG_LEVELS, type ServicePorts, serviceEnv } from "./service.js";
