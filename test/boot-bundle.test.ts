// The boot bundle's journey, run for real: the user data's bootstrap fetches the bundle a deploy
// recorded from a local HTTP server standing in for instance metadata and S3 (127.0.0.1), checks
// its SHA-256 and hands over to the bundle's installer, which installs it below a temporary root.
// Then the unit that runs at every boot, and `npm run up`'s live update, do the same. The commands
// the bundle lists run through a recorder (--run-with), never on this host: its bare commands
// (systemctl, loginctl...) are recorders on PATH too, and each test asserts none of them ran.
import { strict as assert } from "assert";
import { execFile, execFileSync } from "child_process";
import { createHash } from "crypto";
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "fs";
import { createServer, IncomingMessage, Server, ServerResponse } from "http";
import { AddressInfo } from "net";
import { tmpdir } from "os";
import * as path from "path";
import { parse } from "yaml";

import { MachineFile } from "../components/boot";
import { BUNDLE_TAG, INSTANCE_PATHS } from "../components/contract";
import { MockCloud, RecordedResource } from "../components/offline/mock-cloud";
import { runProgram, VALID_CONFIG } from "./support/program";
import { DEBIAN_PYTHON } from "./support/system";
import { bundleBytesOf, bundleFilesOf, userDataOf, writtenFiles } from "./support/user-data";
import { INSTANCE, TAG } from "./support/types";

const REGION = "eu-west-1";
const CREDENTIALS = { AccessKeyId: "ASIAEXAMPLEKEYID", SecretAccessKey: "example-secret", Token: "example-session-token" };
/** Fast retries here; the product's schedule is the rendered one. */
const QUICK = ["--first-delay", "0.01", "--max-delay", "0.02"];

/** The commands a bundle's machine file lists: at boot (setup) and over SSH (live). */
interface Commands {
    setup: string[][];
    live: string[][];
}

interface Deployed {
    bundle: Buffer;
    reference: string;
    files: MachineFile[];
    userData: string;
    machine: Commands;
}

async function deploy(config: Record<string, string>): Promise<Deployed> {
    const cloud = new MockCloud();
    await runProgram(config, cloud);
    const instance = cloud.one(INSTANCE);
    const files = bundleFilesOf(cloud, instance);
    const machineFile = files.find((file) => file.path === INSTANCE_PATHS.machineFile);
    assert.ok(machineFile, "the bundle holds the machine file");
    return {
        bundle: bundleBytesOf(cloud, instance),
        reference: (cloud.one(TAG) as RecordedResource).inputs.value,
        files,
        userData: userDataOf(instance),
        machine: JSON.parse(machineFile.content),
    };
}

/** A gzipped tar of these entries, written by Python's tarfile as given (no name cleaned up). */
function tarball(entries: ({ name: string; content: string; mode: number } | { name: string; symlinkTo: string })[]): Buffer {
    const script = [
        "import io, json, sys, tarfile",
        "out = io.BytesIO()",
        "with tarfile.open(fileobj=out, mode='w:gz') as archive:",
        "    for entry in json.loads(sys.argv[1]):",
        "        info = tarfile.TarInfo(entry['name'])",
        "        if 'symlinkTo' in entry:",
        "            info.type, info.linkname = tarfile.SYMTYPE, entry['symlinkTo']",
        "            archive.addfile(info)",
        "        else:",
        "            data = entry['content'].encode()",
        "            info.size, info.mode = len(data), entry['mode']",
        "            archive.addfile(info, io.BytesIO(data))",
        "sys.stdout.buffer.write(out.getvalue())",
    ].join("\n");
    return execFileSync(DEBIAN_PYTHON, ["-c", script, JSON.stringify(entries)]);
}

/** Instance metadata and S3 in one server: what the machine asks, and what it is answered. */
class StandIn {
    tag: string | undefined;
    /** How many more reads of the tag answer 404, as before the tag resource exists. */
    tagMissingFor = 0;
    objects = new Map<string, Buffer>();
    /** Answers to give S3 requests before the objects are served: one status each. */
    s3Failures: number[] = [];
    s3Requests: IncomingMessage[] = [];
    private server: Server;

