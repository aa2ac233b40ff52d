// A recording of what one program run would deploy: every resource (type, name, parent, inputs,
// which inputs are secret), the resource options that decide its URN and how it is replaced, the
// stack outputs with their secrecy, and the warnings. Written as JSON with sorted keys, so a change
// that must not alter the deployment (a refactor) is proved against a committed fixture.
//
// Key material, the certificate and generated passwords are replaced by placeholders naming the
// resource and field they come from (`<notebook-host-key.privateKeyOpenssh>`), wherever they appear,
// user data included: the fixture shows which value goes where, holds no secret, and does not
// change with the certificate openssl signs afresh in every process. A file under components/boot/
// that the boot bundle ships verbatim is named the same way (`<components/boot/idle-watcher.py>`),
// and the bundle's hash too (`<notebook-boot-bundle.sha256>`): editing a boot file changes no recording.
import { readdirSync } from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

import { bootFile, decodeUserData, encodeUserData } from "../../components/boot";
import { bundleSha256, packBundle, unpackBundle } from "../../components/bundle";
import { RecordedResource } from "../../components/offline/mock-cloud";
import { ProgramRun, RecordedOptions, unwrap } from "../../components/offline/run-program";

/** Resources whose computed fields are generated material, which a recording names instead of showing. */
const MATERIAL_TYPES = [
    "tls:index/privateKey:PrivateKey",
    "tls:index/selfSignedCert:SelfSignedCert",
    "random:index/randomPassword:RandomPassword",
    "random:index/randomString:RandomString",
];

/** How user data appears in a recording: the cloud-config text cloud-init receives, line by line. */
const USER_DATA_KEY = "userDataBase64 (gunzipped, by line)";
/** How a boot bundle appears in a recording: its files, path, mode and content. */
const BUNDLE_KEY = "contentBase64 (the boot bundle's files)";

interface Material {
    placeholder: string;
    value: string;
}

/** Every generated value of the run, longest first so a value inside another is never cut in two. */
function materialOf(resources: RecordedResource[]): Material[] {
    const found: Material[] = [];
    for (const resource of resources.filter((candidate) => MATERIAL_TYPES.includes(candidate.type))) {
        const fields = Object.entries(resource.computed).filter((entry): entry is [string, string] => typeof entry[1] === "string");
        if (fields.length === 0) {
            throw new Error(`${resource.type} ${resource.name} computed nothing`);
        }
        for (const [field, value] of fields) {
            const placeholder = `<${resource.name}.${field}>`;
            // Keys are also used trimmed (known_hosts lines, authorized_keys).
            found.push({ placeholder, value }, ...(value.trim() !== value ? [{ placeholder, value: value.trim() }] : []));
        }
    }
    return found.sort((a, b) => b.value.length - a.value.length);
}

/** The files under components/boot/, each named by its path. */
function shippedFiles(): Material[] {
    return readdirSync(path.join(__dirname, "..", "..", "components", "boot"))
        .map((name) => ({ placeholder: `<components/boot/${name}>`, value: bootFile(name) }));
}

/** Replaces material in a plain string. */
function nameMaterial(text: string, material: Material[]): string {
    return material.reduce((result, { placeholder, value }) => result.split(value).join(placeholder), text);
}

/**
 * Replaces material in a YAML text, where a multi-line value stands as an indented block: each
 * run of lines that is the value's lines under one indent becomes one line with the placeholder.
 */
function nameMaterialInYaml(text: string, material: Material[]): string[] {
    let lines = text.split("\n");
    for (const { placeholder, value } of material.filter((entry) => entry.value.trim().includes("\n"))) {
        const wanted = value.trim().split("\n");
        for (let start = 0; start < lines.length; start++) {
            const indent = /^ */.exec(lines[start])?.[0] ?? "";
            // YAML writes an empty line of a block without its indent.
            if (wanted.every((line, offset) => lines[start + offset] === (line === "" ? "" : `${indent}${line}`))) {
                lines = [...lines.slice(0, start), `${indent}${placeholder}`, ...lines.slice(start + wanted.length)];
            }
        }
    }
    return lines.map((line) => nameMaterial(line, material));
}

function normalise(value: unknown, material: Material[]): unknown {
    if (typeof value === "string") {
        return nameMaterial(value, material);
    }
    if (Array.isArray(value)) {
        return value.map((item) => normalise(item, material));
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, normalise(item, material)]));
    }
    return value;
}

/**
 * A bundle object's contents as its files, each a boot file's placeholder when shipped verbatim,
 * else its lines. Checked to be packBundle of those files, so recording them records the bytes.
 */
function bundleInputsOf(resource: RecordedResource, material: Material[]): unknown {
    const { contentBase64, ...others } = resource.inputs;
    const bytes = Buffer.from(contentBase64, "base64");
    const files = unpackBundle(bytes);
    if (!packBundle(files).equals(bytes)) {
        throw new Error(`${resource.name}: contentBase64 is not packBundle of its own files`);
    }
    const shipped = shippedFiles();
    return {
        ...normalise(others, material) as object,
        [BUNDLE_KEY]: files.map((file) => ({
            path: file.path,
            mode: file.mode.toString(8),
            content: shipped.find((entry) => entry.value === file.content)?.placeholder ?? nameMaterial(file.content, material).split("\n"),
        })),
    };
}

