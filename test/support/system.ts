// What suites that run real Debian tools need: a check that the tools exist (a failure under CI,
// a loud skip elsewhere), free local ports for the servers they start and a way to wait for them,
// and short-lived private files for key material.
import { execFileSync } from "child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "fs";
import { connect, createServer } from "net";
import { tmpdir } from "os";
import * as path from "path";

/** Debian's interpreter, which carries Debian's Python packages (the first python3 on PATH may not). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

/** CI must prove everything: there a missing tool is a failure, never a skip. */
export function inCi(): boolean {
    return process.env.CI === "true";
}

function isExecutable(file: string): boolean {
    try {
        accessSync(file, constants.X_OK);
        return true;
    } catch {
        return false;
    }
}

/** Whether `command` runs here: an executable path, a name on PATH, or `python3-module:<module>`. */
export function commandAvailable(command: string): boolean {
    const pythonModule = /^python3-module:(.+)$/.exec(command);
    if (pythonModule) {
        try {
            execFileSync(DEBIAN_PYTHON, ["-c", `import ${pythonModule[1]}`], { stdio: "ignore", timeout: 20_000 });
            return true;
        } catch {
            return false;
        }
    }
    if (command.includes("/")) {
        return isExecutable(command);
    }
    return (process.env.PATH ?? "").split(path.delimiter).some((dir) => dir !== "" && isExecutable(path.join(dir, command)));
}

/**
 * Call in a mocha before() when a suite cannot run here: under CI=true this throws (a failure),
 * elsewhere it prints why and skips the suite.
 */
export function skipOrFail(context: Mocha.Context, reason: string): void {
    const suite = context.test?.parent?.fullTitle() || "this suite";
    const message = `${suite}: ${reason}`;
    if (inCi()) {
        throw new Error(`${message}; CI=true, so this is a failure, not a skip`);
    }
    console.warn(`\n    SKIPPED ${message}: these tests did not run\n`);
    context.skip();
}

/**
 * Call in a mocha before(): missing commands fail under CI=true, else skip the suite loudly.
 * A command is a name on PATH, an absolute path, or `python3-module:<module>` for a module that
 * Debian's /usr/bin/python3 must import (e.g. `python3-module:jupyter_server`).
 */
export function requireCommands(context: Mocha.Context, ...commands: string[]): void {
    const missing = commands.filter((command) => !commandAvailable(command));
    if (missing.length > 0) {
        skipOrFail(context, `missing ${missing.join(", ")} (see the apt-get line in .ci/run)`);
    }
}

/**
 * Called by whatever starts a real server: `npm run test:unit` runs only files that start none, and
 * a file that does belongs in test/run.js's SYSTEM_SUITES.
 */
export function refuseInUnitRun(server: string): void {
    if (process.env.GPU_NOTEBOOK_UNIT_TESTS === "1") {
        throw new Error(`npm run test:unit starts no real servers, and this file starts ${server}: list it in SYSTEM_SUITES in test/run.js`);
    }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.unref();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            if (address === null || typeof address === "string") {
                server.close();
                reject(new Error("could not read the port of a listening socket"));
                return;
            }
            server.close(() => resolve(address.port));
        });
    });
}

/** Resolves once something accepts connections on 127.0.0.1:port; rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const open = await new Promise<boolean>((resolve) => {
            const socket = connect({ host: "127.0.0.1", port });
            socket.once("connect", () => { socket.destroy(); resolve(true); });
            socket.once("error", () => resolve(false));
        });
        if (open) {
            return;
        }
        if (Date.now() > deadline) {
            throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

/** Writes `content` to a fresh 0600 file for `use`, and removes it afterwards (it may hold a key). */
export function withPrivateFile<T>(content: string, use: (file: string) => T): T {
    const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-"));
    try {
        const file = path.join(dir, "file");
        writeFileSync(file, content, { mode: 0o600 });
        return use(file);
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` settles within `ms`; clears its timer, so no idle wait keeps the test process alive. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
    });
    try {
        return await Promise.race([promise.then(() => true), timeout]);
    } finally {
        clearTimeout(timer);
    }
}
