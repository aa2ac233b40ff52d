// gpu-notebook: one GPU machine on AWS serving Jupyter over HTTPS to the networks you allow.
// Reads and validates the stack config, creates the notebook, exports how to reach it.
import * as pulumi from "@pulumi/pulumi";

import { readConfig, settingsWarnings } from "./components/config";
import { GpuNotebook } from "./components/notebook";

async function main() {
    const settings = readConfig();
    settingsWarnings(settings).forEach((warning) => pulumi.log.warn(warning));
    const notebook = await GpuNotebook.create("notebook", {
        ...settings,
        label: `gpu-notebook-${pulumi.getStack()}`,
    });
    return {
        publicIp: notebook.publicIp,
        sshCommand: notebook.sshCommand,
        sshUser: notebook.sshUser,
        sshKnownHosts: notebook.sshKnownHosts,
        notebookUrl: notebook.notebookUrl,
        instanceId: notebook.instanceId,
        amiId: notebook.amiId,
        instanceType: notebook.instanceType,
        availabilityZone: notebook.availabilityZone,
        dataVolumeId: notebook.dataVolumeId,
        notebookCertificatePem: notebook.notebookCertificatePem,
        sshPrivateKey: notebook.sshPrivateKey,
        notebookPassword: notebook.notebookPassword,
        estimatedHourlyCostUsd: notebook.estimatedHourlyCostUsd,
    };
}

// The Pulumi engine calls the exported function and turns its result into stack outputs;
// tests call the same function under mocks.
export = main;
