// A stack with config `notebooks` (a fleet) for the script suites: one real run of the program
// under the mocks, its outputs as `pulumi stack output --json --show-secrets` prints them, and the
// keys each notebook's machine was given, for the local servers that stand in for the machines.
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

import { INSTANCE_PATHS } from "../../components/boot";
import { ProgramRun, unwrap } from "../../components/offline/run-program";
import { runFleet, VALID_CONFIG } from "./program";
import { userDataOf, writtenFiles } from "./user-data";

/** Stack outputs as `pulumi stack output --json --show-secrets` prints them. */
export type OutputValues = Record<string, unknown>;

/** What a notebook's machine is given at boot, for the local servers that stand in for it. */
export interface MachineKeys {
    /** The SSH host key, in OpenSSH's format, as cloud-init installs it. */
    hostPrivateKey: string;
    /** The login key's public half, as the EC2 key pair authorises it. */
    loginPublicKey: string;
    /** The notebook server's TLS key. */
    tlsPrivateKey: string;
}

/**
 * The keys a run gave a notebook's machine, read from what the mocks recorded: the run's only
 * machine, or in a fleet the machine of the notebook named `notebook`.
 */
export function machineKeys(run: ProgramRun<object>, notebook?: string): MachineKeys {
    const named = (type: string, suffix: string) => notebook === undefined
        ? run.cloud.one(type)
        : run.cloud.ofType(type).find((resource) => resource.name === `${notebook}-${suffix}`);
    const instance = named("aws:ec2/instance:Instance", "instance");
    const keyPair = named("aws:ec2/keyPair:KeyPair", "key");
    if (!instance || !keyPair) {
        throw new Error(`the run made no machine for notebook ${notebook}`);
    }
    const userData = userDataOf(instance);
    const tls = writtenFiles(userData).find((file) => file.path === INSTANCE_PATHS.keyFile);
    if (!tls) {
        throw new Error(`the user data writes no ${INSTANCE_PATHS.keyFile}`);
    }
    return {
        hostPrivateKey: parse(userData).ssh_keys.ed25519_private,
        loginPublicKey: keyPair.inputs.publicKey as string,
        tlsPrivateKey: tls.content,
    };
}

/** A run's stack outputs with their values, secrets revealed. */
export async function outputValues(run: ProgramRun<object>): Promise<OutputValues> {
    const values: OutputValues = {};
    for (const [name, output] of Object.entries(run.outputs)) {
        values[name] = await unwrap(output as pulumi.Output<unknown>);
    }
    return values;
}

export interface Fleet {
    /** The fleet stack's outputs: `notebooks`, `notebookSecrets` and the total hourly price. */
    outputs: OutputValues;
    /** Each notebook's public and secret outputs together, under the names a stack of one notebook gives them. */
    single: Record<string, OutputValues>;
    machines: Record<string, MachineKeys>;
}

/**
 * One run of the program with config `notebooks`: `entries` maps a notebook's name to its own
 * keys, over `defaults` (the top-level config every entry inherits).
 */
export async function buildFleet(entries: Record<string, Record<string, unknown>>, defaults = VALID_CONFIG): Promise<Fleet> {
    const run = await runFleet(entries, defaults);
    const outputs = await outputValues(run);
    const fleet: Fleet = { outputs, single: {}, machines: {} };
    const byName = (map: string) => outputs[map] as Record<string, OutputValues>;
    for (const name of Object.keys(entries)) {
        fleet.single[name] = { ...byName("notebooks")[name], ...byName("notebookSecrets")[name] };
        fleet.machines[name] = machineKeys(run, name);
    }
    return fleet;
}