/** The bundles' hashes, named: a new boot file changes the hash, not the recording. */
function bundleHashes(resources: RecordedResource[]): Material[] {
    return resources.filter((resource) => resource.type === "aws:s3/bucketObjectv2:BucketObjectv2")
        .map((resource) => ({ placeholder: `<${resource.name}.sha256>`, value: bundleSha256(Buffer.from(resource.inputs.contentBase64, "base64")) }));
}

function inputsOf(resource: RecordedResource, material: Material[]): unknown {
    if (resource.type === "aws:s3/bucketObjectv2:BucketObjectv2") {
        return bundleInputsOf(resource, material);
    }
    const { userDataBase64, ...others } = resource.inputs;
    if (userDataBase64 === undefined) {
        return normalise(resource.inputs, material);
    }
    const text = decodeUserData(userDataBase64);
    // The encoding is a pure function of the text, so recording the text records the bytes.
    if (encodeUserData(text) !== userDataBase64) {
        throw new Error(`${resource.name}: userDataBase64 is not encodeUserData of its own text`);
    }
    return { ...normalise(others, material) as object, [USER_DATA_KEY]: nameMaterialInYaml(text, [...shippedFiles(), ...material]) };
}

// Resource internals the SDK does not type: a resource's logical name and type token.
interface NamedResource { __name?: string; __pulumiType?: string }

function resourceName(resource: unknown): string {
    const named = resource as NamedResource;
    if (typeof named?.__name !== "string") {
        throw new Error(`cannot record a resource reference that is not a resource: ${String(resource)}`);
    }
    return `${named.__pulumiType}::${named.__name}`;
}

/** Code-unit order, the same in every locale. */
function byText(a: string, b: string): number {
    return a < b ? -1 : a > b ? 1 : 0;
}

function names(resources: unknown): string[] | undefined {
    return resources === undefined ? undefined : (Array.isArray(resources) ? resources : [resources]).map(resourceName).sort(byText);
}

/** A list option: an empty list means the same as none, so both are recorded as absent. */
function list<T>(items: T[] | undefined): T[] | undefined {
    return items !== undefined && items.length > 0 ? items : undefined;
}

/** The options that change a resource's URN, its provider, or how it is updated and replaced. */
function optionsOf(entry: RecordedOptions | undefined): Record<string, unknown> {
    const opts = entry?.opts ?? {};
    const recorded: Record<string, unknown> = {
        parent: opts.parent ? resourceName(opts.parent) : "(the stack)",
        provider: opts.provider ? resourceName(opts.provider) : undefined,
        dependsOn: list(names(opts.dependsOn)),
        protect: opts.protect,
        ignoreChanges: list(opts.ignoreChanges),
        deleteBeforeReplace: opts.deleteBeforeReplace,
        replaceOnChanges: list(opts.replaceOnChanges),
        retainOnDelete: opts.retainOnDelete,
        aliases: list(opts.aliases?.map(String)),
        additionalSecretOutputs: list(opts.additionalSecretOutputs),
        customTimeouts: opts.customTimeouts,
    };
    return Object.fromEntries(Object.entries(recorded).filter(([, value]) => value !== undefined));
}

export interface Recording {
    resources: Record<string, unknown>[];
    outputs: Record<string, { secret: boolean; value: unknown }>;
    warnings: string[];
}

/** Records a finished program run. */
export async function recordRun(run: ProgramRun<object>): Promise<Recording> {
    const material = [...materialOf(run.cloud.resources), ...bundleHashes(run.cloud.resources)];
    const resources = run.cloud.resources.map((resource) => {
        const options = run.options.find((entry) => entry.type === resource.type && entry.name === resource.name);
        return {
            type: resource.type,
            name: resource.name,
            options: resource.type === "pulumi:pulumi:Stack" ? {} : optionsOf(options),
            secretInputs: [...resource.secretInputs].sort(),
            inputs: inputsOf(resource, material),
        };
    }).sort((a, b) => byText(`${a.name} ${a.type}`, `${b.name} ${b.type}`));
    const outputs: Recording["outputs"] = {};
    for (const [name, output] of Object.entries(run.outputs) as [string, pulumi.Output<unknown>][]) {
        const value = await unwrap(output);
        // JSON has no undefined: an output without a value is recorded as null.
        outputs[name] = { secret: await pulumi.isSecret(output), value: normalise(value ?? null, material) };
    }
    const recording = { resources, outputs, warnings: run.warnings.map((warning) => nameMaterial(warning, material)) };
    const text = JSON.stringify(recording);
    if (/-----BEGIN /.test(text)) {
        throw new Error(`the recording still holds key material that is not any generated resource's: ${/.{0,80}-----BEGIN .{0,40}/.exec(text)?.[0]}`);
    }
    return recording;
}

function sortedKeys(value: unknown): unknown {
    if (Array.isArray(value)) {
        return value.map(sortedKeys);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortedKeys((value as Record<string, unknown>)[key])]));
    }
    return value;
}

/** A recording as fixture text: two-space JSON, keys sorted, a final newline. */
export function recordingText(recording: Recording): string {
    return `${JSON.stringify(sortedKeys(recording), null, 2)}\n`;
}
