// Reads a stack's settings file (Pulumi.<stack>.yaml) for `npm run plan` the way the Pulumi CLI
// would hand it to the program, and refuses what the CLI would refuse, rather than guessing:
// malformed YAML (one line: file, line, column), a key the CLI cannot parse, values of the wrong
// type for what Pulumi.yaml declares (the CLI's own check, with the types read from Pulumi.yaml),
// and a stack name that neither the file name nor GPU_NOTEBOOK_STACK gives. Keys no one reads are
// warned about by name. The region is the stack's, or the one `npm run up` would pin.
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { parse, YAMLParseError } from "yaml";

import { CONFIG_NAMESPACE } from "../../components/config";
import { RegionChoice, regionForNewStack } from "./region";

const ROOT = path.join(__dirname, "..", "..");

/** A documentation address (RFC 5737) standing in for the one `npm run up` detects. */
export const STAND_IN_CIDR = "192.0.2.1/32";
/** Stands in for a notebookPassword the stack file holds encrypted (the plan cannot decrypt it). */
const STAND_IN_PASSWORD = "offline-plan-stand-in-password";
export { DEFAULT_REGION } from "./region";
/** Stands in for an encrypted notifyWebhook: a URL of the kind accepted, at a name that never resolves (RFC 2606). */
const STAND_IN_WEBHOOK = "https://webhook.invalid/offline-plan-stand-in";

/** The stand-in for the secret at `where` (a key, or a path inside one): what that setting accepts. */
function standIn(where: string): string {
    return /(^|[.:])notifyWebhook$/.test(where) ? STAND_IN_WEBHOOK : STAND_IN_PASSWORD;
}

/** What the plan hands the program from a stack file. */
export interface StackFileConfig {
    /** Every value as the CLI hands it to the program: a string, lists as JSON. */
    config: Record<string, string>;
    region: string;
    /** What the plan should warn about. */
    notes: string[];
}

/** A config type as Pulumi.yaml declares it (the CLI's ProjectConfigType). */
interface DeclaredType { type: string; items?: DeclaredType }

/** The types Pulumi.yaml declares for this project's keys, by key. */
function declaredTypes(): Map<string, DeclaredType> {
    const project = parse(readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    return new Map(Object.entries<DeclaredType>(project.config ?? {}).filter(([, spec]) => spec.type !== undefined));
}

/** Namespaces whose keys something reads: this project's, the providers it uses, and the engine's. */
function readNamespaces(): string[] {
    const packageJson = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
    const providers = Object.keys(packageJson.dependencies ?? {})
        .map((name) => /^@pulumi\/(.+)$/.exec(name)?.[1])
        .filter((name): name is string => name !== undefined && name !== "pulumi");
    return [CONFIG_NAMESPACE, ...providers, "pulumi"];
}

/** The CLI's full type name: array<string>. */
function typeName(declared: DeclaredType): string {
    return declared.items ? `array<${typeName(declared.items)}>` : declared.type;
}

/**
 * The CLI's check (ValidateConfigValue in sdk/go/common/workspace/project.go): a scalar reaches it
 * as its text, a list as the typed values YAML gives; integers parse as Go's strconv.Atoi does.
 */
function matchesDeclared(declared: DeclaredType, value: unknown): boolean {
    switch (declared.type) {
        case "string":
            return typeof value === "string";
        case "integer":
            return (typeof value === "number" && Number.isInteger(value)) || (typeof value === "string" && /^[+-]?\d+$/.test(value));
        case "boolean":
            return value === true || value === false || value === "true" || value === "false";
        case "array":
            return Array.isArray(value) && declared.items !== undefined &&
                value.every((item) => matchesDeclared(declared.items as DeclaredType, item));
        default:
            return false;
    }
}

function isSecure(value: unknown): boolean {
    return typeof value === "object" && value !== null && !Array.isArray(value) && "secure" in value;
}

/**
 * An object value with every secret inside it (`{secure: …}`, such as a notebook's own password in
 * `notebooks`) replaced by the stand-in, each noted by where it is.
 */
function withStandIns(value: unknown, where: string, file: string, notes: string[]): unknown {
    if (typeof value !== "object" || value === null) {
        return value;
    }
    if (isSecure(value)) {
        notes.push(`${where} is encrypted in ${file}; the plan uses a stand-in value`);
        return standIn(where);
    }
    return Array.isArray(value)
        ? value.map((item, index) => withStandIns(item, `${where}[${index}]`, file, notes))
        : Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withStandIns(item, `${where}.${key}`, file, notes)]));
}

