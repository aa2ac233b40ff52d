// A stand-in Pulumi CLI for the scripts that read and change a stack's config (power,
// allow-my-ip, notebooks, handout): first on PATH, it records every call and answers
// `pulumi config --json` with the config a test set, in the real CLI's shape.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as path from "path";

import { CONFIG_NAMESPACE } from "../../components/config";

/** One key as `pulumi config --json --show-secrets` prints it. */
interface ListedValue { value: string; objectValue?: unknown; secret: boolean }

/**
 * The listing `pulumi config --json --show-secrets` prints for a config given as plain values
 * (keys without the namespace): strings as they are, other scalars as their text (top-level
 * config is always text), lists and objects also parsed in objectValue.
 */
export function configListing(config: Record<string, unknown>, secretKeys: string[] = []): Record<string, ListedValue> {
    return Object.fromEntries(Object.entries(config).map(([key, value]) => {
        const listed: ListedValue = typeof value === "object" && value !== null
            ? { value: JSON.stringify(value), objectValue: value, secret: secretKeys.includes(key) }
            : { value: String(value), secret: secretKeys.includes(key) };
        return [`${CONFIG_NAMESPACE}:${key}`, listed];
    }));
}

export class FakePulumi {
    private readonly callsFile: string;
    private readonly configFile: string;
    readonly binDir: string;

    constructor(readonly dir: string) {
        this.binDir = path.join(dir, "bin");
        this.callsFile = path.join(dir, "calls");
        this.configFile = path.join(dir, "config.json");
        mkdirSync(this.binDir, { recursive: true });
        writeFileSync(path.join(this.binDir, "pulumi"), [
            "#!/usr/bin/env bash",
            // One line a call, its arguments separated by the unit separator: no process to start.
            `{ printf '%s\\037' "$@"; printf '\\n'; } >> '${this.callsFile}'`,
            `if [ "$1" = config ] && [ "\${2:-}" = --json ]; then cat '${this.configFile}'; fi`,
            "",
        ].join("\n"), { mode: 0o755 });
        this.setConfig({});
    }

    /** PATH with this CLI first. */
    path(rest = process.env.PATH ?? ""): string {
        return `${this.binDir}${path.delimiter}${rest}`;
    }

    /** The config `pulumi config --json` answers with from now on, and no calls recorded yet. */
    setConfig(config: Record<string, unknown>, secretKeys: string[] = []): void {
        writeFileSync(this.configFile, JSON.stringify(configListing(config, secretKeys)));
        rmSync(this.callsFile, { force: true });
    }

    /** Every call so far, as its arguments. */
    calls(): string[][] {
        return existsSync(this.callsFile)
            ? readFileSync(this.callsFile, "utf8").trim().split("\n").map((line) => line.split("\x1f").slice(0, -1))
            : [];
    }

    /** The calls that change the config (config set and rm), in order. */
    configChanges(): string[][] {
        return this.calls().filter((call) => call[0] === "config" && (call[1] === "set" || call[1] === "rm"));
    }
}
