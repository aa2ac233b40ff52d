// Parses and validates the stack's configuration into typed notebook settings.
// Pure: reads a plain key→string map, creates no resources, so every bad value is refused
// before anything exists in AWS. The rules of each key live here alone: the user scripts read
// config through this folder too (scripts/lib/query.ts). One module a concern:
//   schema.ts     the keys, the settings type, the defaults
//   parse.ts      config text into typed settings
//   validate.ts   the rules of each setting; the one way to ValidSettings
//   keys.ts       keys this program does not read, and what they likely meant
//   notebooks.ts  a stack of several notebooks: entries, inheritance, their problems as one list
//   stack.ts      the whole stack's config: the deploy's reading and the scripts'
//   problems.ts   a Problem, and DeployRefused, the exception that carries them
//   words.ts      lists in words, nearest names, the commands a message tells to run
//   sdk.ts        the running stack's configuration, through the Pulumi SDK
export { CONFIG_KEYS, CONFIG_NAMESPACE, DEFAULTS, firstType, GPU_FAMILIES, isZoneName, marketOf, settingName } from "./schema";
export type { ConfigKey, Market, NotebookSettings } from "./schema";
export { DeployRefused, settingProblem } from "./problems";
export type { Problem } from "./problems";
export { settingsWarnings, validateSettings } from "./validate";
export type { ValidSettings } from "./validate";
export { notebookProblems } from "./notebooks";
export type { Budget, FleetSettings, NamedSettings, NotebookProblems } from "./notebooks";
export { configuredStack, parseConfig, parseStackConfig } from "./stack";
export type { ConfiguredNotebook, StackSettings } from "./stack";
export { inWords, pulumiCommand, UP_COMMAND } from "./words";
export { readConfig } from "./sdk";
