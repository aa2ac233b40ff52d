// Stack outputs of a fleet (config `notebooks`) for the script suites, made from real program
// runs: until the program has fleet mode, the single-notebook program runs under the mocks once
// per notebook, each as a deployment of its own (so keys, addresses and passwords differ), and
// the runs are put together in the fleet's output shape. Once the program makes fleets, build
// Fleet from one fleet run instead; the suites only read Fleet.
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

import { INSTANCE_PATHS } from "../../components/boot";
import { MockCloud } from "../../components/offline/mock-cloud";
import { unwrap } from "../../components/offline/run-program";
import { runProgram, StackRun, VALID_CONFIG } from "./program";
import { userDataOf, writtenFiles } from "./user-data";

/** What a fleet's public `notebooks` map holds per notebook. */
export const FLEET_PUBLIC_OUTPUTS = [
    "publicIp", "notebookUrl", "sshCommand", "sshUser", "sshKnownHosts", "instanceId", "instanceType",
    "availabilityZone", "dataVolumeId", "notebookCertificatePem", "estimatedHourlyCostUsd",
] as const;

/** What a fleet's secret `notebookSecrets` map holds per notebook. */
export const FLEET_SECRET_OUTPUTS = ["notebookPassword", "sshPrivateKey"] as const;

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

/** The keys a run gave its machine, read from what the mocks recorded. */
export function machineKeys(run: StackRun): MachineKeys {
    const userData = userDataOf(run.cloud.one("aws:ec2/instance:Instance"));
    const tls = writtenFiles(userData).find((file) => file.path === INSTANCE_PATHS.keyFile);
    if (!tls) {
        throw new Error(`the user data writes no ${INSTANCE_PATHS.keyFile}`);
    }
    return {
        hostPrivateKey: parse(userData).ssh_keys.ed25519_private,
        loginPublicKey: run.cloud.one("aws:ec2/keyPair:KeyPair").inputs.publicKey as string,
        tlsPrivateKey: tls.content,
    };
}

/** A run's stack outputs with their values, secrets revealed. */
export async function outputValues(run: StackRun): Promise<OutputValues> {
    const values: OutputValues = {};
    for (const [name, output] of Object.entries(run.outputs)) {
        values[name] = await unwrap(output as pulumi.Output<unknown>);
    }
    return values;
}

export interface Fleet {
    /** The fleet stack's outputs: `notebooks`, `notebookSecrets` and the total hourly price. */
    outputs: OutputValues;
    /** Each notebook's outputs as a stack with that one notebook would have them. */
    single: Record<string, OutputValues>;
    machines: Record<string, MachineKeys>;
}

/** Picks `keys` out of `values`, leaving out those it does not have. */
function pick(values: OutputValues, keys: readonly string[]): OutputValues {
    return Object.fromEntries(keys.filter((key) => values[key] !== undefined).map((key) => [key, values[key]]));
}

/**
 * A fleet with one notebook per entry: `entries` maps a notebook's name to its own config keys,
 * over `defaults` (the top-level config every entry inherits).
 */
export async function buildFleet(entries: Record<string, Record<string, string>>, defaults = VALID_CONFIG): Promise<Fleet> {
    const fleet: Fleet = { outputs: {}, single: {}, machines: {} };
    const notebooks: Record<string, OutputValues> = {};
    const secrets: Record<string, OutputValues> = {};
    let total: number | undefined = 0;
    // One at a time: the mocks and the config are the process's.
    for (const [name, config] of Object.entries(entries)) {
        const run = await runProgram({ ...defaults, ...config }, new MockCloud({ world: { deployment: name } }));
        const values = await outputValues(run);
        fleet.single[name] = values;
        fleet.machines[name] = machineKeys(run);
        notebooks[name] = pick(values, FLEET_PUBLIC_OUTPUTS);
        secrets[name] = pick(values, FLEET_SECRET_OUTPUTS);
        const price = values.estimatedHourlyCostUsd;
        total = typeof price === "number" && total !== undefined ? total + price : undefined;
    }
    fleet.outputs = { notebooks, notebookSecrets: secrets, ...(total === undefined ? {} : { estimatedHourlyCostUsd: total }) };
    return fleet;
}
