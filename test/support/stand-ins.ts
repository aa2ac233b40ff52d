// Test-only: a fresh copy of the project with its own home directory and stand-ins for what the
// user scripts call (the recording `pulumi` in stand-in/pulumi, answered by stand-in/server.js,
// and STS, stand-in/sts.ts), so a test can run
// the scripts, and the commands a user types after them, without a Pulumi CLI, AWS or the network,
// and without touching this checkout's stack files or the real ~/.pulumi. Its `ssh` (unless realSsh)
// records what it was asked and connects nowhere: the stand-in outputs' address is a documentation one.
import { execFileSync, spawn, spawnSync } from "child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { parse, stringify } from "yaml";

import { CONFIG_NAMESPACE } from "../../components/config";
import { STS_IDENTITIES } from "./aws";
import { closeSharedConnections, ROOT } from "./scripts";

export const STAND_IN_PULUMI = path.join(__dirname, "stand-in", "pulumi");

/** The ports of the stand-in servers this process has started, by name. */
const serverPorts = new Map<string, number>();

/**
 * Starts a stand-in server once per test process (node with `args`, which writes its port to the
 * file named last) and waits (at most 10 s) for its port. It ends when this process does: its
 * stdin is this process's pipe.
 */
function standInServer(name: string, args: string[]): number {
    let port = serverPorts.get(name);
    if (port === undefined) {
        const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-stand-in-"));
        const portFile = path.join(dir, "port");
        const server = spawn(process.execPath, [...args, portFile], { stdio: ["pipe", "ignore", "inherit"] });
        server.unref();
        (server.stdin as unknown as { unref?: () => void }).unref?.();
        const wait = new Int32Array(new SharedArrayBuffer(4));
        // A synchronous wait (the worlds are made in constructors): no event, so no exit event either.
        for (const deadline = Date.now() + 10_000; !existsSync(portFile); Atomics.wait(wait, 0, 0, 20)) {
            if (Date.now() > deadline) {
                throw new Error(`the ${name} did not start within 10 s (it reports its failure on this process's stderr)`);
            }
        }
        port = Number(readFileSync(portFile, "utf8"));
        serverPorts.set(name, port);
        rmSync(dir, { recursive: true, force: true });
    }
    return port;
}

/**
 * The environment that makes the AWS SDK's calls of the scripts (npm run up's credential check,
 * scripts/lib/aws-identity.ts) reach the stand-in STS of this process (stand-in/sts.ts, which
 * knows STS_IDENTITIES) and nothing else: AWS_ENDPOINT_URL_STS, as the SDKs' "Service-specific
 * endpoints" setting reads it, and no instance metadata service (169.254.169.254 is no address
 * of this computer's), which the credential chain would ask last.
 */
