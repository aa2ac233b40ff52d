// The `gpu-notebook` command (package.json "bin", scripts/gpu-notebook.js) from a folder outside
// the checkout, as someone whose code lives in its own repository runs it: put on PATH by a real
// `npm link` (into a temporary npm prefix, offline), or run by `npx --prefix CHECKOUT`. It must
// find its checkout and stack wherever it is typed, and take local paths from the folder it runs
// in: copy's paths and job's folder, against Debian's sshd and the real job runner on 127.0.0.1;
// the stack through the stand-in Pulumi CLI, which records where each call ran.
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { Jobs } from "./support/jobs";
import { JOB_RUNNER, LocalMachine, MAINTAINER_SCRIPTS, ROOT, ScriptResult, SSHD } from "./support/scripts";
import { sharedMachine } from "./support/shared-servers";
import { StandInWorld } from "./support/stand-ins";
import { DEBIAN_PYTHON, requireCommands } from "./support/system";

const NPM_SCRIPTS = Object.keys(JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts as Record<string, string>);

/** npm, offline and quiet, with its cache and global prefix in `dir`: nothing of this computer's npm set-up is touched. */
function npmEnv(dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
        ...process.env, npm_config_cache: path.join(dir, "npm-cache"), npm_config_prefix: path.join(dir, "npm-prefix"),
        npm_config_offline: "true", npm_config_update_notifier: "false", npm_config_audit: "false", npm_config_fund: "false", ...extra,
    };
}

/** `npm link` in `project`, into the npm prefix under `dir`; returns the folder to put on PATH. */
function npmLink(project: string, dir: string): string {
    const linked = spawnSync("npm", ["link"], { cwd: project, env: npmEnv(dir), encoding: "utf8", timeout: 60_000 });
    assert.strictEqual(linked.status, 0, linked.stderr);
    return path.join(dir, "npm-prefix", "bin");
}

/** Runs a command (the user's shell would find it on PATH) in `cwd`; resolves with what it printed. */
function runIn(cwd: string, command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<ScriptResult> {
    const started = Date.now();
    return new Promise((resolve) => {
        const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk) => { stdout += chunk; });
        child.stderr.on("data", (chunk) => { stderr += chunk; });
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr, ms: Date.now() - started });
        });
    });
}

