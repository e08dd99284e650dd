// Public surface of the config module: load the environment into one validated, frozen Config.
export { loadConfig, MAX_VAR_CHARS, type LoadConfigOptions } from "./load.ts";
export type { Config } from "./types.ts";
export { ConfigError, type ConfigProblem } from "./errors.ts";
export { Secret } from "./secret.ts";
export { CONFIG_VARS, type ConfigVarName, type ConfigValues } from "./vars.ts";
export { renderConfigDocs } from "./docs.ts";