    constructor() {
        this.server = createServer((request, response) => this.answer(request, response));
    }

    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    stop(): Promise<void> {
        return new Promise((resolve) => this.server.close(() => resolve()));
    }

    private answer(request: IncomingMessage, response: ServerResponse): void {
        const url = request.url ?? "";
        const send = (status: number, body: string | Buffer = "") => {
            response.writeHead(status);
            response.end(body);
        };
        if (url === "/latest/api/token") {
            return send(request.method === "PUT" ? 200 : 405, "token");
        }
        if (url.startsWith("/latest/meta-data/")) {
            if (request.headers["x-aws-ec2-metadata-token"] !== "token") {
                return send(401);
            }
            const item = url.slice("/latest/meta-data/".length);
            const answers: Record<string, string | undefined> = {
                "placement/region": REGION,
                "iam/security-credentials/": "instance-role",
                "iam/security-credentials/instance-role": JSON.stringify(CREDENTIALS),
                [`tags/instance/${BUNDLE_TAG}`]: this.tagMissingFor-- > 0 ? undefined : this.tag,
            };
            const value = answers[item];
            return value === undefined ? send(404) : send(200, value);
        }
        this.s3Requests.push(request);
        const failure = this.s3Failures.shift();
        if (failure !== undefined) {
            return send(failure, "<Error><Code>SlowDown</Code></Error>");
        }
        const object = this.objects.get(url.slice(1));
        return object ? send(200, object) : send(404, "<Error><Code>NoSuchKey</Code></Error>");
    }
}

interface Run {
    status: number;
    output: string;
}

function run(command: string[], env: NodeJS.ProcessEnv): Promise<Run> {
    return new Promise((resolve) => {
        execFile(command[0], command.slice(1), { timeout: 60_000, env }, (error, stdout, stderr) => {
            const status = error ? (typeof error.code === "number" ? error.code : 1) : 0;
            resolve({ status, output: `${stdout}${stderr}` });
        });
    });
}

