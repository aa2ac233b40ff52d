// The scripts that change the stack (npm run up, destroy, stop/start, allow-my-ip), run in a copy of
// the project against the recording stand-in `pulumi` (test/support/stand-in/pulumi), with an
// address service on 127.0.0.1: what they ask Pulumi to do, and what a user's own `pulumi` calls
// see afterwards.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";

import { bundleFiles, MachineSettings } from "../components/boot";
import { DEFAULTS } from "../components/config";
import { INSTANCE_PATHS } from "../components/contract";
import { renderUnattended } from "../components/notify";
import { startSts, STS_IDENTITIES, StsIdentity } from "./support/aws";
import { ROOT, runScript, ScriptResult } from "./support/scripts";
import { StandInOptions, StandInWorld } from "./support/stand-ins";

const MY_IP = "198.51.100.23";
/** A notebook's settings, for its bundle unit: the fetch options do not depend on them. */
const SETTINGS: MachineSettings = {
    sshUser: "ubuntu", notebookPort: 8888, listenAddress: "127.0.0.1", tlsCertificatePem: "",
    unattended: renderUnattended(DEFAULTS, "gpu-notebook dev", { lastStopParameter: "/gpu-notebook/dev/notebook/last-stop" }),
};

describe("the scripts that change the stack, against the stand-in pulumi", function () {
    this.timeout(60_000);
    let ipService: http.Server;
    let ipUrl = "";
    const worlds: StandInWorld[] = [];

    before(async () => {
        ipService = http.createServer((_request, response) => response.end(`${MY_IP}\n`));
        await new Promise<void>((resolve) => ipService.listen(0, "127.0.0.1", resolve));
        ipUrl = `http://127.0.0.1:${(ipService.address() as { port: number }).port}/`;
    });

    after(async () => {
        worlds.forEach((world) => world.cleanup());
        await new Promise<void>((resolve) => ipService.close(() => resolve()));
    });

    function world(options: StandInOptions = {}): StandInWorld {
        const created = new StandInWorld(options);
        worlds.push(created);
        return created;
    }

    /** Runs scripts/<name> of the world's project copy as `npm run` would, from the project folder. */
    function script(where: StandInWorld, name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ScriptResult> {
        return runScript(name, args, where.env({ GPU_NOTEBOOK_IP_URL: ipUrl, ...env }), 30_000, where.project);
    }

    /** The user's own `pulumi ...` in the same shell afterwards: same home, same PATH, no extras. */
    function ownPulumi(where: StandInWorld, args: string[]) {
        return spawnSync("pulumi", args, { cwd: where.project, env: where.env(), encoding: "utf8" });
    }

    function ok(result: ScriptResult, where: StandInWorld): ScriptResult {
        assert.strictEqual(result.status, 0, `${result.stdout}\n${result.stderr}\ncalls:\n${where.callLines().join("\n")}`);
        return result;
    }

    describe("npm run up", () => {
        describe("the first run, on a fresh stack with nothing set up", () => {
            let here: StandInWorld;
            let first: ScriptResult;
            let calls: string[] = [];

            before(async () => {
                here = world();
                here.setOutputs({
                    publicIp: "203.0.113.10", sshUser: "ubuntu",
                    sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----",
                    sshKnownHosts: "203.0.113.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStandIn",
                }, ["sshPrivateKey"]);
                first = ok(await script(here, "up", ["--yes"]), here);
                calls = here.callLines();
            });

            it("logs in to the local backend, says so, and passes its arguments to pulumi up", () => {
                assert.match(first.stdout, /not logged in to a Pulumi backend; running 'pulumi login --local'/);
                assert.ok(calls.includes("login --local | backend=none"), calls.join("\n"));
                assert.deepStrictEqual(calls.filter((line) => line.startsWith("up ")), ["up --yes | backend=file://~"]);
            });

            it("allows only the detected public address, says so, and writes it to the stack file before pulumi up", () => {
                assert.match(first.stdout, /allowedCidrs is unset; allowing only the public address you are at now/);
                assert.match(first.stdout, /allowedCidrs is now 198\.51\.100\.23\/32/);
                assert.deepStrictEqual(here.stackConfig("dev")["gpu-notebook:allowedCidrs"], [`${MY_IP}/32`]);
                assert.ok(calls.indexOf("config set --path allowedCidrs[0] 198.51.100.23/32 | backend=file://~") < calls.indexOf("up --yes | backend=file://~"));
            });

            it("with no region in the AWS setup, sets us-east-1 in the stack and says so", () => {
                assert.match(first.stdout, /will run in us-east-1 \(no region in AWS_REGION, AWS_DEFAULT_REGION or your AWS profile\)/);
                assert.strictEqual(here.stackConfig("dev")["aws:region"], "us-east-1");
            });

            it("writes the SSH files after the update, so ssh -F works at once", () => {
                assert.match(first.stdout, /wrote .*gpu-notebook-dev\.pem, .*gpu-notebook-dev\.known_hosts and .*gpu-notebook-dev\.ssh_config/);
                assert.strictEqual(statSync(path.join(here.home, ".ssh", "gpu-notebook-dev.pem")).mode & 0o777, 0o600);
            });

            it("then installs the new boot bundle on the machine over SSH, live; a machine it cannot reach takes it at its next start", () => {
                // Besides ssh -O (asking after a shared connection), one call: the install.
                const calls = here.sshCalls().filter((args) => !args.includes("-O"));
                assert.strictEqual(calls.length, 1, JSON.stringify(here.sshCalls()));
                const [call] = calls;
                assert.deepStrictEqual(call.slice(0, 2), ["-F", path.join(here.home, ".ssh", "gpu-notebook-dev.ssh_config")]);
                assert.strictEqual(call[call.length - 2], "gpu-notebook-dev", "the stack's host alias, whose host key is pinned");
                // The boot module in live mode, with the fetch options the bundle's unit runs it with at boot:
                // named by the script from the contract, not read back out of the installed unit.
                const remote = call[call.length - 1];
                const [, given] = /exec sudo \/usr\/bin\/python3 (.*)$/.exec(remote) ?? [];
                const unit = bundleFiles(SETTINGS).find((file) => file.path === INSTANCE_PATHS.bundleService)?.content ?? "";
                const [, booted] = /^ExecStart=\/usr\/bin\/python3 (.*)$/m.exec(unit) ?? [];
                assert.ok(booted?.startsWith(`${INSTANCE_PATHS.bootModule} install `), unit);
                assert.strictEqual(given, booted.replace(" install ", " install --live "), remote);
                assert.doesNotMatch(remote, /sed|ExecStart/);
                assert.match(first.stdout, /^gpu-notebook: the machine did not take the new boot bundle now \(exit 255\); it installs it at its next start$/m);
            });

            it("passes on what the machine says when it takes the bundle", async () => {
                const again = ok(await script(here, "up", ["--yes"], {
                    STAND_IN_SSH_STATUS: "0", STAND_IN_SSH_OUTPUT: "gpu-notebook: restarted the idle watcher and the job runner",
                }), here);
                assert.match(again.stdout, /^gpu-notebook: restarted the idle watcher and the job runner$/m);
                assert.doesNotMatch(again.stdout, /did not take the new boot bundle/);
            });

            it("leaves the login in place: a plain `pulumi stack output` afterwards finds the stack", () => {
                const own = ownPulumi(here, ["stack", "output", "publicIp"]);
                assert.strictEqual(own.status, 0, own.stderr);
                assert.strictEqual(own.stdout, "203.0.113.10\n");
                assert.strictEqual(here.callLines().pop(), "stack output publicIp | backend=file://~", "the user's own call used the same backend");
            });

            it("encrypts the stack's secrets with a random passphrase kept in ~/.pulumi (0600), names the file, and says to back it up", () => {
                const file = path.join(here.home, ".pulumi", "gpu-notebook-dev.passphrase");
                assert.strictEqual(statSync(file).mode & 0o777, 0o600);
                assert.ok(readFileSync(file, "utf8").trim().length >= 24, "a random passphrase");
                assert.ok(first.stdout.includes(`a random one is kept for you in ${file} (readable only by you)`), first.stdout);
                assert.match(first.stdout, /Back that file up: without it this stack's secrets cannot be read/);
                assert.ok(here.stackConfig("dev") !== undefined && readFileSync(path.join(here.project, "Pulumi.dev.yaml"), "utf8").includes("encryptionsalt:"));
            });

            it("and `npm run pulumi --` hands Pulumi that file, where the user's own pulumi (stdout captured) fails with Pulumi's words", () => {
                const viaNpm = spawnSync("npm", ["run", "--silent", "pulumi", "--", "stack", "output", "--show-secrets", "sshPrivateKey"],
                    { cwd: here.project, env: here.env(), encoding: "utf8" });
                assert.strictEqual(viaNpm.status, 0, viaNpm.stderr);
                assert.match(viaNpm.stdout, /BEGIN OPENSSH PRIVATE KEY/);
                const own = ownPulumi(here, ["stack", "output", "--show-secrets", "sshPrivateKey"]);
                assert.strictEqual(own.status, 255);
                assert.match(own.stderr, /passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables/);
            });

            it("and so does `npm run pulumi -- stack output`, through the same CLI", () => {
                const viaNpm = spawnSync("npm", ["run", "--silent", "pulumi", "--", "stack", "output", "publicIp"],
                    { cwd: here.project, env: here.env(), encoding: "utf8" });
                assert.strictEqual(viaNpm.status, 0, viaNpm.stderr);
                assert.strictEqual(viaNpm.stdout, "203.0.113.10\n");
                assert.strictEqual(here.callLines().pop(), "stack output publicIp | backend=file://~");
            });
        });

        it("keeps the backend the user is logged in to, and logs in nowhere", async () => {
            const here = world();
            const theirs = `file://${here.dir}/their-state`;
            assert.strictEqual(ownPulumi(here, ["login", theirs]).status, 0);
            here.forgetCalls();
            ok(await script(here, "up"), here);
            assert.ok(here.callLines().every((line) => line.endsWith(`backend=${theirs}`)), here.callLines().join("\n"));
            assert.ok(!here.callLines().some((line) => line.startsWith("login")));
        });

        it("does not switch backends when the user's own login fails, and says how to fix it", async () => {
            const here = world();
            mkdirSync(path.join(here.home, ".pulumi"));
            // Logged in to Pulumi Cloud once, but the token is gone: `pulumi whoami` fails.
            writeFileSync(path.join(here.home, ".pulumi", "credentials.json"), '{"current": "https://api.pulumi.com"}');
            const result = await script(here, "up");
            assert.strictEqual(result.status, 1, result.stdout);
            assert.match(result.stderr, /logged in to a Pulumi backend, but 'pulumi whoami' fails for it/);
            assert.match(result.stderr, /fix that login \(pulumi login\)/);
            assert.ok(!here.callLines().some((line) => /^(login|stack|config|up)/.test(line)), here.callLines().join("\n"));
        });

        it("leaves a configured allowedCidrs alone", async () => {
            const here = world();
            writeFileSync(path.join(here.project, "Pulumi.dev.yaml"), "config:\n  gpu-notebook:allowedCidrs:\n    - 10.0.0.0/8\n");
            ok(await script(here, "up"), here);
            assert.deepStrictEqual(here.stackConfig("dev")["gpu-notebook:allowedCidrs"], ["10.0.0.0/8"]);
            assert.ok(!here.callLines().some((line) => line.includes("allowedCidrs[")));
        });

        it("stops before pulumi up with what to run when the address cannot be detected", async () => {
            const here = world();
            const result = await script(here, "up", [], { GPU_NOTEBOOK_IP_URL: "http://127.0.0.1:9/" });
            assert.strictEqual(result.status, 1);
            assert.match(result.stderr, /could not be detected/);
            assert.match(result.stderr, /pulumi config set --path 'allowedCidrs\[0\]'/);
            assert.ok(!here.callLines().some((line) => line.startsWith("up")));
        });

        describe("region", () => {
            const regionSections = [["README.md", "### Region"], ["docs/configuration.md", "## Region"]].map(([file, heading]) => {
                const text = readFileSync(path.join(ROOT, file), "utf8");
                const start = text.indexOf(`\n${heading}\n`);
                assert.ok(start >= 0, `${file} has ${heading}`);
                const end = text.indexOf("\n#", start + heading.length + 2);
                return { file, section: text.slice(start, end < 0 ? undefined : end) };
            });

            for (const { file, section } of regionSections) {
                it(`${file}'s first-run advice works as written on a fresh stack, with no login`, async () => {
                    const firstRun = [...section.matchAll(/`(([A-Z_]+)=(\S+) npm run up)`/g)];
                    assert.ok(firstRun.length > 0, "it shows how to choose the region on the first run");
                    for (const [, command, variable, region] of firstRun) {
                        const here = world();
                        ok(await script(here, "up", ["--yes"], { [variable]: region }), here);
                        assert.strictEqual(here.stackConfig("dev")["aws:region"], region, command);
                    }
                });

                it(`${file} shows \`pulumi config set aws:region\` only for a stack that exists: on a fresh one it fails`, () => {
                    const sentences = section.split(/(?<=\.)\s/).filter((sentence) => sentence.includes("config set aws:region"));
                    for (const sentence of sentences.filter((each) => !/^\s*(pulumi|aws) /m.test(each))) {
                        assert.match(sentence, /exists/, `"${sentence}" says it is for an existing stack`);
                    }
                    const fresh = ownPulumi(world(), ["config", "set", "aws:region", "eu-west-1"]);
                    assert.notStrictEqual(fresh.status, 0, "before a login and a stack, config set fails");
                });
            }

            it("takes AWS_REGION first, then AWS_DEFAULT_REGION, then the profile's region, and keeps it in the stack", async () => {
                const cases: [StandInOptions, NodeJS.ProcessEnv, string, RegExp][] = [
                    [{ awsProfileRegion: "ap-south-1" }, { AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "eu-north-1" }, "eu-west-1", /\(AWS_REGION\)/],
                    [{ awsProfileRegion: "ap-south-1" }, { AWS_DEFAULT_REGION: "eu-north-1" }, "eu-north-1", /\(AWS_DEFAULT_REGION\)/],
                    [{ awsProfileRegion: "ap-south-1" }, {}, "ap-south-1", /\(your AWS profile default\)/],
                    [{ awsProfileRegion: "ap-south-1" }, { AWS_PROFILE: "course", AWS_CONFIG_FILE: "course.config" }, "eu-west-3", /\(your AWS profile course\)/],
                    [{ awsProfileRegion: "" }, {}, "us-east-1", /no region in/],
                ];
                for (const [options, env, region, source] of cases) {
                    const here = world(options);
                    if (env.AWS_CONFIG_FILE) {
                        // A config file of its own, a profile section of its own: read without the aws CLI.
                        env.AWS_CONFIG_FILE = path.join(here.dir, env.AWS_CONFIG_FILE);
                        // Its keys too, as the config file may hold them: npm run up asks STS with them first.
                        const { AccessKeyId, SecretAccessKey } = STS_IDENTITIES.course;
                        writeFileSync(env.AWS_CONFIG_FILE, "[default]\nregion = ap-south-1\n\n[profile course]\n# a comment\nregion = eu-west-3\n" +
                            `aws_access_key_id = ${AccessKeyId}\naws_secret_access_key = ${SecretAccessKey}\n`);
                    }
                    const result = ok(await script(here, "up", [], env), here);
                    assert.strictEqual(here.stackConfig("dev")["aws:region"], region, JSON.stringify(env));
                    assert.match(result.stdout, source);
                }
            });

            it("keeps the stack's region on later runs, and says so when the AWS setup now names another", async () => {
                const here = world();
                ok(await script(here, "up", [], { AWS_REGION: "eu-west-1" }), here);
                here.forgetCalls();
                const later = ok(await script(here, "up", [], { AWS_REGION: "us-west-2" }), here);
                assert.strictEqual(here.stackConfig("dev")["aws:region"], "eu-west-1");
                assert.ok(!here.callLines().some((line) => line.startsWith("config set aws:region")));
                assert.match(later.stdout, /this stack runs in eu-west-1 \(aws:region\), not in us-west-2 \(AWS_REGION\)/);
            });

            it("refuses a region name that is not one, before anything is set", async () => {
                const here = world();
                const result = await script(here, "up", [], { AWS_REGION: "Frankfurt" });
                assert.strictEqual(result.status, 1);
                assert.match(result.stderr, /Frankfurt \(AWS_REGION\) is not an AWS region name such as us-east-1/);
                assert.ok(!here.callLines().some((line) => line.startsWith("config set") || line.startsWith("up")));
            });
        });
    });

    /** A world where npm run up has run once, as a newcomer runs it (no passphrase set), calls forgotten. */
    async function deployed(): Promise<StandInWorld> {
        const here = world();
        here.setOutputs({ instanceId: "i-0123456789abcdef0", running: true }, []);
        ok(await script(here, "up", ["--yes"]), here);
        here.forgetCalls();
        return here;
    }

    /** The calls that change the stack, not the reads. */
    const changes = (where: StandInWorld) => where.callLines()
        .filter((line) => !/^(whoami|login|config --json|stack output|stack --show-name|stack select \S+ --non-interactive)/.test(line));

    it("npm run destroy runs pulumi destroy on the stack with the given arguments, with the passphrase npm run up made", async () => {
        const here = await deployed();
        ok(await script(here, "destroy", ["--yes"]), here);
        assert.deepStrictEqual(changes(here), ["destroy --yes | backend=file://~"]);
    });

    describe("the passphrase", () => {
        it("one the user set is honoured: no file is made, and later runs with it work", async () => {
            const here = world();
            const own = { PULUMI_CONFIG_PASSPHRASE: "my own" };
            ok(await script(here, "up", [], own), here);
            assert.ok(!existsSync(path.join(here.home, ".pulumi", "gpu-notebook-dev.passphrase")));
            ok(await script(here, "up", [], own), here);
            const wrong = await script(here, "up", [], { PULUMI_CONFIG_PASSPHRASE: "not mine" });
            assert.strictEqual(wrong.status, 255);
            assert.match(wrong.stderr, /incorrect passphrase/);
        });

        it("without it, a read-only command says the passphrase is missing, not that npm run up has not run", async () => {
            const here = world();
            here.setOutputs({ publicIp: "203.0.113.10", sshUser: "ubuntu" }, []);
            ok(await script(here, "up", [], { PULUMI_CONFIG_PASSPHRASE: "my own" }), here);
            // The notebook's password is a secret only the CLI gives (the kept outputs hold none).
            const result = await script(here, "notebook", ["--no-browser", "--timeout", "1"]);
            assert.strictEqual(result.status, 1);
            assert.match(result.stderr, /stack dev keeps its secrets with a Pulumi passphrase, and none is given here: set PULUMI_CONFIG_PASSPHRASE/);
            assert.doesNotMatch(result.stderr, /has npm run up run/);
        });

        it("a Pulumi Cloud backend changes nothing: no file is made", async () => {
            const here = world();
            ok(await script(here, "up", [], { PULUMI_BACKEND_URL: "https://api.pulumi.com", PULUMI_ACCESS_TOKEN: "pul-stand-in" }), here);
            assert.ok(!existsSync(path.join(here.home, ".pulumi", "gpu-notebook-dev.passphrase")));
        });
    });

    describe("AWS credentials, proved with STS before anything is written (no aws CLI here)", () => {
        const { student, course, expired } = STS_IDENTITIES;
        const keys = (identity: StsIdentity, secret = identity.SecretAccessKey) => ({
            AWS_ACCESS_KEY_ID: identity.AccessKeyId, AWS_SECRET_ACCESS_KEY: secret, ...(identity.Token ? { AWS_SESSION_TOKEN: identity.Token } : {}),
        });

        /** Runs npm run up where it must fail; asserts it wrote nothing: no login, no stack, no region, no file. */
        async function refused(here: StandInWorld, env: NodeJS.ProcessEnv = {}): Promise<ScriptResult> {
            const before = readFileSync(path.join(here.project, "Pulumi.dev.yaml"), "utf8");
            const result = await script(here, "up", [], env);
            assert.strictEqual(result.status, 1, result.stdout);
            assert.deepStrictEqual(here.callLines(), [], "no pulumi call at all");
            assert.strictEqual(readFileSync(path.join(here.project, "Pulumi.dev.yaml"), "utf8"), before);
            assert.ok(!existsSync(path.join(here.home, ".pulumi")), "nothing written in ~/.pulumi");
            assert.match(result.stderr, /; nothing was written\. To fix it, give AWS credentials first: put an access key in ~\/\.aws\/credentials/);
            return result;
        }

        it("keys that STS accepts: the account is shown, and the run goes on", async () => {
            const here = world({ awsCredentials: false });
            const result = ok(await script(here, "up", [], keys(student)), here);
            assert.match(result.stdout, /^gpu-notebook: AWS account 123456789012 \(arn:aws:iam::123456789012:user\/student\)$/m);
            assert.ok(here.callLines().some((line) => line.startsWith("up")));
        });

        it("with none, it says how to provide them and writes nothing", async () => {
            const result = await refused(world({ awsCredentials: false }));
            assert.match(result.stderr, /^gpu-notebook: no AWS credentials found /);
            assert.match(result.stderr, /or set AWS_PROFILE to a profile of ~\/\.aws\/config .*or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; then run npm run up again\n$/);
        });

        it("a wrong secret: STS's signature check refuses it (SignatureDoesNotMatch), and nothing is written", async () => {
            const result = await refused(world({ awsCredentials: false }), keys(student, `${student.SecretAccessKey}x`));
            assert.match(result.stderr, /the AWS credentials were refused by STS: SignatureDoesNotMatch: The request signature we calculated does not match/);
        });

        it("a key STS does not know (InvalidClientTokenId) and an expired session (ExpiredToken) are refused with AWS's words", async () => {
            const unknown = await refused(world({ awsCredentials: false }), keys({ ...student, AccessKeyId: "AKIAEXAMPLEUNKNOWN01" }));
            assert.match(unknown.stderr, /refused by STS: InvalidClientTokenId: The security token included in the request is invalid\./);
            const old = await refused(world({ awsCredentials: false }), keys(expired));
            assert.match(old.stderr, /refused by STS: ExpiredToken: The security token included in the request is expired/);
        });

        it("uses the profile AWS_PROFILE names in ~/.aws/credentials, not the default one", async () => {
            const here = world();
            writeFileSync(path.join(here.home, ".aws", "credentials"),
                `\n[course]\naws_access_key_id = ${course.AccessKeyId}\naws_secret_access_key = ${course.SecretAccessKey}\n`, { flag: "a" });
            const result = ok(await script(here, "up", [], { AWS_PROFILE: "course" }), here);
            assert.match(result.stdout, /AWS account 210987654321 \(arn:aws:iam::210987654321:user\/course\/alice\)/);
            const missing = await refused(world(), { AWS_PROFILE: "nobody" });
            assert.match(missing.stderr, /^gpu-notebook: no AWS credentials found for the profile nobody \(AWS_PROFILE\) in ~\/\.aws\/credentials or ~\/\.aws\/config;/);
        });

        it("asks STS in the region the stack will be pinned to", async () => {
            const sts = await startSts([student], "eu-west-1");
            try {
                const here = world();
                const env = { AWS_REGION: "eu-west-1", AWS_ENDPOINT_URL_STS: sts.url };
                ok(await script(here, "up", [], env), here);
                assert.match(String(sts.received[0]?.headers.authorization), /\/eu-west-1\/sts\/aws4_request/);
                const elsewhere = world();
                const result = await refused(elsewhere, { AWS_REGION: "us-west-2", AWS_ENDPOINT_URL_STS: sts.url });
                assert.match(result.stderr, /SignatureDoesNotMatch: the credential scope .*us-west-2\/sts is not for sts in eu-west-1/);
            } finally {
                await sts.close();
            }
        });

        it("an STS that never answers: it gives up within the time limit, says so, and writes nothing", async () => {
            // Accepts the connection and never answers, as a black-holed network would.
            const silent = net.createServer(() => undefined);
            await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
            try {
                const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
                const result = await refused(world(), { AWS_ENDPOINT_URL_STS: url, GPU_NOTEBOOK_STS_TIMEOUT: "2" });
                assert.match(result.stderr, /^gpu-notebook: no answer from AWS STS within 2 s; nothing was written/);
                assert.ok(result.ms < 12_000, `gave up after ${result.ms} ms`);
            } finally {
                silent.close();
            }
        });
    });

    it("the scripts use the stack `pulumi stack select` chose; GPU_NOTEBOOK_STACK still wins", async () => {
        const here = await deployed();
        const passphrase = { PULUMI_CONFIG_PASSPHRASE_FILE: path.join(here.home, ".pulumi", "gpu-notebook-dev.passphrase") };
        assert.strictEqual(spawnSync("pulumi", ["stack", "select", "--create", "prod"], { cwd: here.project, env: here.env(passphrase) }).status, 0);
        const selected = await script(here, "power", ["stop"]);
        assert.match(selected.stderr, /nothing is deployed in stack prod/, `${selected.stdout}\n${here.callLines().join("\n")}`);
        ok(await script(here, "power", ["stop"], { GPU_NOTEBOOK_STACK: "dev" }), here);
        assert.strictEqual(here.stackConfig("dev")["gpu-notebook:running"], "false");
    });

    describe("with nothing deployed (a HOME where npm run up never ran)", () => {
        for (const [name, args] of [["destroy", ["--yes"]], ["power", ["stop"]], ["power", ["start"]], ["move", ["--zone", "us-east-1c", "--yes"]]] as const) {
            it(`${name} ${args[0]} says so, fails, and changes nothing: no login, no stack, no stack file edit, no update`, async () => {
                const here = world();
                const before = readFileSync(path.join(here.project, "Pulumi.dev.yaml"), "utf8");
                const result = await script(here, name, [...args]);
                assert.strictEqual(result.status, 1, result.stdout);
                assert.strictEqual(result.stderr, "gpu-notebook: nothing is deployed in stack dev: create it with npm run up\n");
                assert.deepStrictEqual(here.callLines(), ["whoami --verbose --non-interactive | backend=none"]);
                assert.strictEqual(readFileSync(path.join(here.project, "Pulumi.dev.yaml"), "utf8"), before);
                assert.ok(!existsSync(path.join(here.home, ".pulumi")), "nothing written in ~/.pulumi");
            });
        }

        it("move without a terminal says nothing is deployed rather than asking for --yes", async () => {
            const here = world();
            const result = await script(here, "move", ["--zone", "us-east-1c"]);
            assert.strictEqual(result.status, 1);
            assert.match(result.stderr, /nothing is deployed in stack dev/);
            assert.doesNotMatch(result.stderr, /--yes/);
        });

        it("on a backend logged in to, where the stack is not there, stop changes nothing either", async () => {
            const here = world();
            assert.strictEqual(ownPulumi(here, ["login", "--local"]).status, 0);
            here.forgetCalls();
            const result = await script(here, "power", ["stop"]);
            assert.strictEqual(result.status, 1);
            assert.match(result.stderr, /nothing is deployed in stack dev: create it with npm run up/);
            assert.deepStrictEqual(changes(here), []);
        });
    });

    describe("npm run stop / start", () => {
        it("stop sets running=false and applies it with pulumi up, passing extra arguments on", async () => {
            const here = await deployed();
            ok(await script(here, "power", ["stop", "--yes"]), here);
            assert.deepStrictEqual(changes(here), [
                "config set running false | backend=file://~",
                "up --yes | backend=file://~",
            ]);
        });

        it("start sets running=true and applies it; the refresh comes from Pulumi.yaml, not a flag", async () => {
            const here = await deployed();
            ok(await script(here, "power", ["start"]), here);
            assert.deepStrictEqual(here.callLines().slice(-2), ["config set running true | backend=file://~", "up | backend=file://~"]);
            assert.strictEqual(here.stackConfig("dev")["gpu-notebook:running"], "true");
        });

        it("explains itself with --help and refuses anything else without calling Pulumi", async () => {
            const here = world();
            const help = await script(here, "power", ["--help"]);
            assert.strictEqual(help.status, 0);
            assert.match(help.stdout, /^npm run stop \[/m);
            assert.match(help.stdout, /^npm run start \[/m);
            assert.match(help.stdout, /keeps its disk/);
            const wrong = await script(here, "power", ["pause"]);
            assert.strictEqual(wrong.status, 2);
            assert.match(wrong.stderr, /usage: .* stop\|start/);
            assert.deepStrictEqual(here.calls(), []);
        });
    });

    describe("npm run allow-my-ip", () => {
        /** Runs allow-my-ip on a stack whose allowedCidrs is `current` (YAML, or undefined: unset). */
        async function allowMyIp(current: string | undefined, args: string[] = []): Promise<{ result: ScriptResult; changes: string[]; here: StandInWorld }> {
            const here = world();
            if (current !== undefined) {
                writeFileSync(path.join(here.project, "Pulumi.test.yaml"), `config:\n  gpu-notebook:allowedCidrs: ${current}\n`);
            }
            const result = ok(await script(here, "allow-my-ip", args, { GPU_NOTEBOOK_STACK: "test" }), here);
            const changes = here.callLines().filter((line) => /^config (set|rm)/.test(line)).map((line) => line.split(" | ")[0]);
            return { result, changes, here };
        }

        it("appends the current address to an allowedCidrs list with one config change", async () => {
            const { result, changes, here } = await allowMyIp('["10.0.0.0/8"]');
            assert.deepStrictEqual(changes, [`config set --path allowedCidrs[1] ${MY_IP}/32`]);
            assert.deepStrictEqual(here.stackConfig("test")["gpu-notebook:allowedCidrs"], ["10.0.0.0/8", `${MY_IP}/32`]);
            assert.match(result.stdout, /Run npm run up to apply it/);
        });

        it("changes nothing when the address is already allowed", async () => {
            const { result, changes } = await allowMyIp(`["10.0.0.0/8", "${MY_IP}/32"]`);
            assert.deepStrictEqual(changes, []);
            assert.match(result.stdout, /already allowed; nothing to change/);
            assert.doesNotMatch(result.stdout, /Run npm run up/);
        });

        it("with --replace, makes the current address the only allowed network", async () => {
            const { changes, here } = await allowMyIp('["198.51.100.7/32", "10.0.0.0/8"]', ["--replace"]);
            assert.deepStrictEqual(changes, ["config rm --path allowedCidrs", `config set --path allowedCidrs[0] ${MY_IP}/32`]);
            assert.deepStrictEqual(here.stackConfig("test")["gpu-notebook:allowedCidrs"], [`${MY_IP}/32`]);
        });

        it("starts a list when allowedCidrs is unset", async () => {
            const { changes } = await allowMyIp(undefined);
            assert.deepStrictEqual(changes, [`config set --path allowedCidrs[0] ${MY_IP}/32`]);
        });

        it("rewrites a comma-separated string as a list, keeping its networks", async () => {
            const { changes, here } = await allowMyIp('"198.51.100.7/32, 10.0.0.0/8"');
            assert.deepStrictEqual(changes, [
                "config rm --path allowedCidrs",
                "config set --path allowedCidrs[0] 198.51.100.7/32",
                "config set --path allowedCidrs[1] 10.0.0.0/8",
                `config set --path allowedCidrs[2] ${MY_IP}/32`,
            ]);
            assert.deepStrictEqual(here.stackConfig("test")["gpu-notebook:allowedCidrs"], ["198.51.100.7/32", "10.0.0.0/8", `${MY_IP}/32`]);
        });
    });
});
