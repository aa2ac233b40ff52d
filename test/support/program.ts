// The real program (index.ts) under the offline engine, as the tests run it, with a config that
// passes validation for tests to vary one key at a time.
import { MockCloud } from "../../components/offline/mock-cloud";
import { ProgramRun, runOffline } from "../../components/offline/run-program";

import main = require("../../index");

/** A config that passes validation; tests override single keys. */
export const VALID_CONFIG: Record<string, string> = {
    allowedCidrs: JSON.stringify(["198.51.100.7/32"]),
};

export type StackOutputs = Awaited<ReturnType<typeof main>>;
export type StackRun = ProgramRun<StackOutputs>;

/** Runs index.ts's program with the given config; throws what the program throws. */
export function runProgram(config: Record<string, string>, cloud = new MockCloud()): Promise<StackRun> {
    return runOffline(main, config, cloud);
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
