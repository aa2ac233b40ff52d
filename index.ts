// gpu-notebook: GPU machines on AWS serving Jupyter over HTTPS to the networks you allow.
// Reads and validates the stack config, creates the notebook (or, with config `notebooks`, one
// per entry), exports how to reach it.
import * as pulumi from "@pulumi/pulumi";

import { readConfig, settingsWarnings } from "./components/config";
import { createFleet, FleetOutputs, prepareFleet } from "./components/fleet";
import { GpuNotebook, NotebookOutputs } from "./components/notebook";

async function main(): Promise<NotebookOutputs | FleetOutputs> {
    const stack = readConfig();
    const everySettings = stack.kind === "fleet" ? stack.notebooks.map((notebook) => notebook.settings) : [stack.settings];
    // One warning per distinct text: a class inheriting an open network hears it once.
    new Set(everySettings.flatMap(settingsWarnings)).forEach((warning) => pulumi.log.warn(warning));
    if (stack.kind === "fleet") {
        return createFleet(await prepareFleet(stack));
    }
    const prepared = await GpuNotebook.prepare("notebook", { settings: stack.settings, label: `gpu-notebook-${pulumi.getStack()}` });
    const notebook = await GpuNotebook.create(prepared);
    return notebook.outputs;
}

// The Pulumi engine calls the exported function and turns its result into stack outputs;
// tests call the same function under mocks.
export = main;