export function standInStsEnv(): NodeJS.ProcessEnv {
    const port = standInServer("stand-in STS", ["--require", path.join(ROOT, "scripts", "lib", "ts-require.js"), path.join(__dirname, "stand-in", "sts.ts")]);
    return { AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${port}`, AWS_EC2_METADATA_DISABLED: "true" };
}

/** Writes a test's `pulumi` into `bin`: the stand-in, answered by the stand-in server. */
function writeStandInPulumi(bin: string): void {
    const client = readFileSync(path.join(__dirname, "stand-in", "client.bash"), "utf8")
        .replaceAll("@PORT@", String(standInServer("stand-in pulumi's server", [path.join(__dirname, "stand-in", "server.js")])))
        .replaceAll("@SCRIPT@", STAND_IN_PULUMI);
    writeFileSync(path.join(bin, "pulumi"), client, { mode: 0o755 });
}

/** One call the stand-in `pulumi` recorded: its arguments, the backend it saw, where it ran, its GPU_NOTEBOOK_* variables. */
export interface PulumiCall { argv: string[]; backend: string; cwd: string; env?: Record<string, string> }

/**
 * Copies what a clone of this repository holds (the files git tracks or would track) into `into`,
 * with node_modules linked rather than installed: what `git clone` and `npm ci` would leave.
 */
export function copyProject(into: string): string {
    const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" })
        .split("\0").filter((file) => file !== "" && existsSync(path.join(ROOT, file)));
    for (const file of files) {
        mkdirSync(path.dirname(path.join(into, file)), { recursive: true });
        copyFileSync(path.join(ROOT, file), path.join(into, file));
    }
    symlinkSync(path.join(ROOT, "node_modules"), path.join(into, "node_modules"));
    return into;
}

export interface StandInOptions {
    /** The default profile's region in ~/.aws/config ("" or undefined: none). No world has the aws CLI. */
    awsProfileRegion?: string;
    /**
     * Default true: `aws configure` was run, its ~/.aws/credentials holds a default profile with
     * the key of STS_IDENTITIES.student, which the stand-in STS knows.
     */
    awsCredentials?: boolean;
    /** A PULUMI_CONFIG_PASSPHRASE the user set in their shell; default none, as for a newcomer. */
    ownPassphrase?: string;
    /** The real ssh instead of the recording stand-in: for a test that redirects it to an sshd on 127.0.0.1. */
    realSsh?: boolean;
}

/** A project copy, a home directory, a PATH whose `pulumi` is a stand-in, and the stand-in STS. */
export class StandInWorld {
    readonly dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-world-"));
    readonly home = path.join(this.dir, "home");
    readonly bin = path.join(this.dir, "bin");
    readonly project = path.join(this.dir, "gpu-notebook");
    readonly log = path.join(this.dir, "pulumi-calls.log");
    /** What the stand-in's `up` deploys: set it with setOutputs. */
    readonly outputsFile = path.join(this.dir, "deployed-outputs.json");
    /** Every `ssh` call, a JSON list of its arguments a line. */
    readonly sshLog = path.join(this.dir, "ssh-calls.log");

    constructor(private readonly options: StandInOptions = {}) {
        mkdirSync(this.home, { mode: 0o700 });
        mkdirSync(this.bin);
        mkdirSync(this.project);
        copyProject(this.project);
        writeStandInPulumi(this.bin);
        if (!options.realSsh) {
            // $STAND_IN_SSH_STATUS (default 255, ssh's own for "could not connect") and $STAND_IN_SSH_OUTPUT answer.
            writeFileSync(path.join(this.bin, "ssh"), [
                "#!/usr/bin/env node",
                "require('fs').appendFileSync(process.env.STAND_IN_SSH_LOG, JSON.stringify(process.argv.slice(2)) + '\\n');",
                "const status = Number(process.env.STAND_IN_SSH_STATUS ?? 255);",
                "if (process.env.STAND_IN_SSH_OUTPUT) console.log(process.env.STAND_IN_SSH_OUTPUT);",
                "if (status === 255) console.error('ssh: connect to host: Connection timed out (the test stand-in connects nowhere)');",
                "process.exit(status);",
                "",
            ].join("\n"), { mode: 0o755 });
        }
        if (options.awsCredentials ?? true) {
            mkdirSync(path.join(this.home, ".aws"));
            const { AccessKeyId, SecretAccessKey } = STS_IDENTITIES.student;
            writeFileSync(path.join(this.home, ".aws", "credentials"),
                `[default]\naws_access_key_id = ${AccessKeyId}\naws_secret_access_key = ${SecretAccessKey}\n`, { mode: 0o600 });
        }
        if (options.awsProfileRegion) {
            // Where `aws configure` keeps it, and where npm run up reads it (scripts/lib/region.ts).
            mkdirSync(path.join(this.home, ".aws"), { recursive: true });
            writeFileSync(path.join(this.home, ".aws", "config"), `[default]\nregion = ${options.awsProfileRegion}\n`);
        }
        this.setOutputs({}, []);
    }

    /** The outputs the next `pulumi up` deploys; `secrets` name the secret ones. */
    setOutputs(values: Record<string, unknown>, secrets: string[]): void {
        writeFileSync(this.outputsFile, JSON.stringify({ values, secrets }), { mode: 0o600 });
    }

    /**
     * The environment of a user at this computer: this home, the stand-ins first on PATH, no
     * Pulumi backend or AWS region chosen, nothing from npm or the test runner's own session.
     */
    env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
        const env: NodeJS.ProcessEnv = {};
        for (const name of ["LANG", "LC_ALL", "TERM", "USER", "LOGNAME", "TMPDIR", "CI"]) {
            if (process.env[name] !== undefined) {
                env[name] = process.env[name];
            }
        }
        return {
            ...env,
            HOME: this.home,
            PATH: [this.bin, path.dirname(process.execPath), "/usr/bin", "/bin"].join(path.delimiter),
            STAND_IN_LOG: this.log,
            STAND_IN_OUTPUTS: this.outputsFile,
            STAND_IN_SSH_LOG: this.sshLog,
            ...standInStsEnv(),
            ...(this.options.ownPassphrase !== undefined ? { PULUMI_CONFIG_PASSPHRASE: this.options.ownPassphrase } : {}),
            ...extra,
        };
    }

    /**
     * The stack deployed by the user's own `pulumi stack select --create` and `pulumi up` (with
     * the outputs setOutputs named), as a script finds it later; the calls forgotten.
     */
    deployStack(extra: NodeJS.ProcessEnv = {}, stack = "dev"): void {
        for (const args of [["stack", "select", "--create", stack], ["up", "--yes"]]) {
            const ran = spawnSync(STAND_IN_PULUMI, args, { cwd: this.project, env: this.env(extra), encoding: "utf8" });
            if (ran.status !== 0) {
                throw new Error(`pulumi ${args.join(" ")}: ${ran.stderr}`);
            }
        }
        this.forgetCalls();
    }

    calls(): PulumiCall[] {
        return existsSync(this.log)
            ? readFileSync(this.log, "utf8").trim().split("\n").map((line) => JSON.parse(line) as PulumiCall)
            : [];
    }

    /** The calls as `argv | backend=...` lines, easy to compare and to print when a test fails. */
    callLines(): string[] {
        // The event log's path is a temporary file's: left out, so the lines stay comparable.
        return this.calls().map((call) => `${call.argv.join(" ").replace(/ ?--event-log \S+/, "")} | backend=${call.backend || "none"}`);
    }

    /** The arguments of every `ssh` call the scripts made. */
    sshCalls(): string[][] {
        return existsSync(this.sshLog) ? readFileSync(this.sshLog, "utf8").trim().split("\n").map((line) => JSON.parse(line) as string[]) : [];
    }

    forgetCalls(): void {
        rmSync(this.log, { force: true });
    }

    /** The `config:` block of the project copy's Pulumi.<stack>.yaml ({} when there is no file). */
    stackConfig(stack: string): Record<string, unknown> {
        const file = path.join(this.project, `Pulumi.${stack}.yaml`);
        return existsSync(file) ? parse(readFileSync(file, "utf8"))?.config ?? {} : {};
    }

    cleanup(): void {
        // The scripts' shared SSH connection would outlive the test by 10 minutes, with its sshd session.
        closeSharedConnections(this.home);
        rmSync(this.dir, { recursive: true, force: true });
    }
}

/** The passphrase the user of a StandInStack set. */
export const STAND_IN_STACK_PASSPHRASE = "a passphrase of the user's own";

/**
 * A stack of the stand-in `pulumi`, in a local backend that is logged in to, for the suites that
 * run the scripts reading and changing a stack's config. Its project folder links to this
 * checkout's files, so the scripts run as they are, from there, and holds its own stack file.
 */
export class StandInStack {
    readonly project: string;
    private readonly bin: string;
    private readonly log: string;
    private readonly backend: string;

    /** `dir`: an empty folder the stack lives in, removed by the caller. */
    constructor(dir: string, readonly stack = "dev") {
        this.project = path.join(dir, "project");
        this.bin = path.join(dir, "bin");
        this.log = path.join(dir, "pulumi-calls.log");
        this.backend = path.join(dir, "backend");
        mkdirSync(this.project);
        mkdirSync(this.bin);
        // Every file of the checkout but its stack files, which would be this stack's.
        for (const entry of readdirSync(ROOT).filter((name) => !/^Pulumi\..+\.yaml$/.test(name) && name !== ".git")) {
            symlinkSync(path.join(ROOT, entry), path.join(this.project, entry));
        }
        writeStandInPulumi(this.bin);
    }

    /**
     * PATH with the stand-in first; the backend it is logged in to; where it records its calls; the
     * passphrase of a user who set one (a local backend's secrets need it: stand-in/pulumi).
     */
    env(rest = process.env.PATH ?? ""): NodeJS.ProcessEnv {
        return {
            PATH: `${this.bin}${path.delimiter}${rest}`, PULUMI_BACKEND_URL: `file://${this.backend}`, STAND_IN_LOG: this.log,
            PULUMI_CONFIG_PASSPHRASE: STAND_IN_STACK_PASSPHRASE,
        };
    }

    /**
     * Makes the stack exist with this config, given without the project's namespace as `pulumi
     * config set` would keep it (a scalar as text, a list or map as it is), and forgets the calls.
     */
    setConfig(config: Record<string, unknown>, extra: Record<string, unknown> = {}): void {
        const namespaced = Object.fromEntries(Object.entries(config).map(([key, value]) =>
            [`${CONFIG_NAMESPACE}:${key}`, typeof value === "object" && value !== null ? value : String(value)]));
        this.setStackFile(stringify({ config: { ...namespaced, ...extra } }));
    }

    /**
     * Makes the stack exist with this Pulumi.<stack>.yaml, deployed (an output, as an `up` leaves
     * it: stop, start and move refuse a stack with nothing deployed), and forgets the calls.
     */
    setStackFile(text: string): void {
        const state = path.join(this.backend, ".pulumi", "stacks", CONFIG_NAMESPACE, `${this.stack}.json`);
        mkdirSync(path.dirname(state), { recursive: true });
        if (!existsSync(state)) {
            writeFileSync(state, JSON.stringify({ outputs: { values: { instanceId: "i-0123456789abcdef0" }, secrets: [] } }));
        }
        writeFileSync(this.stackFile(), text);
        rmSync(this.log, { force: true });
    }

    stackFile(): string {
        return path.join(this.project, `Pulumi.${this.stack}.yaml`);
    }

    /** Every call so far, as its arguments. */
    calls(): string[][] {
        return this.recorded().map((call) => call.argv);
    }

    /** Every call so far, as the stand-in recorded it (with the GPU_NOTEBOOK_* variables it saw). */
    recorded(): PulumiCall[] {
        return existsSync(this.log) ? readFileSync(this.log, "utf8").trim().split("\n").map((line) => JSON.parse(line) as PulumiCall) : [];
    }

    /** Whether the backend holds the stack. */
    exists(): boolean {
        return existsSync(path.join(this.backend, ".pulumi", "stacks", CONFIG_NAMESPACE, `${this.stack}.json`));
    }

    /** The calls that change the config (config set and rm), in order. */
    configChanges(): string[][] {
        return this.calls().filter((call) => call[0] === "config" && (call[1] === "set" || call[1] === "rm"));
    }

    /** The `config:` block of the stack file. */
    config(): Record<string, unknown> {
        return parse(readFileSync(this.stackFile(), "utf8"))?.config ?? {};
    }
}
