// What an earlier script learned of the stack outputs, kept so that the next ssh, job, status...
// need no Pulumi CLI (each `pulumi stack output --show-secrets` costs a CLI start and a decryption),
// and never served once it may be out of date. The outputs change only when the backend's state of
// the stack changes (up, destroy, refresh, a move, a start with a new type, an import), so the
// copy is keyed by that state: on a local backend (file://), the stack's state file, whose content
// is hashed; the stack by GPU_NOTEBOOK_STACK or the selection the CLI keeps; the backend by the
// login the CLI reads. Another backend keeps its state elsewhere: nothing is kept, the CLI is asked.
// The copy lives beside the login key the scripts already write (~/.ssh/gpu-notebook-<stack>.pem,
// 0600, in the 0700 ~/.ssh), readable by this user only, as that key is.
import { createHash } from "crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "fs";
import { homedir } from "os";
import * as path from "path";

import type { Outputs } from "./stack-outputs";

/** What the outputs were read under: the same key, the same outputs. */
export interface OutputsKey {
    backend: string;
    stack: string;
    /** SHA-256 of the stack's state files, as found. */
    state: string;
}

/** A stack name the local backend keeps in a file of that name. */
const PLAIN_STACK = /^[A-Za-z0-9_.-]+$/;

function readText(file: string): string | undefined {
    try {
        return readFileSync(file, "utf8");
    } catch {
        return undefined;
    }
}

/**
 * The folder the command runs in as the Pulumi CLI sees it: Go's os.Getwd takes $PWD when it is
 * the same folder (a checkout reached through a symbolic link keeps that path), else the real one.
 */
export function workingDirectory(env: NodeJS.ProcessEnv = process.env): string {
    const real = process.cwd();
    if (env.PWD && path.isAbsolute(env.PWD)) {
        try {
            const [a, b] = [statSync(env.PWD), statSync(real)];
            if (a.ino === b.ino && a.dev === b.dev) {
                return env.PWD;
            }
        } catch {
            // PWD is gone: the real folder.
        }
    }
    return real;
}

/** The nearest Pulumi.yaml upwards from `dir`, as the CLI finds its project; undefined without one. */
export function projectFile(dir: string): string | undefined {
    for (let at = dir; ; at = path.dirname(at)) {
        const file = path.join(at, "Pulumi.yaml");
        if (readText(file) !== undefined) {
            return file;
        }
        if (path.dirname(at) === at) {
            return undefined;
        }
    }
}

function pulumiHome(env: NodeJS.ProcessEnv): string {
    return env.PULUMI_HOME || path.join(env.HOME || homedir(), ".pulumi");
}

/**
 * The backend the CLI would use, read as it reads it: PULUMI_BACKEND_URL, then the project's own
 * backend (Pulumi.yaml `backend:`; not followed here: undefined), then the login in
 * $PULUMI_HOME/credentials.json ("current"). Undefined when none is known without the CLI.
 */
export function backendOf(env: NodeJS.ProcessEnv, project: string): string | undefined {
    if (env.PULUMI_BACKEND_URL) {
        return env.PULUMI_BACKEND_URL;
    }
    if (/^backend\s*:/m.test(readText(project) ?? "")) {
        return undefined;
    }
    try {
        const current = JSON.parse(readText(path.join(pulumiHome(env), "credentials.json")) ?? "{}").current;
        return typeof current === "string" && current !== "" ? current : undefined;
    } catch {
        return undefined;
    }
}

/** The project's name (Pulumi.yaml `name:`). */
function projectName(project: string): string | undefined {
    return /^name:\s*(\S+)\s*$/m.exec(readText(project) ?? "")?.[1];
}

/**
 * The stack `pulumi stack select` chose for this project: the CLI keeps it in
 * $PULUMI_HOME/workspaces/<project>-<SHA-1 of the Pulumi.yaml path>-workspace.json, {"stack": ...}
 * (pulumi/pulumi sdk/go/common/workspace/workspace.go, settingsPath). A local backend may write it
 * fully qualified, organization/<project>/<stack>. Undefined when none is selected.
 */
export function selectedStack(env: NodeJS.ProcessEnv, project: string): string | undefined {
    const name = projectName(project);
    if (name === undefined) {
        return undefined;
    }
    const file = path.join(pulumiHome(env), "workspaces", `${name}-${createHash("sha1").update(project).digest("hex")}-workspace.json`);
    try {
        const stack = JSON.parse(readText(file) ?? "{}").stack;
        if (typeof stack !== "string" || stack === "") {
            return undefined;
        }
        const qualified = /^organization\/([^/]+)\/([^/]+)$/.exec(stack);
        return qualified && qualified[1] === name ? qualified[2] : stack;
    } catch {
        return undefined;
    }
}

