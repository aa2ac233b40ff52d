// What an earlier script learned of the stack outputs, kept so that the next ssh, job, status...
// need no Pulumi CLI (each `pulumi stack output --show-secrets` costs a CLI start and a decryption),
// and never served once it may be out of date. The outputs change only when the backend's state of
// the stack changes (up, destroy, refresh, a move, a start with a new type, an import), so the
// copy is keyed by that state: on a local backend (file://), the stack's state file, whose content
// is hashed; the stack by GPU_NOTEBOOK_STACK or the selection the CLI keeps; the backend by the
// login the CLI reads. Another backend keeps its state elsewhere: nothing is kept, the CLI is asked.
// The copy lives beside the login key the scripts already write (~/.ssh/gpu-notebook-<stack>.pem,
// 0600, in the 0700 ~/.ssh), readable by this user only, as that key is.
//
// No secret is kept: a cache must not make a new plaintext copy of what Pulumi keeps encrypted.
// The secret outputs (stack-outputs.ts SECRET_OUTPUTS) are left out, and a question about one goes
// to the CLI, which asks for the passphrase as it always does. The one secret the usual commands
// need, the login key, is already on disk: prepare_ssh wrote it to the .pem. What is kept instead
// is the SHA-256 of the key the outputs held; a .pem with that hash was written from this very
// key, so ssh may use it as it is (loginKeyOnDisk); a .pem missing or different sends the
// command to the CLI, and prepare_ssh writes the key again. The known_hosts and ssh config files
// need no such check: they are written from outputs that are not secret, which are kept, and
// prepare_ssh rewrites them whenever they differ.
//
// The passphrase: what is answered from here is what `pulumi stack output --json` shows without
// one (the non-secret outputs: current CLIs read them without the passphrase, since
// pulumi/pulumi#23820, and a local backend's state file holds them in plaintext anyway), and the
// login key only through the user's own .pem, which ssh reads without Pulumi too. So no passphrase
// is asked for here, right or wrong: a wrong or missing one is found by the CLI on the first
// question about a secret (npm run notebook's password, handout), which fails there as before.
// (Older CLIs asked for the passphrase even for non-secret outputs; that protected nothing the
// state file does not show, so it is not copied here.)
import { createHash } from "crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "fs";
import { homedir } from "os";
import * as path from "path";

import { notebookNames, Outputs, selectNotebook, withoutSecrets } from "./stack-outputs";

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

/** ~/.ssh/gpu-notebook-<stack>[-<notebook>]<suffix>: where this computer keeps a notebook's files (connect.sh label_of). */
function stackFile(env: NodeJS.ProcessEnv, stack: string, notebook: string, suffix: string): string {
    return path.join(env.HOME || homedir(), ".ssh", `gpu-notebook-${stack.replace(/\//g, "-")}${notebook ? `-${notebook}` : ""}${suffix}`);
}

/** Where the outputs of `stack` are kept: beside the stack's other files in ~/.ssh. */
export function cacheFile(env: NodeJS.ProcessEnv, stack: string): string {
    return stackFile(env, stack, "", ".outputs.json");
}

/** The login key prepare_ssh (connect.sh) writes for notebook `notebook` ("" in single mode). */
export function loginKeyFile(env: NodeJS.ProcessEnv, stack: string, notebook: string): string {
    return stackFile(env, stack, notebook, ".pem");
}

/**
 * What is kept: never a secret's value. The outputs without the secret ones (stack-outputs.ts
 * withoutSecrets), the names of those left out, and per notebook ("" in single mode) the SHA-256 of
 * its login key: the key is an Ed25519/RSA private key, hundreds of random bits, so its hash tells
 * nothing of it, and it lets a later call trust the .pem prepare_ssh wrote from that same key
 * without asking the CLI for the key again (keyMaterial says what is hashed).
 */
export interface KeptOutputs {
    key: OutputsKey;
    outputs: Outputs;
    withheld: string[];
    loginKeys: Record<string, string>;
}

/**
 * The text hashed for a login key: without its final newlines, as the key reaches the .pem through
 * bash (a $(...) drops them, and write_private_file adds one), so the key as the CLI prints it and
 * the file prepare_ssh wrote from it hash the same.
 */
function keyMaterialHash(text: string): string {
    return createHash("sha256").update(text.replace(/\n+$/, "")).digest("hex");
}

const sameKey = (a: OutputsKey, b: OutputsKey) => a.backend === b.backend && a.stack === b.stack && a.state === b.state;

/** What is kept under `key`, or undefined when nothing is, or it was kept under another key. */
export function keptOutputs(env: NodeJS.ProcessEnv, key: OutputsKey): KeptOutputs | undefined {
    try {
        const kept = JSON.parse(readText(cacheFile(env, key.stack)) ?? "null") as KeptOutputs | null;
        // A copy from before secrets were left out has no `withheld`: not trusted, asked again.
        return kept && kept.key && sameKey(kept.key, key) && Array.isArray(kept.withheld) && kept.loginKeys ? kept : undefined;
    } catch {
        return undefined;
    }
}

/**
 * The login key of `notebook` as the .pem on disk holds it, if that file was written from the key
 * of the kept outputs ({ key: undefined } when the stack has no login key for it, as the CLI would
 * answer); undefined when the file is missing or holds anything else: the CLI is then asked, and
 * prepare_ssh writes the file again.
 */
export function loginKeyOnDisk(env: NodeJS.ProcessEnv, kept: KeptOutputs, notebook: string): { key: string | undefined } | undefined {
    if (!Object.prototype.hasOwnProperty.call(kept.loginKeys, notebook)) {
        return { key: undefined };
    }
    const text = readText(loginKeyFile(env, kept.key.stack, notebook));
    return text !== undefined && keyMaterialHash(text) === kept.loginKeys[notebook] ? { key: text } : undefined;
}

/**
 * Keeps `outputs` under `key`, without their secrets, readable by this user only, replacing the old
 * copy in one step. `key` must have been taken before the outputs were read: an update that ended
 * in between then leaves a key that no longer matches, and the next call asks the CLI again.
 */
export function keepOutputs(env: NodeJS.ProcessEnv, key: OutputsKey, outputs: Outputs): void {
    const loginKeys: Record<string, string> = {};
    for (const notebook of notebookNames(outputs) ?? [""]) {
        const login = selectNotebook(outputs, notebook, "--notebook", key.stack).sshPrivateKey;
        if (typeof login === "string" && login !== "") {
            loginKeys[notebook] = keyMaterialHash(login);
        }
    }
    const kept: KeptOutputs = { key, ...withoutSecrets(outputs), loginKeys };
    const file = cacheFile(env, key.stack);
    const folder = path.dirname(file);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const partial = `${file}.${process.pid}`;
    // Made new (wx) so that its mode is 0600 from the start, never a left-over file's.
    rmSync(partial, { force: true });
    writeFileSync(partial, JSON.stringify(kept), { mode: 0o600, flag: "wx" });
    renameSync(partial, file);
}
