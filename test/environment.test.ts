// The user's environment travels with the data volume, proven on machine roots built here from the
// files the machine gets, with a folder of its own as the data volume: a real pip installs a wheel
// built here as the notebook user, a second fresh root (a replacement) attached to the same volume
// imports it, a real Jupyter started as its unit says lists a kernel registered on the volume, and
// the setup step runs once per machine, as the boot installer runs it, with stand-ins for what acts
// on the host (mount, systemctl, loginctl) and for instance metadata.
import { strict as assert } from "assert";
import { execFile, execFileSync, spawnSync } from "child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { createServer, Server } from "http";
import { AddressInfo } from "net";
import { tmpdir } from "os";
import * as path from "path";

import { homeOf, INSTANCE_PATHS, notebookDirOf } from "../components/boot";
import { unitName, USER_ENVIRONMENT, USER_HOOKS_DIR_NAME } from "../components/contract";
import { jupyterLogin, request } from "./support/http";
import { Account, buildInstanceRoot, inMachineView, isRoot, render, Rendered, serviceSection, unusedAccount } from "./support/instance";
import { JUPYTER_SERVER_COMMAND, JupyterServer, startJupyter } from "./support/jupyter";
import { eventually } from "./support/jobs";
import { VALID_CONFIG } from "./support/program";
import { DEBIAN_PYTHON, requireCommands, skipOrFail } from "./support/system";

const REPO = path.join(__dirname, "..");

/** Instance metadata (IMDSv2) answering this machine's id: a token first, then the id with it. */
class MetadataStandIn {
    instanceId = "i-0000000000000000a";
    private server: Server = createServer((incoming, response) => {
        if (incoming.url === "/latest/api/token" && incoming.method === "PUT") {
            response.writeHead(200).end("token");
        } else if (incoming.url === "/latest/meta-data/instance-id" && incoming.headers["x-aws-ec2-metadata-token"] === "token") {
            response.writeHead(200).end(this.instanceId);
        } else {
            response.writeHead(401).end();
        }
    });

    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    stop(): Promise<void> {
        return new Promise((resolve) => this.server.close(() => resolve()));
    }
}

/** A wheel as pip builds them, made by hand: one module, its METADATA, WHEEL and RECORD. */
function buildWheel(dir: string): string {
    const wheel = path.join(dir, "gnenvprobe-1.0-py3-none-any.whl");
    execFileSync(DEBIAN_PYTHON, ["-c", `
import base64, hashlib, sys, zipfile
files = {
    "gnenvprobe/__init__.py": "VALUE = 'installed on the data volume'\\n",
    "gnenvprobe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: gnenvprobe\\nVersion: 1.0\\n",
    "gnenvprobe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: hand\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
with zipfile.ZipFile(sys.argv[1], "w") as archive:
    for name, text in files.items():
        data = text.encode()
        archive.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
    record.append("gnenvprobe-1.0.dist-info/RECORD,,")
    archive.writestr("gnenvprobe-1.0.dist-info/RECORD", "\\n".join(record) + "\\n")
`, wheel]);
    return wheel;
}

interface Ran {
    status: number | null;
    stdout: string;
    stderr: string;
}