/**
 * Whether Pulumi would have the stack's passphrase here, as scripts/lib/pulumi.sh hands it over
 * (use_passphrase_file): PULUMI_CONFIG_PASSPHRASE set (even empty), PULUMI_CONFIG_PASSPHRASE_FILE,
 * or the file npm run up made, $PULUMI_HOME/gpu-notebook-<stack>.passphrase; or a stack file that
 * names another secrets provider. Without one, the CLI would refuse to show the secrets, so the
 * kept copy is not shown either: the CLI is asked, and says what is missing.
 */
export function passphraseGiven(env: NodeJS.ProcessEnv, project: string, stack: string): boolean {
    if (env.PULUMI_CONFIG_PASSPHRASE !== undefined || env.PULUMI_CONFIG_PASSPHRASE_FILE) {
        return true;
    }
    const provider = /^secretsprovider:\s*(\S+)\s*$/m.exec(readText(path.join(path.dirname(project), `Pulumi.${stack}.yaml`)) ?? "")?.[1];
    if (provider !== undefined && provider !== "passphrase" && provider !== "default") {
        return true;
    }
    try {
        statSync(path.join(pulumiHome(env), `gpu-notebook-${stack.replace(/\//g, "-")}.passphrase`));
        return true;
    } catch {
        return false;
    }
}

/** The folder of a file:// backend (file://~ is the home folder); undefined for another backend. */
function localBackendFolder(backend: string, env: NodeJS.ProcessEnv): string | undefined {
    if (!backend.startsWith("file://")) {
        return undefined;
    }
    const location = backend.slice("file://".length);
    if (location === "~" || location.startsWith("~/")) {
        return path.join(env.HOME || homedir(), location.slice(1));
    }
    return path.isAbsolute(location) ? location : undefined;
}

/**
 * The key of the outputs of `stack` as the backend holds them now; undefined when they cannot be
 * keyed without the CLI (another backend, a qualified stack name) or the stack has no state here.
 * The local backend keeps a stack's state in .pulumi/stacks/<project>/<stack>.json (or, from before
 * stacks were per project, .pulumi/stacks/<stack>.json; either gzipped as .json.gz): every one of
 * them is hashed, so whichever the CLI reads, a change to it changes the key.
 */
export function outputsKey(env: NodeJS.ProcessEnv, project: string, backend: string, stack: string): OutputsKey | undefined {
    const folder = localBackendFolder(backend, env);
    const name = projectName(project);
    if (folder === undefined || name === undefined || !PLAIN_STACK.test(stack)) {
        return undefined;
    }
    const stacks = path.join(folder, ".pulumi", "stacks");
    const hash = createHash("sha256");
    let found = false;
    for (const base of [path.join(stacks, name, stack), path.join(stacks, stack)]) {
        for (const file of [`${base}.json`, `${base}.json.gz`]) {
            let content: Buffer | undefined;
            try {
                content = readFileSync(file);
            } catch {
                content = undefined;
            }
            found ||= content !== undefined;
            hash.update(`${file}\0${content === undefined ? "-" : content.length}\0`);
            if (content !== undefined) {
                hash.update(content);
            }
        }
    }
    return found ? { backend, stack, state: hash.digest("hex") } : undefined;
}

/** Where the outputs of `stack` are kept: beside the stack's other files in ~/.ssh. */
export function cacheFile(env: NodeJS.ProcessEnv, stack: string): string {
    return path.join(env.HOME || homedir(), ".ssh", `gpu-notebook-${stack.replace(/\//g, "-")}.outputs.json`);
}

const sameKey = (a: OutputsKey, b: OutputsKey) => a.backend === b.backend && a.stack === b.stack && a.state === b.state;

/** The outputs kept under `key`, or undefined when none are, or they were kept under another. */
export function keptOutputs(env: NodeJS.ProcessEnv, key: OutputsKey): Outputs | undefined {
    try {
        const kept = JSON.parse(readText(cacheFile(env, key.stack)) ?? "null") as { key: OutputsKey; outputs: Outputs } | null;
        return kept && kept.key && sameKey(kept.key, key) ? kept.outputs : undefined;
    } catch {
        return undefined;
    }
}

/**
 * Keeps `outputs` under `key`, readable by this user only, replacing the old copy in one step.
 * `key` must have been taken before the outputs were read: an update that ended in between then
 * leaves a key that no longer matches, and the next call asks the CLI again.
 */
export function keepOutputs(env: NodeJS.ProcessEnv, key: OutputsKey, outputs: Outputs): void {
    const file = cacheFile(env, key.stack);
    const folder = path.dirname(file);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const partial = `${file}.${process.pid}`;
    // Made new (wx) so that its mode is 0600 from the start, never a left-over file's.
    rmSync(partial, { force: true });
    writeFileSync(partial, JSON.stringify({ key, outputs }), { mode: 0o600, flag: "wx" });
    renameSync(partial, file);
}