/**
 * What `npm run plan` was given cannot be read: its arguments, or the stack file as the Pulumi CLI
 * would refuse it. Not a refusal of a setting or of the account (DeployRefused): nothing got as
 * far as a deploy would.
 */
export class PlanInputError extends Error {
    constructor(readonly lines: string[]) {
        super(lines.join("\n"));
        this.name = "PlanInputError";
    }
}

function refused(...lines: string[]): PlanInputError {
    return new PlanInputError(lines);
}

/**
 * A key as the CLI reads it from a stack file (pulumi/pulumi sdk/go/common/workspace/loaders.go,
 * stackConfigNamespacedWithProject, since v3.44.0: "Project namespace is now optional when
 * defining stack config"): a key without a colon is the project's (`idleStopMinutes` is
 * gpu-notebook:idleStopMinutes). Then config.ParseKey (sdk/go/common/resource/config/key.go): one
 * colon splits namespace and name, `<namespace>:config:<name>` is the old form of the same key,
 * and anything else is refused with the CLI's words.
 */
export function cliConfigKey(key: string): { namespace: string; name: string } | { refused: string } {
    if (!key.includes(":")) {
        return { namespace: CONFIG_NAMESPACE, name: key };
    }
    const parts = key.split(":");
    if (parts.length === 2) {
        return { namespace: parts[0], name: parts[1] };
    }
    // tokens.ParseModuleMember: a package, a module and a member, none of them empty.
    if (parts.length === 3 && parts[1] === "config" && parts[0] !== "" && parts[2] !== "") {
        return { namespace: parts[0], name: parts[2] };
    }
    return { refused: `could not parse ${key} as a configuration key (configuration keys should be of the form \`<namespace>:<name>\`)` };
}

/** The stack a settings file belongs to: its name says it (Pulumi.<stack>.yaml), or GPU_NOTEBOOK_STACK. */
export function stackNameFor(configFile: string, fromEnvironment: string | undefined): string {
    const fromFile = /^Pulumi\.(.+)\.yaml$/.exec(path.basename(configFile))?.[1];
    if (fromFile !== undefined && fromEnvironment !== undefined && fromEnvironment !== fromFile) {
        throw refused(`${path.basename(configFile)} is the settings file of stack "${fromFile}", ` +
            `but GPU_NOTEBOOK_STACK says "${fromEnvironment}": unset one of them`);
    }
    const stack = fromFile ?? fromEnvironment;
    if (stack === undefined) {
        throw refused(`cannot tell which stack ${configFile} belongs to: ` +
            "name it Pulumi.<stack>.yaml, or set GPU_NOTEBOOK_STACK");
    }
    return stack;
}

/** The YAML of `file`, or a one-line error naming the file, line and column. */
function parseStackFile(file: string, text: string): { typed: Record<string, unknown>; asText: Record<string, unknown> } {
    const config = (options: Parameters<typeof parse>[2]) => {
        const document: unknown = parse(text, options) ?? {};
        if (typeof document !== "object" || Array.isArray(document)) {
            throw refused(`${file}: not a stack settings file (expected a mapping with a config: section)`);
        }
        // `config:` with only comments under it (the shipped Pulumi.dev.yaml) is no settings, as the
        // CLI reads it; the failsafe schema reads that empty value as "", the core schema as null.
        const written = (document as Record<string, unknown>).config;
        const section = written === null || written === undefined || (options?.schema === "failsafe" && written === "") ? {} : written;
        if (typeof section !== "object" || Array.isArray(section)) {
            throw refused(`${file}: config: must be a mapping of key: value`);
        }
        return section as Record<string, unknown>;
    };
    try {
        // The CLI reads a scalar as the text written (True, 0x10 and yes stay text), a list with types.
        return { typed: config({}), asText: config({ schema: "failsafe" }) };
    } catch (error) {
        if (error instanceof YAMLParseError) {
            const [line, column] = error.linePos ? [error.linePos[0].line, error.linePos[0].col] : [0, 0];
            const message = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
            throw refused(`${file}:${line}:${column}: ${message}`);
        }
        throw error;
    }
}