describe("gpu-notebook, the command from any folder", function () {
    this.timeout(60_000);
    let dir = "";
    /** The user's own project: a folder outside the checkout. */
    let outside = "";
    let linkedPath = "";

    before(function () {
        requireCommands(this, "npm");
        dir = mkdtempSync(path.join(tmpdir(), "gnb-"));
        outside = path.join(dir, "my-project");
        mkdirSync(outside);
        assert.ok(path.relative(ROOT, outside).startsWith(".."), "the folder is outside the checkout");
        linkedPath = `${npmLink(ROOT, dir)}${path.delimiter}${process.env.PATH}`;
    });

    after(() => {
        if (dir) {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    const gpuNotebook = (args: string[], env: NodeJS.ProcessEnv = {}, cwd = outside) =>
        runIn(cwd, "gpu-notebook", args, { ...process.env, ...env, PATH: linkedPath });

    describe("help", () => {
        it("package.json names it as the bin gpu-notebook", () => {
            const bin = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).bin;
            assert.deepStrictEqual(bin, { "gpu-notebook": "scripts/gpu-notebook.js" });
        });

        it("after npm link, --help in another folder lists every command (each npm script but the maintainers'), and names the checkout", async () => {
            const ran = await gpuNotebook(["--help"]);
            assert.strictEqual(ran.status, 0, ran.stderr);
            const listed = [...ran.stdout.matchAll(/^ {2}(\S+) {2,}\S/gm)].map((match) => match[1]);
            assert.deepStrictEqual([...listed].sort(), NPM_SCRIPTS.filter((name) => !MAINTAINER_SCRIPTS.includes(name)).sort());
            assert.ok(ran.stdout.includes(realpathSync(ROOT)), ran.stdout);
        });

        it("passes a command's arguments on as npm run COMMAND -- ARGS does: its own help, its own exit status", async () => {
            const stop = await gpuNotebook(["stop", "--help"]);
            assert.strictEqual(stop.status, 0, stop.stderr);
            assert.match(stop.stdout, /^npm run stop \[-- --notebook NAME \| --all\]/);
            assert.strictEqual((await gpuNotebook(["help", "stop"])).stdout, stop.stdout);
            const refused = await gpuNotebook(["notebooks", "--bogus"]);
            assert.strictEqual(refused.status, 1);
            assert.match(refused.stderr, /unknown argument --bogus/);
        });

        it("refuses what is not a command, listing the commands", async () => {
            const ran = await gpuNotebook(["deploy"]);
            assert.strictEqual(ran.status, 2);
            assert.match(ran.stderr, /^gpu-notebook: deploy is not a command; the commands: up, plan, .*destroy, pulumi \(gpu-notebook --help\)$/m);
        });

        it("runs without npm link too: npx --prefix CHECKOUT gpu-notebook, from another folder", async () => {
            const ran = await runIn(outside, "npx", ["--prefix", ROOT, "gpu-notebook", "help", "start"], npmEnv(path.join(dir, "npx")));
            assert.strictEqual(ran.status, 0, ran.stderr);
            assert.match(ran.stdout, /^npm run start \[-- --notebook NAME \| --all\] \[--wait MINUTES\]/);
        });
    });

    describe("local paths are the folder's it runs in (sshd and the job runner on 127.0.0.1)", () => {
        let machine: LocalMachine;
        let env: NodeJS.ProcessEnv = {};
        let jobs: Jobs;

        before(async function () {
            requireCommands(this, SSHD, "ssh", "rsync", DEBIAN_PYTHON);
            machine = await sharedMachine();
            jobs = new Jobs(path.join(dir, "jobs"), path.join(dir, "run"));
            env = { ...machine.env, GPU_NOTEBOOK_STACK: "bin", GPU_NOTEBOOK_JOB_RUNNER: JOB_RUNNER, GPU_NOTEBOOK_JOB_RUNNER_ARGS: jobs.options.join(" ") };
        });

        after(() => jobs?.stopAll());

        it("copy takes a relative path from the folder it runs in, up and down", async () => {
            const remote = path.join(dir, "on-the-machine");
            mkdirSync(remote);
            writeFileSync(path.join(outside, "notes.txt"), "written in my own project");
            const up = await gpuNotebook(["copy", "notes.txt", `:${remote}/`], env);
            assert.strictEqual(up.status, 0, up.stderr);
            assert.strictEqual(readFileSync(path.join(remote, "notes.txt"), "utf8"), "written in my own project");
            const down = await gpuNotebook(["copy", `:${remote}/notes.txt`, "fetched.txt"], env);
            assert.strictEqual(down.status, 0, down.stderr);
            assert.strictEqual(readFileSync(path.join(outside, "fetched.txt"), "utf8"), "written in my own project");
        });

        it("job copies the folder it runs in, or --dir relative to it, and runs the command there", async () => {
            writeFileSync(path.join(outside, "train.py"), "print('my model')\n");
            mkdirSync(path.join(outside, "experiments", "small"), { recursive: true });
            writeFileSync(path.join(outside, "experiments", "small", "config.txt"), "lr=0.1\n");
            const here = await gpuNotebook(["job", "--name", "bin-here", "--follow", "cat", "train.py"], env);
            assert.strictEqual(here.status, 0, here.stderr);
            assert.ok(here.stdout.includes(`Copying ${realpathSync(outside)} `), here.stdout);
            assert.match(jobs.log("bin-here"), /Z print\('my model'\)$/m);
            const relative = await gpuNotebook(["job", "--dir", "experiments/small", "--name", "bin-dir", "--follow", "cat", "config.txt"], env);
            assert.strictEqual(relative.status, 0, relative.stderr);
            assert.match(jobs.log("bin-dir"), /Z lr=0\.1$/m);
        });
    });

    describe("the stack (stand-in Pulumi CLI)", () => {
        it("is the checkout's: every Pulumi call runs in the checkout, whatever folder the command is typed in", async () => {
            const world = new StandInWorld({ ownPassphrase: "a passphrase of the user's own" });
            try {
                world.setOutputs({ instanceType: "g4dn.xlarge", running: true, estimatedHourlyCostUsd: 0.526, notebookUrl: "https://203.0.113.9:8888/" }, []);
                for (const args of [["login", "--local"], ["stack", "select", "--create", "dev"], ["up", "--yes"]]) {
                    const set = spawnSync("pulumi", args, { cwd: world.project, env: world.env(), encoding: "utf8" });
                    assert.strictEqual(set.status, 0, set.stderr);
                }
                world.forgetCalls();
                const bin = npmLink(world.project, path.join(world.dir, "link"));
                const worldEnv = world.env();
                const ran = await runIn(outside, "gpu-notebook", ["notebooks"], { ...worldEnv, PATH: `${bin}${path.delimiter}${worldEnv.PATH}` });
                assert.strictEqual(ran.status, 0, ran.stderr);
                assert.match(ran.stdout, /^-\s+g4dn\.xlarge\s+running\s+\$0\.526\s+https:\/\/203\.0\.113\.9:8888\/$/m);
                const calls = world.calls();
                assert.ok(calls.length > 0);
                assert.deepStrictEqual([...new Set(calls.map((call) => realpathSync(call.cwd)))], [realpathSync(world.project)]);
            } finally {
                world.cleanup();
            }
        });
    });
});