function ran(command: string[], env: NodeJS.ProcessEnv = process.env): Ran {
    const result = spawnSync(command[0], command.slice(1), { encoding: "utf8", timeout: 90_000, env });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** As ran, without blocking this process: for commands that ask the stand-ins it serves. */
function running(command: string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
    return new Promise((resolve) => {
        execFile(command[0], command.slice(1), { encoding: "utf8", timeout: 90_000, env }, (error, stdout, stderr) => {
            resolve({ status: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
        });
    });
}

describe("the user's environment and setup step, on machine roots with a data volume", function () {
    this.timeout(120_000);
    let rendered: Rendered;
    let account: Account;
    let scratch = "";
    let volume = "";
    let metadata: MetadataStandIn | undefined;
    let metadataUrl = "";
    let home = "";
    let notebooks = "";
    let pythonVersion = "";

    before(async function () {
        requireCommands(this, "unshare", "setpriv", DEBIAN_PYTHON, "python3-module:pip", "python3-module:ipykernel",
            "python3-module:jupyter_server");
        if (!isRoot()) {
            skipOrFail(this, "these tests mount machine roots in a private namespace and need root");
        }
        rendered = await render(VALID_CONFIG);
        account = unusedAccount(rendered.user);
        home = homeOf(account.name);
        notebooks = notebookDirOf(account.name);
        scratch = mkdtempSync(path.join(tmpdir(), "gpu-notebook-env-"));
        execFileSync("chmod", ["0755", scratch]);
        metadata = new MetadataStandIn();
        metadataUrl = await metadata.start();
        pythonVersion = execFileSync(DEBIAN_PYTHON, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" }).trim();
    });

    after(async () => {
        await metadata?.stop();
        if (scratch) {
            rmSync(scratch, { recursive: true, force: true });
        }
    });

    beforeEach(() => {
        // A blank data volume for each test, as mount-data-volume.sh hands a new one to the user.
        volume = mkdtempSync(path.join(scratch, "volume-"));
        chownSync(volume, account.uid, account.gid);
        execFileSync("chmod", ["0750", volume]);
    });

    /**
     * A new machine's root: the files the machine gets, its user, and stand-ins that record instead
     * of acting (the mount script, systemctl, loginctl, systemd-tmpfiles) plus an AMI Python that has
     * JupyterLab (prepare-jupyter.sh looks for it first), so the boot's steps run here as they are.
     */
    function newMachine(): string {
        const root = mkdtempSync(path.join(scratch, "root-"));
        execFileSync("chmod", ["0755", root]);
        buildInstanceRoot(root, rendered, account);
        const recorder = `#!/bin/sh\necho "$(basename "$0") $*" >> ${root}/ran.log\n`;
        mkdirSync(path.join(root, "stand-ins"));
        for (const command of ["systemctl", "loginctl", "systemd-tmpfiles"]) {
            writeFileSync(path.join(root, "stand-ins", command), recorder, { mode: 0o755 });
        }
        writeFileSync(path.join(root, INSTANCE_PATHS.mountScript), recorder, { mode: 0o755 });
        mkdirSync(path.join(root, "opt/pytorch/bin"), { recursive: true });
        writeFileSync(path.join(root, "opt/pytorch/bin/python"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
        return root;
    }

    function machineFile(root: string) {
        return JSON.parse(readFileSync(path.join(root, INSTANCE_PATHS.machineFile), "utf8"));
    }

    /** A login shell of the notebook user on `root` (bash -l, as SSH gives one), running `script`. */
    function loginShell(root: string, script: string): Ran {
        return ran(inMachineView(root, volume, notebooks, home, account,
            ["env", "-i", `HOME=${home}`, `USER=${account.name}`, `LOGNAME=${account.name}`, "PATH=/usr/bin:/bin", "bash", "-l", "-c", script]));
    }

    /**
     * A boot of `root` as the machine's id says: the setup commands of its machine file, in order, as
     * the boot installer runs them (each must succeed), as root; the setup program is pointed at the
     * metadata stand-in. Returns what it printed and the stand-ins' record.
     */
    async function boot(root: string, instanceId: string): Promise<Ran & { recorded: string[] }> {
        assert.ok(metadata);
        metadata.instanceId = instanceId;
        const driver = [
            "import json, subprocess, sys",
            "machine = json.load(open(sys.argv[1]))",
            "for step in machine['setup']:",
            "    extra = ['--imds-url', sys.argv[2]] if step[0] == machine['paths']['setupProgram'] else []",
            "    subprocess.run(step + extra, check=True, timeout=300)",
        ].join("\n");
        const result = await running(inMachineView(root, volume, notebooks, "/", undefined, [DEBIAN_PYTHON, "-c", driver, INSTANCE_PATHS.machineFile, metadataUrl]),
            { ...process.env, PATH: `${root}/stand-ins:/usr/sbin:/usr/bin:/sbin:/bin` });
        const log = path.join(root, "ran.log");
        return { ...result, recorded: existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [] };
    }

    /** Writes the user's setup file on the volume, owned by the user, as they would make it. */
    function setupFile(script: string): void {
        const dir = path.join(volume, USER_HOOKS_DIR_NAME);
        mkdirSync(dir, { recursive: true });
        chownSync(dir, account.uid, account.gid);
        writeFileSync(path.join(dir, "setup"), script, { mode: 0o755 });
        chownSync(path.join(dir, "setup"), account.uid, account.gid);
    }

    function setupRuns(): string[] {
        const file = path.join(volume, "setup-runs");
        return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];
    }

    it("pip install --user of a wheel built here lands on the data volume, and a replacement machine imports it", () => {
        const wheel = buildWheel(scratch);
        const first = newMachine();
        // Debian's Python, like the AMI's Ubuntu 24.04 one, is externally managed (PEP 668): a
        // --user install into it needs --break-system-packages there as here.
        const installed = loginShell(first, `/usr/bin/python3 -m pip install --user --break-system-packages --no-index ${wheel}`);
        assert.equal(installed.status, 0, `${installed.stdout}${installed.stderr}`);
        const onVolume = path.join(volume, `.local/lib/python${pythonVersion}/site-packages/gnenvprobe/__init__.py`);
        assert.ok(existsSync(onVolume), `the package is on the data volume: ${installed.stdout}`);
        assert.equal(statSync(onVolume).uid, account.uid);
        assert.ok(!existsSync(path.join(first, home, ".local/lib")), "nothing went to the root disk's ~/.local");

        const replacement = newMachine();
        const imported = loginShell(replacement, "/usr/bin/python3 -c 'import gnenvprobe; print(gnenvprobe.__file__); print(gnenvprobe.VALUE)'");
        assert.equal(imported.status, 0, imported.stderr);
        assert.equal(imported.stdout, `${notebooks}/.local/lib/python${pythonVersion}/site-packages/gnenvprobe/__init__.py\ninstalled on the data volume\n`);
    });

    it("conda's envs_dirs and pkgs_dirs, pip's cache and the model caches point at the volume, whose folders a boot makes for the user", async () => {
        const root = newMachine();
        const booted = await boot(root, "i-0123456789abcdef0");
        assert.equal(booted.status, 0, `${booted.stdout}${booted.stderr}`);
        const shown = loginShell(root, `printf '%s\\n' ${USER_ENVIRONMENT.map(([variable]) => `"$${variable}"`).join(" ")}; /usr/bin/python3 -m pip cache dir`);
        assert.equal(shown.status, 0, shown.stderr);
        const [...values] = shown.stdout.trim().split("\n");
        const pipCache = values.pop();
        const byVariable = Object.fromEntries(USER_ENVIRONMENT.map(([variable], index) => [variable, values[index]]));
        // conda reads CONDA_ENVS_DIRS as its envs_dirs, split on os.pathsep (conda/base/context.py:
        // _envs_dirs, SequenceParameter(..., string_delimiter=os.pathsep)); one entry here.
        const envsDirs = byVariable.CONDA_ENVS_DIRS.split(":");
        assert.deepEqual(envsDirs, [`${notebooks}/.conda/envs`]);
        assert.equal(byVariable.CONDA_PKGS_DIRS, `${notebooks}/.conda/pkgs`);
        assert.equal(pipCache, `${notebooks}/.cache/pip`, "pip itself says its cache is on the volume");
        for (const [variable, relative] of USER_ENVIRONMENT) {
            assert.equal(byVariable[variable], `${notebooks}/${relative}`, variable);
            const folder = statSync(path.join(volume, relative));
            assert.ok(folder.isDirectory(), `${relative} is made on the volume`);
            assert.equal(folder.uid, account.uid, `${relative} belongs to the user`);
        }
        const hooks = statSync(path.join(volume, USER_HOOKS_DIR_NAME));
        assert.ok(hooks.isDirectory() && hooks.uid === account.uid, "the setup file's folder is there for the user to put one in");
    });

    it("Jupyter, started as its unit says, lists a kernel registered on the volume after a replacement, beside the default one", async () => {
        const first = newMachine();
        const registered = loginShell(first, "/usr/bin/python3 -m ipykernel install --user --name on-the-volume --display-name 'On the volume'");
        assert.equal(registered.status, 0, registered.stderr);
        assert.ok(existsSync(path.join(volume, ".local/share/jupyter/kernels/on-the-volume/kernel.json")), registered.stderr);

        const replacement = newMachine();
        const unit = serviceSection(readFileSync(path.join(replacement, INSTANCE_PATHS.serviceUnit), "utf8"));
        assert.equal(unit.EnvironmentFile, INSTANCE_PATHS.environmentFile);
        // The environment file as systemd reads it: KEY=VALUE lines, comments skipped.
        const environment = Object.fromEntries(readFileSync(path.join(replacement, unit.EnvironmentFile), "utf8").split("\n")
            .filter((line) => /^\w+=/.test(line)).map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
        let server: JupyterServer | undefined;
        try {
            server = await startJupyter({
                configFile: INSTANCE_PATHS.jupyterConfig,
                cwd: replacement,
                home,
                env: environment,
                command: inMachineView(replacement, volume, notebooks, unit.WorkingDirectory, account,
                    [...JUPYTER_SERVER_COMMAND, `--config=${INSTANCE_PATHS.jupyterConfig}`]),
            });
            const { jar } = await jupyterLogin(server.baseUrl, rendered.password, rendered.certificatePem);
            const listing = await request(`${server.baseUrl}/api/kernelspecs`, { ca: rendered.certificatePem, jar });
            assert.equal(listing.status, 200, listing.body);
            const specs = JSON.parse(listing.body) as { default: string; kernelspecs: Record<string, { spec: { display_name: string } }> };
            assert.equal(specs.kernelspecs["on-the-volume"]?.spec.display_name, "On the volume", Object.keys(specs.kernelspecs).join(", "));
            assert.ok(specs.kernelspecs[specs.default], `the default kernel ${specs.default} is listed`);
        } finally {
            await server?.stop();
        }
    });

    it("runs the setup file once per machine, as the notebook user, after the mount and before the notebook server: not again at a reboot", async () => {
        setupFile('#!/bin/sh\necho "setup as $(id -un) in $PWD: $GPU_NOTEBOOK_SETUP_REASON"\n' +
            'echo "$GPU_NOTEBOOK_INSTANCE_ID $HF_HOME" >> "$HOME/notebooks/setup-runs"\n');
        const first = newMachine();
        const booted = await boot(first, "i-0aaaaaaaaaaaaaaaa");
        assert.equal(booted.status, 0, `${booted.stdout}${booted.stderr}`);
        assert.deepEqual(setupRuns(), [`i-0aaaaaaaaaaaaaaaa ${notebooks}/.cache/huggingface`]);
        const log = path.join(volume, USER_HOOKS_DIR_NAME, "setup.log");
        assert.match(readFileSync(log, "utf8"), new RegExp(`^setup as ${account.name} in ${notebooks}/${USER_HOOKS_DIR_NAME}: a new machine$`, "m"));
        assert.equal(statSync(log).uid, account.uid, "the log is the user's");
        // In the installer's order: the volume mounted, then the setup, then the notebook server started.
        const steps: string[][] = machineFile(first).setup;
        const at = (program: string) => steps.findIndex((step) => step[0] === program);
        assert.ok(at(INSTANCE_PATHS.mountScript) < at(INSTANCE_PATHS.setupProgram), "the setup runs after the mount");
        assert.ok(at(INSTANCE_PATHS.setupProgram) < at(INSTANCE_PATHS.prepareScript), "and before the notebook server starts");
        assert.ok(booted.recorded.includes(`systemctl start --no-block ${unitName(INSTANCE_PATHS.serviceUnit)}`), booted.recorded.join("\n"));

        const reboot = await boot(first, "i-0aaaaaaaaaaaaaaaa");
        assert.equal(reboot.status, 0, reboot.stderr);
        assert.match(reboot.stdout, /the setup ran on this machine already/);
        assert.equal(setupRuns().length, 1, "a reboot of the same machine does not run it again");

        const replacement = newMachine();
        assert.equal((await boot(replacement, "i-0bbbbbbbbbbbbbbbb")).status, 0);
        assert.deepEqual(setupRuns().map((line) => line.split(" ")[0]), ["i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"],
            "a replacement (a new root disk, the same volume) runs it");

        const byHand = await running(inMachineView(replacement, volume, notebooks, "/", undefined,
            [INSTANCE_PATHS.setupProgram, "run", "--machine", INSTANCE_PATHS.machineFile, "--imds-url", metadataUrl]));
        assert.equal(byHand.status, 0, byHand.stderr);
        assert.match(byHand.stdout, new RegExp(`^setup as ${account.name} in .*: by hand$`, "m"), "by hand, its output shows as it comes");
        assert.equal(setupRuns().length, 3);
    });

    it("a failing setup still leaves the notebook server started, and npm run status and setup-log say so", async () => {
        setupFile("#!/bin/sh\necho 'E: Unable to locate package nosuchpackage'\nexit 100\n");
        const root = newMachine();
        const booted = await boot(root, "i-0cccccccccccccccc");
        assert.equal(booted.status, 0, `the boot goes on: ${booted.stdout}${booted.stderr}`);
        assert.ok(booted.recorded.includes(`systemctl start --no-block ${unitName(INSTANCE_PATHS.serviceUnit)}`), booted.recorded.join("\n"));

        // npm run status: the idle watcher's report on the machine, as the user, put into words here.
        const jobs = path.join(root, "jobs-here");
        const report = ran(inMachineView(root, volume, notebooks, home, account, [INSTANCE_PATHS.idleWatcher, "status", "--json",
            "--machine", INSTANCE_PATHS.machineFile, "--jobs-dir", jobs, "--run-dir", jobs, "--idle-state", `${jobs}/idle.json`, "--nvidia-smi", "/bin/false"]));
        assert.equal(report.status, 0, report.stderr);
        const words = spawnSync("node", [path.join(REPO, "scripts/lib/job-report.js"), "status"], { input: report.stdout, encoding: "utf8" });
        assert.match(words.stdout, /^Setup: +FAILED .*\(a new machine\): failed, exit status 100, after \d+ s; the notebook server started anyway; its output: npm run setup-log \(~\/notebooks\/\.gpu-notebook\/setup\.log\)\. Fix it, then run it again: npm run setup-log -- --run$/m,
            words.stdout);

        // npm run setup-log: the record and the log, shown.
        const shown = ran(inMachineView(root, volume, notebooks, home, account, [INSTANCE_PATHS.setupProgram, "show", "--machine", INSTANCE_PATHS.machineFile]));
        assert.equal(shown.status, 0, shown.stderr);
        const setupLog = spawnSync("node", [path.join(REPO, "scripts/lib/job-report.js"), "setup"], { input: shown.stdout, encoding: "utf8" });
        assert.match(setupLog.stdout, /^Setup: +FAILED /m);
        assert.match(setupLog.stdout, /^E: Unable to locate package nosuchpackage$/m);
    });

    it("a job started by the job runner gets the environment too, so its downloads land on the volume", async () => {
        const root = newMachine();
        const started = ran(inMachineView(root, volume, notebooks, home, account, [INSTANCE_PATHS.jobRunner, "start", "env-probe",
            "--machine", INSTANCE_PATHS.machineFile, "--run-dir", `${notebooks}/run`, "--dir", notebooks, "--", "sh", "-c", "echo \"HF_HOME=$HF_HOME\""]));
        assert.equal(started.status, 0, `${started.stdout}${started.stderr}`);
        const log = path.join(volume, "jobs", "env-probe", "job.log");
        await eventually(() => existsSync(log) && readFileSync(log, "utf8").includes("HF_HOME="), () => `no output in ${log}`);
        assert.match(readFileSync(log, "utf8"), new RegExp(`HF_HOME=${notebooks}/\\.cache/huggingface$`, "m"));
    });
});

describe("without a data volume (dataVolumeGb: 0)", () => {
    it("the machine gets no environment file, profile or unit setting: every tool keeps its default on the root disk", async () => {
        const bare = await render({ ...VALID_CONFIG, dataVolumeGb: "0" });
        const paths = bare.files.map((file) => file.path);
        assert.ok(!paths.includes(INSTANCE_PATHS.environmentFile) && !paths.includes(INSTANCE_PATHS.profileScript), paths.join("\n"));
        const unit = bare.files.find((file) => file.path === INSTANCE_PATHS.serviceUnit)?.content ?? "";
        assert.doesNotMatch(unit, /EnvironmentFile=/);
        const machine = JSON.parse(bare.files.find((file) => file.path === INSTANCE_PATHS.machineFile)?.content ?? "{}");
        assert.deepEqual(machine.notebook.environment, {});
        // The setup step stays: a root disk of its own still runs the setup file once.
        assert.ok(machine.setup.some((step: string[]) => step[0] === INSTANCE_PATHS.setupProgram));
    });
});
