// Test-only harness for the user scripts: runs a script in its own process group, and starts the
// local servers a script talks to (Debian's sshd, an HTTPS server) on 127.0.0.1 on free ports.
import { ChildProcess, spawn } from "child_process";
import { mkdirSync, writeFileSync } from "fs";
import * as https from "https";
import * as path from "path";

import { request } from "./http";
import { delay, freePort, waitForPort } from "./system";

export const ROOT = path.join(__dirname, "..", "..");
export const SCRIPTS = path.join(ROOT, "scripts");
export const SSHD = "/usr/sbin/sshd";

export interface ScriptResult { status: number | null; stdout: string; stderr: string; ms: number }

/** A script started in its own process group, so the test can stop it and everything it started. */
export class RunningScript {
    readonly child: ChildProcess;
    stdout = "";
    stderr = "";
    readonly exited: Promise<ScriptResult>;
    private readonly started = Date.now();

    /** `root`: the project the script belongs to (default this checkout; tests may run a copy). */
    constructor(name: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, root = ROOT) {
        this.child = spawn("bash", [path.join(root, "scripts", name), ...args], {
            env, cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: true,
        });
        this.child.stdout?.on("data", (chunk) => { this.stdout += chunk; });
        this.child.stderr?.on("data", (chunk) => { this.stderr += chunk; });
        const timer = setTimeout(() => this.stop("SIGKILL"), timeoutMs);
        this.exited = new Promise((resolve) => this.child.once("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout: this.stdout, stderr: this.stderr, ms: Date.now() - this.started });
        }));
    }

    /** Ctrl-C's cousin for the script alone: what it started must go with it. */
    terminate(): void {
        this.child.kill("SIGTERM");
    }

    /** Stops the whole process group. */
    stop(signal: NodeJS.Signals = "SIGTERM"): void {
        try {
            process.kill(-(this.child.pid as number), signal);
        } catch {
            // already gone
        }
    }

    /** Resolves when stdout contains `text`; rejects if the script exits first or after timeoutMs. */
    async waitFor(text: string, timeoutMs: number): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        while (!this.stdout.includes(text)) {
            if (this.child.exitCode !== null || Date.now() > deadline) {
                throw new Error(`no "${text}" from the script (exit ${this.child.exitCode}):\n${this.stdout}\n${this.stderr}`);
            }
            await delay(50);
        }
    }
}

export function runScript(name: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000, root = ROOT): Promise<ScriptResult> {
    return new RunningScript(name, args, env, timeoutMs, root).exited;
}

/** GET over HTTPS trusting only `ca`; resolves with the body. */
export async function httpsGet(url: string, ca: string): Promise<string> {
    return (await request(url, { ca })).body;
}

export interface HttpsFixture { server: https.Server; port: number; requests: number }

export async function startHttps(key: string, cert: string, body: string, port?: number): Promise<HttpsFixture> {
    const fixture: HttpsFixture = { server: https.createServer({ key, cert }), port: port ?? await freePort(), requests: 0 };
    fixture.server.on("request", (_request, response) => {
        fixture.requests += 1;
        response.writeHead(200, { "content-type": "application/json" }).end(body);
    });
    await new Promise<void>((resolve) => fixture.server.listen(fixture.port, "127.0.0.1", resolve));
    return fixture;
}

export interface Sshd { process: ChildProcess; port: number; log: () => string }

/** Debian's sshd on 127.0.0.1 presenting `hostPrivateKey` and admitting `authorizedKey`. */
export async function startSshd(dir: string, hostPrivateKey: string, authorizedKey: string): Promise<Sshd> {
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    writeFileSync(path.join(dir, "host_key"), hostPrivateKey, { mode: 0o600 });
    writeFileSync(path.join(dir, "authorized_keys"), authorizedKey.trim() + "\n", { mode: 0o600 });
    writeFileSync(path.join(dir, "sshd_config"), [
        "ListenAddress 127.0.0.1",
        `HostKey ${path.join(dir, "host_key")}`,
        `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
        `PidFile ${path.join(dir, "sshd.pid")}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        "AllowTcpForwarding local",
        "UsePAM no",
        // The temporary directory is not laid out like a home directory.
        "StrictModes no",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        "",
    ].join("\n"));
    if (process.getuid?.() === 0) {
        mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
    }
    const child = spawn(SSHD, ["-D", "-e", "-f", path.join(dir, "sshd_config"), "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr?.on("data", (chunk) => { log += chunk; });
    await waitForPort(port, 10_000).catch((error) => {
        child.kill();
        throw new Error(`${error.message}\nsshd said: ${log}`);
    });
    return { process: child, port, log: () => log };
}

export function stopProcess(child: ChildProcess | undefined): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) {
        return Promise.resolve();
    }
    return new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill();
    });
}
