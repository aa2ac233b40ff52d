// The real program (index.ts) under the offline engine, as the tests run it, with a config that
// passes validation for tests to vary one key at a time.
import { FleetOutputs } from "../../components/fleet";
import { MockCloud } from "../../components/offline/mock-cloud";
import { ProgramRun, runOffline } from "../../components/offline/run-program";
import { NotebookOutputs } from "../../components/notebook";

import main = require("../../index");

/** A config that passes validation; tests override single keys. */
export const VALID_CONFIG: Record<string, string> = {
    allowedCidrs: JSON.stringify(["198.51.100.7/32"]),
};

/** The outputs of a stack of one notebook (config without `notebooks`). */
export type StackOutputs = NotebookOutputs;
export type StackRun = ProgramRun<StackOutputs>;
export type FleetRun = ProgramRun<FleetOutputs>;

/**
 * Runs index.ts's program with a config without `notebooks`; throws what the program throws, and
 * leaves in `debugs` what it logged at debug level until then (as the CLI's event log holds it).
 */
export function runProgram(config: Record<string, string>, cloud = new MockCloud(), debugs: string[] = []): Promise<StackRun> {
    // The program returns a lone notebook's outputs when the config has no `notebooks`.
    return runOffline(main as () => Promise<NotebookOutputs>, config, cloud, debugs);
}

/** Runs index.ts's program with config `notebooks` (the entries, by name) over the given top-level keys. */
export function runFleet(
    notebooks: Record<string, Record<string, unknown>>, config: Record<string, string> = VALID_CONFIG, cloud = new MockCloud(),
): Promise<FleetRun> {
    // With `notebooks`, the program returns the fleet's outputs.
    return runOffline(main as () => Promise<FleetOutputs>, { ...config, notebooks: JSON.stringify(notebooks) }, cloud);
}

/** Runs the program and returns the error it refused with; fails if it did not refuse. */
export async function refusal(config: Record<string, string>, cloud = new MockCloud()): Promise<Error> {
    try {
        await runProgram(config, cloud);
    } catch (error) {
        return error as Error;
    }
    throw new Error(`expected the program to refuse config ${JSON.stringify(config)}`);
}

const sharedRuns = new Map<string, Promise<StackRun>>();

/**
 * The run of a config against the default fake account, made once per test process and shared by
 * every test that reads it, instead of a whole program run per test. Read it; never change it.
 */
export function runShared(config: Record<string, string>): Promise<StackRun> {
    const key = JSON.stringify(Object.entries(config).sort());
    if (!sharedRuns.has(key)) {
        sharedRuns.set(key, runProgram(config));
    }
    return sharedRuns.get(key) as Promise<StackRun>;
}

/** What a run registered besides the stack itself: after a refusal, nothing at all, providers included. */
export function registered(cloud: MockCloud): string[] {
    return cloud.resources.filter((resource) => resource.type !== "pulumi:pulumi:Stack").map((resource) => `${resource.type} ${resource.name}`);
}
