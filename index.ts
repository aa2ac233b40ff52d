// gpu-notebook: one GPU machine on AWS serving Jupyter over HTTPS to the networks you allow.
// Reads and validates the stack config, creates the notebook, exports how to reach it.
import * as pulumi from "@pulumi/pulumi";

import { readConfig, settingsWarnings } from "./components/config";
import { GpuNotebook } from "./components/notebook";

async function main() {
    const settings = readConfig();
    settingsWarnings(settings).forEach((warning) => pulumi.log.warn(warning));
    const prepared = await GpuNotebook.prepare("notebook", { settings, label: `gpu-notebook-${pulumi.getStack()}` });
    const notebook = await GpuNotebook.create(prepared);
    return notebook.outputs;
}

// The Pulumi engine calls the exported function and turns its result into stack outputs;
// tests call the same function under mocks.
export = main;
