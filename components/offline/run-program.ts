// Runs a Pulumi program in-process under the mocks, with a given stack config, and returns what it
// recorded: resources, invokes, resource options, warnings and the program's outputs. `npm run plan`
// runs index.ts through it; so do the tests.
import * as pulumi from "@pulumi/pulumi";
import * as settings from "@pulumi/pulumi/runtime/settings";

import { CONFIG_NAMESPACE } from "../config";
import { MockCloud } from "./mock-cloud";

export const STACK = "dev";

// Internal to the SDK (not in its typings): resolves when every outstanding RPC, and so every
// resource registration, has finished. Without it a caller could read the records too early.
const { waitForRPCs } = settings as unknown as { waitForRPCs(): Promise<void> };

export interface RecordedOptions {
    type: string;
    name: string;
    opts: pulumi.CustomResourceOptions;
}

export interface ProgramRun<Outputs> {
    cloud: MockCloud;
    outputs: Outputs;
    options: RecordedOptions[];
    /** What the program logged with pulumi.log.warn (the CLI shows these as warnings). */
    warnings: string[];
    /** What the program logged with pulumi.log.info (the CLI shows these too), such as the capacity it tries. */
    infos: string[];
    /**
     * What was logged with pulumi.log.debug, such as the capacity record, the SDK's own lines among
     * them: the CLI writes all of these to --event-log (and shows them only with --debug).
     */
    debugs: string[];
}

// Without an engine (under mocks) pulumi.log.warn writes "warning: [runtime] <message>" to console.warn,
// and pulumi.log.info "info: [runtime] <message>" to console.log.
const WARNING_PREFIX = /^warning: (\[runtime\] )?/;
const INFO_PREFIX = /^info: (\[runtime\] )?/;

/** Resolves an Output's value (mocks never leave values unknown). */
export function unwrap<T>(output: pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(output).apply((value) => {
        resolve(value as T);
        return value;
    }));
}

/** Sets mocks and config for one run. Keys are given without the project namespace. */
async function useMocks(cloud: MockCloud, config: Record<string, string>, secretKeys: string[] = []): Promise<void> {
    await pulumi.runtime.setMocks(cloud, CONFIG_NAMESPACE, STACK, false);
    const namespaced: Record<string, string> = {};
    for (const [key, value] of Object.entries(config)) {
        namespaced[key.includes(":") ? key : `${CONFIG_NAMESPACE}:${key}`] = value;
    }
    pulumi.runtime.setAllConfig(namespaced, secretKeys.map((key) => `${CONFIG_NAMESPACE}:${key}`));
}

/** Runs `work` with `object[key]` replaced by `replacement`, and puts the original back after. */
async function replacing<T, K extends keyof T>(object: T, key: K, replacement: T[K], work: () => Promise<void>): Promise<void> {
    const original = object[key];
    object[key] = replacement;
    try {
        await work();
    } finally {
        object[key] = original;
    }
}

/** Replaces a console method while `work` runs, collecting the lines with `prefix` (without it) into `into`. */
function collecting(method: "warn" | "log", prefix: RegExp, into: string[], work: () => Promise<void>): Promise<void> {
    const original = console[method];
    return replacing(console, method, (...args: unknown[]) => {
        const text = args.map(String).join(" ");
        if (prefix.test(text)) {
            into.push(text.replace(prefix, ""));
        } else {
            original(...args);
        }
    }, work);
}

/**
 * Collects what pulumi.log.debug is given while `work` runs: without an engine the SDK drops it,
 * where the CLI would write it to the event log.
 */
function collectingDebug(into: string[], work: () => Promise<void>): Promise<void> {
    // The SDK's log module itself (not a copy): the program looks pulumi.log.debug up at each call.
    const log = pulumi.log as { debug: typeof pulumi.log.debug };
    return replacing(log, "debug", async (message: string) => {
        into.push(message);
    }, work);
}

/**
 * Runs a program (index.ts's exported function) with the given config and waits until every
 * resource has been registered. Throws what the program throws (for example a DeployRefused);
 * what it logged at debug level until then is in `debugs`, as the CLI's event log would hold it.
 */
export async function runOffline<Outputs>(
    program: () => Promise<Outputs>, config: Record<string, string>, cloud: MockCloud, debugs: string[] = [],
): Promise<ProgramRun<Outputs>> {
    await useMocks(cloud, config, "notebookPassword" in config ? ["notebookPassword"] : []);
    const options: RecordedOptions[] = [];
    const warnings: string[] = [];
    const infos: string[] = [];
    let outputs: Outputs | undefined;
    let failure: unknown;
    // A failure inside an apply (say, user data over EC2's limit) rejects a resource registration
    // that nothing awaits: the engine would fail the deploy, so the run fails too, with that error.
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on("unhandledRejection", onRejection);
    try {
        await collectingDebug(debugs, () => collecting("log", INFO_PREFIX, infos, () => collecting("warn", WARNING_PREFIX, warnings, async () => {
            await pulumi.runtime.runInPulumiStack(async () => {
                pulumi.runtime.registerStackTransformation((args) => {
                    options.push({ type: args.type, name: args.name, opts: args.opts as pulumi.CustomResourceOptions });
                    return undefined;
                });
                try {
                    outputs = await program();
                } catch (error) {
                    failure = error;
                }
                return {};
            });
            await waitForRPCs();
        })));
        // Give rejections of the last registrations the turn they need to be reported.
        await new Promise((resolve) => setImmediate(resolve));
    } finally {
        process.off("unhandledRejection", onRejection);
    }
    failure ??= rejections[0];
    if (failure !== undefined) {
        throw failure;
    }
    return { cloud, outputs: outputs as Outputs, options, warnings, infos, debugs };
}