/**
 * Reads Pulumi.<stack>.yaml as the CLI would hand it to the program: every value a string. A file
 * that does not exist is an error, unless `missing` is "defaults" (a stack file nobody named, which
 * the first npm run up makes: the project ships none): then it is an empty one, and a note says so.
 */
export function readStackConfig(
    configFile: string, stack: string, env: NodeJS.ProcessEnv = process.env, missing: "refuse" | "defaults" = "refuse",
): StackFileConfig {
    const exists = existsSync(configFile);
    if (!exists && missing === "refuse") {
        throw refused(`${configFile} does not exist; name an existing Pulumi.<stack>.yaml`);
    }
    const name = path.basename(configFile);
    const { typed, asText } = parseStackFile(name, exists ? readFileSync(configFile, "utf8") : "");
    const notes: string[] = exists ? [] : [`there is no ${name} yet (\`npm run up\` makes it): the plan shows the defaults`];
    const problems: string[] = [];
    const types = declaredTypes();
    const namespaces = readNamespaces();
    const config: Record<string, string> = {};
    const written = new Map<string, string>();
    let region = "";
    for (const [writtenAs, value] of Object.entries(typed)) {
        const parsed = cliConfigKey(writtenAs);
        if ("refused" in parsed) {
            problems.push(`${name}: ${parsed.refused}`);
            continue;
        }
        const { namespace, name: setting } = parsed;
        const key = `${namespace}:${setting}`;
        const text = asText[writtenAs];
        if (written.has(key)) {
            // The CLI keeps one of the two, whichever its map gives last: the plan cannot know which.
            problems.push(`${name} sets ${key} twice, as ${written.get(key)} and as ${writtenAs} ` +
                `(a key without a namespace is the project's, ${CONFIG_NAMESPACE}): keep one`);
            continue;
        }
        written.set(key, writtenAs);
        if (!namespaces.includes(namespace)) {
            notes.push(`${key} in ${name} is in the namespace "${namespace}", which nothing here reads ` +
                `(this project is ${CONFIG_NAMESPACE}; its providers: ${namespaces.slice(1).join(", ")}): it has no effect`);
            // The program reads all config, as at deploy, and refuses a key plainly meant for it.
            config[key] = typeof value === "object" && value !== null ? JSON.stringify(withStandIns(value, key, name, notes)) : String(text);
            continue;
        }
        if (key === "aws:region") {
            region = String(text);
            continue;
        }
        if (namespace !== CONFIG_NAMESPACE) {
            continue;
        }
        if (isSecure(value)) {
            notes.push(`${key} is encrypted in ${name}; the plan uses a stand-in value`);
            config[key] = standIn(key);
            continue;
        }
        const isObject = typeof value === "object" && value !== null;
        const declared = types.get(setting);
        if (declared !== undefined && !matchesDeclared(declared, isObject ? value : text)) {
            // The CLI's own words, then what the file holds.
            problems.push(`Stack '${stack}' with configuration key '${setting}' must be of type '${typeName(declared)}' ` +
                `(Pulumi.yaml declares it; ${name} has ${JSON.stringify(value)}): the Pulumi CLI refuses this file too`);
            continue;
        }
        config[key] = isObject ? JSON.stringify(withStandIns(value, key, name, notes)) : String(text);
    }
    if (problems.length > 0) {
        throw refused(...problems);
    }
    if (region === "") {
        let choice: RegionChoice;
        try {
            choice = regionForNewStack(env);
        } catch (error) {
            // npm run up refuses it in the same words before it sets anything.
            throw refused((error as Error).message);
        }
        const { region: pinned, source } = choice;
        region = pinned;
        notes.push(`${name} sets no aws:region: the first \`npm run up\` sets ${region} (${source}), as the plan shows`);
    }
    const cidrs = config[`${CONFIG_NAMESPACE}:allowedCidrs`];
    if (cidrs === undefined || cidrs === "[]" || cidrs.trim() === "") {
        config[`${CONFIG_NAMESPACE}:allowedCidrs`] = JSON.stringify([STAND_IN_CIDR]);
        notes.push(`allowedCidrs is not set: \`npm run up\` sets it to your public address; the plan shows ${STAND_IN_CIDR} in its place`);
    }
    return { config: { ...config, "aws:region": region }, region, notes };
}
