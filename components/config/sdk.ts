// The one place the program's config meets the Pulumi SDK: the running stack's configuration.
import { parseStackConfig, StackSettings } from "./stack";

/** Reads this project's namespace from the running stack's configuration. */
export function readConfig(): StackSettings {
    // Required here, not imported: the scripts parse config through this folder, and the SDK
    // would double the time they take to start.
    const { runtime } = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    return parseStackConfig(runtime.allConfig());
}
