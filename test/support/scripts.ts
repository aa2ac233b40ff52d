// Test-only harness for the user scripts: runs a script in its own process group, and starts the
// local servers a script talks to (Debian's sshd, an HTTPS server) on 127.0.0.1 on free ports.
import { ChildProcess, execFileSync, spawn } from "child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "fs";
import * as https from "https";
import { userInfo } from "os";
import * as path from "path";

import { request } from "./http";
import type { StackOutputs } from "./program";
import { delay, freePort, refuseInUnitRun, waitForPort } from "./system";

export const ROOT = path.join(__dirname, "..", "..");
/** The npm scripts that are the maintainers' tools; every other one is a user command (and a gpu-notebook command). */
export const MAINTAINER_SCRIPTS = ["typecheck", "test", "test:unit", "bench:ssh", "bench:plan"];
export const SCRIPTS = path.join(ROOT, "scripts");
export const SSHD = "/usr/sbin/sshd";
/** The job runner the instance installs (INSTANCE_PATHS.jobRunner), run here as it is. */
export const JOB_RUNNER = path.join(ROOT, "components", "boot", "gpu-notebook-job");
/** The idle watcher, which answers npm run status. */
export const IDLE_WATCHER = path.join(ROOT, "components", "boot", "idle-watcher.py");

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
    refuseInUnitRun("sshd");
    mkdirSync(path.join(dir, "remote-home"), { recursive: true });
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
        // The remote shell reads $HOME/.bashrc; this computer's own (pyenv set-up, for one) would
        // add a third of a second to every command, which the machine's (Ubuntu's) does not.
        `SetEnv HOME=${path.join(dir, "remote-home")}`,
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

/**
 * The processes sshd started for its connections (their sessions' included), not sshd itself: the
 * machine's side of every connection, for a test that freezes it as a dead network would.
 */
export function sshdConnectionProcesses(sshd: Sshd): number[] {
    const table = execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" }).trim().split("\n")
        .map((line) => line.trim().split(/\s+/).map(Number));
    const found: number[] = [];
    for (let parents = [sshd.process.pid as number]; parents.length > 0;) {
        parents = table.filter(([, parent]) => parents.includes(parent)).map(([pid]) => pid);
        found.push(...parents);
    }
    return found;
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

/**
 * Ends the shared SSH connections (ControlMaster) the scripts left under `home`/.ssh: they
 * outlive the scripts by design, and would keep sshd's session processes alive after a suite.
 */
export function closeSharedConnections(home: string): void {
    const dir = path.join(home, ".ssh");
    for (const name of existsSync(dir) ? readdirSync(dir).filter((entry) => entry.startsWith("gn-")) : []) {
        try {
            execFileSync("ssh", ["-o", `ControlPath=${path.join(dir, name)}`, "-O", "exit", "shared-connection"], { stdio: "ignore", timeout: 10_000 });
        } catch {
            // already gone
        }
    }
}

/** The stack outputs the connection scripts read, under the names the program exports. */
type ConnectionOutputs = Pick<StackOutputs, "publicIp" | "sshUser" | "sshPrivateKey" | "sshKnownHosts" | "estimatedHourlyCostUsd">;

export interface LocalMachine {
    sshd: Sshd;
    /** HOME for the scripts: where they write the per-stack ssh files. */
    home: string;
    /** What a script needs to reach this machine as the stack's machine. */
    env: NodeJS.ProcessEnv;
    outputs: { [name in keyof ConnectionOutputs]: string | number };
}

/**
 * A stand-in for a deployed stack without running the program: fresh host and login keys,
 * Debian's sshd on 127.0.0.1 presenting and admitting them, and the outputs file the scripts
 * read. (test/scripts.test.ts proves the program's own outputs work the same way.)
 */
export async function startLocalMachine(dir: string, stack: string): Promise<LocalMachine> {
    mkdirSync(path.join(dir, "keys"), { recursive: true });
    const [hostKey, loginKey] = ["host", "login"].map((name) => {
        const file = path.join(dir, "keys", name);
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file]);
        return { privateKey: readFileSync(file, "utf8"), publicKey: readFileSync(`${file}.pub`, "utf8").trim() };
    });
    const home = path.join(dir, "h");
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const publicIp = "203.0.113.10";
    const outputs = {
        publicIp,
        sshUser: userInfo().username,
        sshPrivateKey: loginKey.privateKey,
        sshKnownHosts: `${publicIp} ${hostKey.publicKey}`,
        estimatedHourlyCostUsd: 0.526,
    };
    const outputsFile = path.join(dir, "outputs.json");
    writeFileSync(outputsFile, JSON.stringify(outputs), { mode: 0o600 });
    const sshd = await startSshd(path.join(dir, "sshd"), hostKey.privateKey, loginKey.publicKey);
    const env: NodeJS.ProcessEnv = { ...process.env };
    // npm's INIT_CWD would move the scripts' idea of "the current folder"; a display opens browsers.
    for (const name of ["INIT_CWD", "DISPLAY", "WAYLAND_DISPLAY"]) {
        delete env[name];
    }
    Object.assign(env, {
        HOME: home,
        GPU_NOTEBOOK_STACK: stack,
        GPU_NOTEBOOK_OUTPUTS_FILE: outputsFile,
        GPU_NOTEBOOK_SSH_HOST: "127.0.0.1",
        GPU_NOTEBOOK_SSH_PORT: String(sshd.port),
        GPU_NOTEBOOK_SSH_USER: userInfo().username,
    });
    return { sshd, home, env, outputs };
}

export async function stopLocalMachine(machine: LocalMachine | undefined): Promise<void> {
    if (machine) {
        closeSharedConnections(machine.home);
        await stopProcess(machine.sshd.process);
    }
}
