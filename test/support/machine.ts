// Test-only: runs the program under the mocks and hands back what a local stand-in for its machine
// needs: the stack outputs as the CLI prints them (strings), the SSH host key cloud-init would
// install, the login key the machine would authorise and the notebook's TLS key, so a test can
// start Debian's sshd and an HTTPS server (test/support/scripts.ts) that present exactly those.
import * as pulumi from "@pulumi/pulumi";

import { unwrap } from "../../components/offline/run-program";
import { machineKeys, MachineKeys } from "./fleet";
import { runProgram } from "./program";

export interface DeployedMachine extends MachineKeys {
    /** Every stack output as a string. */
    outputs: Record<string, string>;
    /** The names of the outputs the program marks secret. */
    secrets: string[];
}

export async function deployUnderMocks(config: Record<string, string>): Promise<DeployedMachine> {
    const run = await runProgram(config);
    const outputs: Record<string, string> = {};
    const secrets: string[] = [];
    for (const [name, output] of Object.entries(run.outputs)) {
        outputs[name] = String(await unwrap(output as pulumi.Output<unknown>));
        if (await pulumi.isSecret(output as pulumi.Output<unknown>)) {
            secrets.push(name);
        }
    }
    return { outputs, secrets, ...machineKeys(run) };
}
