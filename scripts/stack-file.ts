// Reads a stack's settings file (Pulumi.<stack>.yaml) for `npm run plan` the way the Pulumi CLI
// would hand it to the program, and refuses what the CLI would refuse, rather than guessing:
// malformed YAML (one line: file, line, column), values of the wrong type for what Pulumi.yaml
// declares (the CLI's own check, with the types read from Pulumi.yaml), and a stack name that
// neither the file name nor GPU_NOTEBOOK_STACK gives. Keys no one reads are warned about by name.
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { parse, YAMLParseError } from "yaml";

import { CONFIG_NAMESPACE } from "../components/config";

const ROOT = path.join(__dirname, "..");

/** A documentation address (RFC 5737) standing in for the one `npm run up` detects. */
export const STAND_IN_CIDR = "192.0.2.1/32";
/** Stands in for a notebookPassword the stack file holds encrypted (the plan cannot decrypt it). */
const STAND_IN_PASSWORD = "offline-plan-stand-in-password";
/** The region `npm run up` sets when the user's AWS setup names none. */
export const DEFAULT_REGION = "us-east-1";

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
        return STAND_IN_PASSWORD;
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
        const section = (document as Record<string, unknown>).config ?? {};
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
export function readStackConfig(configFile: string, stack: string, missing: "refuse" | "defaults" = "refuse"): StackFileConfig {
    const exists = existsSync(configFile);
    if (!exists && missing === "refuse") {
        throw refused(`${configFile} does not exist; name an existing Pulumi.<stack>.yaml`);
    }
    const name = path.basename(configFile);
    const { typed, asText } = parseStackFile(name, exists ? readFileSync(configFile, "utf8") : "");
    const notes: string[] = exists ? [] : [`there is no ${name} yet (the first \`npm run up\` makes it): the plan shows the defaults`];
    const problems: string[] = [];
    const types = declaredTypes();
    const namespaces = readNamespaces();
    const config: Record<string, string> = {};
    let region = "";
    for (const [key, value] of Object.entries(typed)) {
        const [namespace, setting] = key.includes(":") ? [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)] : ["", key];
        if (namespace === "") {
            notes.push(`${key} in ${name} has no namespace, so the Pulumi CLI refuses the file; ` +
                `write ${CONFIG_NAMESPACE}:${key} (the plan leaves it out)`);
            continue;
        }
        if (!namespaces.includes(namespace)) {
            notes.push(`${key} in ${name} is in the namespace "${namespace}", which nothing here reads ` +
                `(this project is ${CONFIG_NAMESPACE}; its providers: ${namespaces.slice(1).join(", ")}): it has no effect`);
            // The program reads all config, as at deploy, and refuses a key plainly meant for it.
            config[key] = typeof value === "object" && value !== null ? JSON.stringify(withStandIns(value, key, name, notes)) : String(asText[key]);
            continue;
        }
        if (key === "aws:region") {
            region = String(asText[key]);
            continue;
        }
        if (namespace !== CONFIG_NAMESPACE) {
            continue;
        }
        if (isSecure(value)) {
            notes.push(`${key} is encrypted in ${name}; the plan uses a stand-in value`);
            config[key] = STAND_IN_PASSWORD;
            continue;
        }
        const isObject = typeof value === "object" && value !== null;
        const declared = types.get(setting);
        if (declared !== undefined && !matchesDeclared(declared, isObject ? value : asText[key])) {
            // The CLI's own words, then what the file holds.
            problems.push(`Stack '${stack}' with configuration key '${setting}' must be of type '${typeName(declared)}' ` +
                `(Pulumi.yaml declares it; ${name} has ${JSON.stringify(value)}): the Pulumi CLI refuses this file too`);
            continue;
        }
        config[key] = isObject ? JSON.stringify(withStandIns(value, key, name, notes)) : String(asText[key]);
    }
    if (problems.length > 0) {
        throw refused(...problems);
    }
    if (region === "") {
        const fromEnvironment = process.env.AWS_REGION ? "AWS_REGION" : process.env.AWS_DEFAULT_REGION ? "AWS_DEFAULT_REGION" : undefined;
        region = fromEnvironment ? process.env[fromEnvironment] as string : DEFAULT_REGION;
        notes.push(`${name} sets no aws:region: \`npm run up\` sets your AWS setup's region on the first run; ` +
            `the plan shows ${region} (${fromEnvironment ?? "the default when your AWS setup names none"})`);
    }
    const cidrs = config[`${CONFIG_NAMESPACE}:allowedCidrs`];
    if (cidrs === undefined || cidrs === "[]" || cidrs.trim() === "") {
        config[`${CONFIG_NAMESPACE}:allowedCidrs`] = JSON.stringify([STAND_IN_CIDR]);
        notes.push(`allowedCidrs is not set: \`npm run up\` sets it to your public address; the plan shows ${STAND_IN_CIDR} in its place`);
    }
    return { config: { ...config, "aws:region": region }, region, notes };
}