describe("the boot bundle, fetched and installed as the machine does it", function () {
    let deployed: Deployed;
    let standIn: StandIn;
    let endpoint: string;
    let root: string;
    /** The recorders: the runner the tests name with --run-with, and the host's commands on PATH. */
    let recorders: string;
    let env: NodeJS.ProcessEnv;
    /** The next deploy's bundle (another notebookPort), made once when a test needs it. */
    let nextDeploy: Promise<Deployed> | undefined;
    const next = () => nextDeploy ??= deploy({ ...VALID_CONFIG, notebookPort: "8443" });

    /** Each line a recorder wrote: one command, its words separated by tabs. */
    const recorded = (name: string): string[][] => {
        const log = path.join(recorders, name);
        return existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean).map((line) => line.split("\t").slice(0, -1)) : [];
    };
    const runner = () => path.join(recorders, "run-with");

    before(async function () {
        deployed = await deploy(VALID_CONFIG);
        standIn = new StandIn();
        endpoint = await standIn.start();
        recorders = mkdtempSync(path.join(tmpdir(), "gpu-notebook-recorders-"));
        const record = (log: string, status: number) =>
            `#!/bin/sh\nprintf '%s\\t' "$0" "$@" >> '${path.join(recorders, log)}'\nprintf '\\n' >> '${path.join(recorders, log)}'\nexit ${status}\n`;
        writeFileSync(runner(), record("ran.log", 0).replace('"$0" ', ""), { mode: 0o755 });
        // Every command the bundle names: a bare one finds a recorder first on PATH that fails;
        // one named by its path is the machine's own, which this host does not have.
        mkdirSync(path.join(recorders, "host"));
        for (const [command] of [...deployed.machine.setup, ...deployed.machine.live]) {
            if (command.startsWith("/")) {
                assert.ok(!existsSync(command), `${command} is not on this host, so no test can run it here`);
            } else {
                writeFileSync(path.join(recorders, "host", command), record("host.log", 1), { mode: 0o755 });
            }
        }
        env = { ...process.env, PATH: `${path.join(recorders, "host")}${path.delimiter}${process.env.PATH}` };
    });

    after(async () => {
        await standIn?.stop();
        rmSync(recorders, { recursive: true, force: true });
    });

    beforeEach(() => {
        root = mkdtempSync(path.join(tmpdir(), "gpu-notebook-bundle-"));
        // What cloud-init writes from the user data, below the root.
        for (const file of writtenFiles(deployed.userData)) {
            mkdirSync(path.dirname(path.join(root, file.path)), { recursive: true });
            writeFileSync(path.join(root, file.path), file.content, { mode: parseInt(file.permissions, 8) });
        }
        standIn.tag = deployed.reference;
        standIn.objects = new Map([[deployed.reference, deployed.bundle]]);
        standIn.s3Failures = [];
        standIn.tagMissingFor = 0;
        standIn.s3Requests = [];
        rmSync(path.join(recorders, "ran.log"), { force: true });
    });

    afterEach(() => {
        rmSync(root, { recursive: true, force: true });
        assert.deepStrictEqual(recorded("host.log"), [], "no command ran on this host");
    });

    /** The user data's one command, with the stand-ins and the temporary root; its commands run through the recorder. */
    function firstBoot(...extra: string[]): Promise<Run> {
        const runcmd: string[][] = parse(deployed.userData).runcmd;
        assert.equal(runcmd.length, 1, "the bootstrap runs one command");
        const [, module, ...options] = runcmd[0];
        assert.equal(module, INSTANCE_PATHS.awsModule);
        return run([DEBIAN_PYTHON, path.join(root, module), ...options, "--root", root, "--imds-url", endpoint,
            "--s3-endpoint", endpoint, ...QUICK, "--run-with", runner(), ...extra], env);
    }

    /** The bundle unit's command, as installed, at a later boot or (with --live) from npm run up, which passes the same options. */
    function installer(...extra: string[]): Promise<Run> {
        return run([...installerCommand(), "--run-with", runner(), ...extra], env);
    }

    function installerCommand(): string[] {
        const unit = readFileSync(path.join(root, INSTANCE_PATHS.bundleService), "utf8");
        const command = /^ExecStart=(.+)$/m.exec(unit)?.[1].split(" ") ?? [];
        assert.equal(command[1], INSTANCE_PATHS.bootModule);
        return [DEBIAN_PYTHON, path.join(root, command[1]), ...command.slice(2), "--root", root, "--imds-url", endpoint,
            "--s3-endpoint", endpoint, ...QUICK];
    }

    function assertInstalled(files: MachineFile[]): void {
        for (const file of files) {
            const target = path.join(root, file.path);
            assert.equal(readFileSync(target, "utf8"), file.content, `${file.path} is the bundle's`);
            assert.equal(statSync(target).mode & 0o7777, file.mode, `${file.path} has the bundle's mode`);
        }
    }

    const marker = () => path.join(root, INSTANCE_PATHS.bundleFailed);

    it("installs the bundle the instance tag names, retrying a failed S3 request, signed with the instance role", async () => {
        standIn.s3Failures = [503];
        const result = await firstBoot();
        assert.equal(result.status, 0, result.output);
        assert.match(result.output, /attempt 1 of 12 failed: Service Unavailable .*; retrying in 0\.01s/);
        assertInstalled(deployed.files);
        assert.equal(readFileSync(path.join(root, INSTANCE_PATHS.bundleStateDir, "installed"), "utf8"), `${deployed.reference}\n`);
        assert.ok(!existsSync(marker()));
        const signed = standIn.s3Requests.at(-1)?.headers ?? {};
        assert.match(String(signed.authorization),
            new RegExp(`^AWS4-HMAC-SHA256 Credential=${CREDENTIALS.AccessKeyId}/\\d{8}/${REGION}/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$`));
        assert.equal(signed["x-amz-security-token"], CREDENTIALS.Token);
        assert.deepEqual(recorded("ran.log"), deployed.machine.setup, "then it runs the machine file's setup commands, in order");
    });

    it("retries with a doubling pause that --max-delay caps", async () => {
        standIn.s3Failures = [503, 503, 503, 503];
        const result = await firstBoot();
        assert.equal(result.status, 0, result.output);
        const pauses = [...result.output.matchAll(/^gpu-notebook-bundle: attempt \d+ of 12 failed: .*; retrying in (\S+)s$/gm)].map((match) => match[1]);
        assert.deepEqual(pauses, ["0.01", "0.02", "0.02", "0.02"]);
    });

    it("below another root, runs its commands only through --run-with: refused before it fetches or installs anything", async () => {
        assert.equal((await firstBoot()).status, 0);
        rmSync(path.join(recorders, "ran.log"));
        const later = await next();
        standIn.objects.set(later.reference, later.bundle);
        const requests = standIn.s3Requests.length;
        const result = await run([...installerCommand(), "--bundle", later.reference], env);
        assert.equal(result.status, 2, result.output);
        assert.match(result.output, new RegExp(`--root ${root}: the setup commands would act on this host's /, not on that root: add --run-with PROGRAM`));
        assert.equal(standIn.s3Requests.length, requests, "S3 was not asked");
        assertInstalled(deployed.files);
        assert.deepEqual(recorded("ran.log"), []);
    });

    it("waits for the tag, which is set only after the machine exists", async () => {
        standIn.tagMissingFor = 2;
        const result = await firstBoot();
        assert.equal(result.status, 0, result.output);
        assert.match(result.output, new RegExp(`attempt 2 of 12 failed: no tag ${BUNDLE_TAG} yet \\(HTTP 404\\)`));
        assertInstalled(deployed.files);
    });

    it("gives up after its attempts, saying why and what to do where npm run status and the console show it", async () => {
        standIn.s3Failures = [403, 403, 403];
        const result = await firstBoot("--attempts", "3");
        assert.equal(result.status, 1);
        assert.match(result.output, /attempt 3 of 3 failed: Forbidden/);
        const said = readFileSync(marker(), "utf8");
        assert.match(said, /gave up after 3 attempts; the last failure: Forbidden/);
        assert.match(said, /the machine has not finished its set-up\. Next step: npm run up/);
        assert.ok(result.output.includes(said.trim()), "the console output says the same");
        assert.ok(!existsSync(path.join(root, INSTANCE_PATHS.jobRunner)), "nothing of the bundle is installed");
    });

    it("refuses a bundle whose SHA-256 does not match its name, and keeps the one installed before", async () => {
        assert.equal((await firstBoot()).status, 0);
        const altered = Buffer.from(deployed.bundle);
        altered[altered.length - 20] ^= 0xff;
        const named = `${deployed.reference.split("/")[0]}/bundles/${createHash("sha256").update("another bundle").digest("hex")}.tar.gz`;
        standIn.tag = named;
        standIn.objects.set(named, altered);
        const result = await installer("--attempts", "2");
        assert.equal(result.status, 1, result.output);
        assert.match(result.output, /attempt 1 of 2 failed: SHA-256 [0-9a-f]{64}, not [0-9a-f]{64} \(partial or altered\)/);
        assert.match(readFileSync(marker(), "utf8"), new RegExp(`keeps the bundle installed before \\(${deployed.reference}\\)`));
        assertInstalled(deployed.files);
    });

    it("installs the tag's bundle again at every boot, from the copy it kept when S3 is unreachable", async () => {
        assert.equal((await firstBoot()).status, 0);
        unlinkSync(path.join(root, INSTANCE_PATHS.idleWatcher));
        standIn.s3Failures = Array(20).fill(500);
        const requests = standIn.s3Requests.length;
        const result = await installer();
        assert.equal(result.status, 0, result.output);
        assert.equal(standIn.s3Requests.length, requests, "S3 was not asked");
        assert.match(result.output, /the verified copy kept from an earlier fetch/);
        assertInstalled(deployed.files);
    });

    it("ignores a kept copy that no longer matches its hash, and asks S3 again", async () => {
        assert.equal((await firstBoot()).status, 0);
        const sha = deployed.reference.match(/([0-9a-f]{64})\.tar\.gz$/)?.[1];
        const keptCopy = path.join(root, INSTANCE_PATHS.bundleStateDir, "bundles", `${sha}.tar.gz`);
        assert.ok(existsSync(keptCopy), keptCopy);
        // Another valid bundle in its place: installing it unchecked would go unnoticed.
        writeFileSync(keptCopy, (await next()).bundle);
        const requests = standIn.s3Requests.length;
        const result = await installer();
        assert.equal(result.status, 0, result.output);
        assert.equal(standIn.s3Requests.length, requests + 1, "S3 was asked");
        assert.doesNotMatch(result.output, /the verified copy kept/);
        assertInstalled(deployed.files);
        assert.deepEqual(readFileSync(keptCopy), deployed.bundle, "the kept copy is the verified one again");
    });

    it("replaces each installed file whole: a hard link to one keeps the old content", async () => {
        assert.equal((await firstBoot()).status, 0);
        const config = path.join(root, INSTANCE_PATHS.jupyterConfig);
        const before = readFileSync(config, "utf8");
        const link = path.join(root, "hard-link-to-the-config");
        linkSync(config, link);
        const later = await next();
        standIn.objects.set(later.reference, later.bundle);
        const result = await installer("--live", "--bundle", later.reference);
        assert.equal(result.status, 0, result.output);
        assertInstalled(later.files);
        assert.notEqual(readFileSync(config, "utf8"), before, "the update changes the config");
        assert.equal(readFileSync(link, "utf8"), before, "a reader holding the old file never sees a half-written one");
    });

    describe("refuses a correctly hashed bundle with an entry outside its root, writing nothing", () => {
        const escape = path.join(tmpdir(), `gpu-notebook-escape-${process.pid}`);
        for (const [what, entry] of [
            ["a .. in its path", { name: `../${path.basename(escape)}`, content: "escaped\n", mode: 0o644 }],
            ["an absolute path", { name: escape, content: "escaped\n", mode: 0o644 }],
            ["a symbolic link", { name: "usr/local/bin/gpu-notebook-link", symlinkTo: escape }],
        ] as const) {
            it(what, async () => {
                assert.equal((await firstBoot()).status, 0);
                const machineFile = deployed.files.find((file) => file.path === INSTANCE_PATHS.machineFile);
                const planted = "etc/gpu-notebook/planted";
                const bundle = tarball([
                    { name: INSTANCE_PATHS.machineFile.slice(1), content: machineFile?.content ?? "", mode: 0o644 },
                    { name: planted, content: "planted\n", mode: 0o644 },
                    entry,
                ]);
                const reference = `${deployed.reference.split("/")[0]}/bundles/${createHash("sha256").update(bundle).digest("hex")}.tar.gz`;
                standIn.objects.set(reference, bundle);
                const result = await installer("--live", "--bundle", reference, "--attempts", "1");
                try {
                    assert.equal(result.status, 1, result.output);
                    assert.match(result.output, new RegExp(`could not install the boot bundle: entry '${entry.name.replace(/\./g, "\\.")}' is not a plain file below /`));
                    assert.match(readFileSync(marker(), "utf8"), /keeps the bundle installed before/);
                    assert.ok(!existsSync(escape), `${escape} was written`);
                    assert.ok(!existsSync(path.join(root, planted)), "no entry of the refused bundle is installed");
                    assertInstalled(deployed.files);
                } finally {
                    rmSync(escape, { force: true });
                }
            });
        }
    });

    it("applies a new bundle on a running machine and records that the notebook server takes it at its next start", async () => {
        assert.equal((await firstBoot()).status, 0);
        rmSync(path.join(recorders, "ran.log"));
        const later = await next();
        standIn.objects.set(later.reference, later.bundle);
        // pulumi up has set the tag to the new bundle; npm run up then runs the installer live.
        standIn.tag = later.reference;
        const result = await installer("--live");
        assert.equal(result.status, 0, result.output);
        assertInstalled(later.files);
        assert.deepEqual(recorded("ran.log"), later.machine.live, "the live commands, and only they, ran");
        const pending = readFileSync(path.join(root, INSTANCE_PATHS.updatePending), "utf8");
        assert.ok(pending.includes(INSTANCE_PATHS.jupyterConfig), pending);
        assert.match(result.output, /takes .* at its next start/);
    });
});
