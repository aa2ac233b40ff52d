// Test-only: runs the program under the mocks and hands back what a local stand-in for its machine
// needs: the stack outputs as the CLI prints them (strings), the SSH host key cloud-init would
// install, the login key the machine would authorise and the notebook's TLS key, so a test can
// start Debian's sshd and an HTTPS server (test/support/scripts.ts) that present exactly those.
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

import { INSTANCE_PATHS } from "../../components/boot";
import { unwrap } from "../../components/offline/run-program";
import { runProgram } from "./program";
import { userDataOf } from "./user-data";

export interface DeployedMachine {
    /** Every stack output as a string. */
    outputs: Record<string, string>;
    /** The names of the outputs the program marks secret. */
    secrets: string[];
    /** The SSH host key the instance presents (from its user data). */
    hostPrivateKey: string;
    /** The login key the instance authorises (the key pair's public key). */
    loginPublicKey: string;
    /** The notebook server's TLS key (from its user data). */
    tlsPrivateKey: string;
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
    const userData = parse(userDataOf(run.cloud.one("aws:ec2/instance:Instance")));
    return {
        outputs,
        secrets,
        hostPrivateKey: userData.ssh_keys.ed25519_private,
        loginPublicKey: run.cloud.one("aws:ec2/keyPair:KeyPair").inputs.publicKey as string,
        tlsPrivateKey: userData.write_files.find((file: { path: string }) => file.path === INSTANCE_PATHS.keyFile).content,
    };
}
