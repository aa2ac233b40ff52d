// npm run notify-test and npm run status on a machine that does not answer, for real: the scripts
// reach Debian's sshd on 127.0.0.1 as the stack's machine and run a stand-in notifier there, and
// read the last stop's record from a stand-in SSM on 127.0.0.1 that checks SigV4
// (support/aws.ts startSsm), through AWS_ENDPOINT_URL_SSM, with no aws CLI on PATH.
import * as assert from "assert";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as net from "net";
import { tmpdir } from "os";
import * as path from "path";

import { INSTANCE_PATHS } from "../components/contract";
import { StandIn, startSsm, STS_IDENTITIES } from "./support/aws";
import { closeSharedConnections, LocalMachine, runScript, ScriptResult } from "./support/scripts";
import { sharedMachine } from "./support/shared-servers";
import { freePort, requireCommands } from "./support/system";

const { lastStopLines } = require("../scripts/lib/last-stop.js") as { lastStopLines: (record: unknown, now: number) => string[] };

const STACK = "notify";
const LAST_STOP_NAME = "/gpu-notebook/notify/notebook/last-stop";
const LAST_STOP_ARN = `arn:aws:ssm:eu-west-1:123456789012:parameter${LAST_STOP_NAME}`;
/** A key the stand-in SSM knows but whose identity may not read parameters. */
const DENIED = { AccessKeyId: "AKIAEXAMPLEDENIED001", SecretAccessKey: "denied/EXAMPLE+secret", arn: "arn:aws:iam::123456789012:user/guest" };
/** A PATH with the system's tools and this node, and no aws CLI. */
const BASE_PATH = [path.dirname(process.execPath), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":");

describe("npm run notify-test, and the last stop when the machine does not answer", function () {
    this.timeout(60_000);
    let dir = "";
    let machine: LocalMachine | undefined;
    let env: NodeJS.ProcessEnv = {};
    let ssm: StandIn | undefined;
    const parameters = new Map<string, { type: string; value: string }>();

    function run(script: string, args: string[], overrides: NodeJS.ProcessEnv = {}): Promise<ScriptResult> {
        return runScript(script, args, { ...env, ...overrides });
    }

    /** The outputs file the scripts read, with `extra` over the machine's. */
    function outputs(name: string, extra: Record<string, unknown>): string {
        const file = path.join(dir, `${name}.json`);
        writeFileSync(file, JSON.stringify({ ...machine?.outputs, ...extra }), { mode: 0o600 });
        return file;
    }

    before(async function () {
        requireCommands(this, "/usr/sbin/sshd", "ssh");
        assert.ok(!existsSync("/usr/bin/aws") && !existsSync("/bin/aws") && !existsSync("/usr/local/bin/aws"), "the base PATH has no aws CLI");
        dir = mkdtempSync(path.join(tmpdir(), "gnn-"));
        machine = await sharedMachine();
        // The notifier's stand-in: records how it was called, prints a line per channel, exits as NOTIFIER_EXIT says.
        writeFileSync(path.join(dir, "notifier"), [
            "#!/bin/sh",
            `printf '%s\\n' "$@" > ${path.join(dir, "notifier-args")}`,
            "echo 'email: published to the topic (message id 1)'",
            "echo 'webhook: HTTP 404 from hooks.slack.com, 3 tries' >&2",
            `exit "$(cat ${path.join(dir, "notifier-exit")})"`,
        ].join("\n"));
        chmodSync(path.join(dir, "notifier"), 0o755);
        // The stack's region, as the ARN names it; the student's key, and one without ssm:GetParameter.
        const { AccessKeyId, SecretAccessKey } = STS_IDENTITIES.student;
        ssm = await startSsm(parameters, { region: "eu-west-1", keys: [{ AccessKeyId, SecretAccessKey }, DENIED], denied: [{ key: DENIED.AccessKeyId, arn: DENIED.arn }] });
        env = {
            ...machine.env, GPU_NOTEBOOK_STACK: STACK, GPU_NOTEBOOK_NOTIFIER: path.join(dir, "notifier"),
            GPU_NOTEBOOK_OUTPUTS_FILE: outputs("running", { running: true, lastStopParameter: LAST_STOP_ARN }),
            PATH: BASE_PATH,
            // The credentials as the SDK's chain finds them first; no shared files, no instance role;
            // another region in the user's setup, so that the ARN's is seen to be the one asked.
            AWS_ACCESS_KEY_ID: AccessKeyId, AWS_SECRET_ACCESS_KEY: SecretAccessKey, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined,
            AWS_SHARED_CREDENTIALS_FILE: path.join(dir, "no-credentials"), AWS_CONFIG_FILE: path.join(dir, "no-config"),
            AWS_EC2_METADATA_DISABLED: "true", AWS_REGION: "us-west-2", AWS_ENDPOINT_URL_SSM: ssm.url,
        };
    });

    after(async () => {
        await ssm?.close();
        if (machine) {
            closeSharedConnections(machine.home);
        }
        if (dir) {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("runs the machine's notifier test with the machine file, shows what each channel answered, and passes its success on", async () => {
        writeFileSync(path.join(dir, "notifier-exit"), "0");
        const result = await run("notify-test", []);
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(readFileSync(path.join(dir, "notifier-args"), "utf8").trim().split("\n"), ["test", "--machine", INSTANCE_PATHS.machineFile]);
        assert.match(result.stdout, /^email: published to the topic \(message id 1\)$/m);
        assert.match(result.stderr, /^webhook: HTTP 404 from hooks\.slack\.com, 3 tries$/m);
        assert.doesNotMatch(result.stderr, /no channel delivered/);
    });

    it("says no channel delivered and exits non-zero when the notifier says so", async () => {
        writeFileSync(path.join(dir, "notifier-exit"), "1");
        const result = await run("notify-test", []);
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /gpu-notebook: no channel delivered the test message \(see above\)/);
    });

    it("says the machine has no notifier yet, and what to do, on a machine set up before it", async () => {
        const result = await run("notify-test", [], { GPU_NOTEBOOK_NOTIFIER: path.join(dir, "not-installed", "notifier") });
        assert.strictEqual(result.status, 3);
        assert.match(result.stderr, /the machine has no notifier yet: .*npm run up installs it/);
        assert.doesNotMatch(result.stderr, /No such file|not found|no channel delivered/);
    });

    it("on a stopped notebook says so and exits non-zero, without reaching or starting the machine", async () => {
        rmSync(path.join(dir, "notifier-args"), { force: true });
        const result = await run("notify-test", [], { GPU_NOTEBOOK_OUTPUTS_FILE: outputs("stopped", { running: false, lastStopParameter: LAST_STOP_ARN }) });
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /the notebook is stopped \(running is false\), and the test message is sent by the machine itself: npm run start, then npm run notify-test/);
        assert.ok(!existsSync(path.join(dir, "notifier-args")), "the notifier did not run");
    });

    describe("a machine that does not answer", () => {
        const RECORD = {
            time: "2026-12-05T14:02:00Z", reason: "idle", detail: "idle for 60 min",
            notification: { delivered: false, detail: "webhook: HTTP 500, 3 tries; email: not configured" },
        };

        /** The record the machine wrote, as the parameter's value; undefined: no parameter. */
        function record(value: object | undefined): void {
            parameters.clear();
            if (value) {
                parameters.set(LAST_STOP_NAME, { type: "String", value: JSON.stringify(value) });
            }
        }

        /** npm run status with the machine's SSH port closed, and `overrides` over the environment. */
        async function statusUnreachable(overrides: NodeJS.ProcessEnv = {}): Promise<ScriptResult> {
            const result = await run("status", [], { GPU_NOTEBOOK_SSH_PORT: String(await freePort()), ...overrides });
            assert.strictEqual(result.status, 1, "status fails as the machine does not answer, whatever the last stop says");
            assert.match(result.stdout, /NOT reachable/);
            return result;
        }

        it("status says when and why it stopped and that the notification was not delivered, read from SSM in the ARN's region", async () => {
            record(RECORD);
            const before = ssm?.received.length ?? 0;
            const result = await statusUnreachable();
            assert.match(result.stdout, /^Last stop: +\d{4}-\d\d-\d\d \d\d:\d\d \(.* ago\): idle stop; idle for 60 min$/m);
            assert.match(result.stdout, /^Notified: +NOT delivered: webhook: HTTP 500, 3 tries; email: not configured$/m);
            const asked = ssm?.received.slice(before) ?? [];
            assert.strictEqual(asked.length, 1, "one request");
            assert.strictEqual(asked[0].headers["x-amz-target"], "AmazonSSM.GetParameter");
            assert.deepStrictEqual(JSON.parse(asked[0].body), { Name: LAST_STOP_NAME }, "a String: no decryption asked");
            assert.match(String(asked[0].headers.authorization), /Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/ssm\/aws4_request/);
        });

        it("notify-test says it cannot reach the machine, the likely causes and the last stop", async () => {
            record({ ...RECORD, reason: "spot", detail: "", notification: { delivered: true, detail: "email" } });
            const closed = await freePort();
            const result = await run("notify-test", [], { GPU_NOTEBOOK_SSH_PORT: String(closed) });
            assert.strictEqual(result.status, 1);
            assert.match(result.stdout, /the machine is stopped .*: npm run start$/m);
            assert.match(result.stdout, /^Last stop: +.*: a spot interruption: EC2 took the capacity back$/m);
            assert.match(result.stdout, /^Notified: +yes \(email\)$/m);
        });

        it("says no stop was recorded for the record a deploy starts with", async () => {
            record({});
            const result = await statusUnreachable();
            assert.match(result.stdout, /^Last stop: +none recorded since the notebook was deployed$/m);
        });

        it("says so, in one line, when the parameter is gone: outputs of a deploy that is gone or replaced", async () => {
            record(undefined);
            const result = await statusUnreachable();
            assert.match(result.stdout, new RegExp("^Last stop: +not found: AWS SSM has no parameter /gpu-notebook/notify/notebook/last-stop in eu-west-1 " +
                "\\(ParameterNotFound\\); the outputs are from a deploy that is gone or was replaced: npm run up records stops again$", "m"));
        });

        it("says the deploy from before the record has none, and asks nothing", async () => {
            const before = ssm?.received.length ?? 0;
            const result = await statusUnreachable({ GPU_NOTEBOOK_OUTPUTS_FILE: outputs("older", { running: true }) });
            assert.match(result.stdout, /^Last stop: +not recorded by this deploy \(npm run up records stops from now on\)$/m);
            assert.strictEqual(ssm?.received.length, before);
        });

        it("says a refused signature with AWS's code and message", async () => {
            record(RECORD);
            const result = await statusUnreachable({ AWS_SECRET_ACCESS_KEY: "not/the+student's+secret" });
            assert.match(result.stdout, /^Last stop: +could not be read: the AWS credentials were refused by SSM: InvalidSignatureException: The request signature we calculated does not match/m);
            assert.doesNotMatch(result.stdout, /^Notified:/m);
        });

        it("says access denied with AWS's code and message", async () => {
            record(RECORD);
            const result = await statusUnreachable({ AWS_ACCESS_KEY_ID: DENIED.AccessKeyId, AWS_SECRET_ACCESS_KEY: DENIED.SecretAccessKey });
            assert.match(result.stdout, new RegExp("^Last stop: +could not be read: access denied by AWS SSM: AccessDeniedException: User: arn:aws:iam::123456789012:user/guest " +
                "is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:eu-west-1:123456789012:parameter/gpu-notebook/notify/notebook/last-stop", "m"));
        });

        it("says there are no credentials, and where it looked", async () => {
            record(RECORD);
            const before = ssm?.received.length ?? 0;
            const result = await statusUnreachable({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
            assert.match(result.stdout, /^Last stop: +could not be read: no AWS credentials found \(none in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, in .*no-credentials or .*no-config, nor an instance role\)$/m);
            assert.strictEqual(ssm?.received.length, before, "nothing unsigned was sent");
        });

        it("gives up within its bound when SSM does not answer, and says so", async () => {
            // Accepts the connection and never answers, as a black-holed network would.
            const held: net.Socket[] = [];
            const silent = net.createServer((socket) => { held.push(socket); });
            await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
            try {
                const started = Date.now();
                const result = await statusUnreachable({ AWS_ENDPOINT_URL_SSM: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, GPU_NOTEBOOK_SSM_TIMEOUT: "2" });
                assert.match(result.stdout, /^Last stop: +could not be read: no answer from AWS SSM within 2 s$/m);
                assert.ok(Date.now() - started < 20_000, `status took ${Date.now() - started} ms`);
            } finally {
                held.forEach((socket) => socket.destroy());
                silent.close();
            }
        });
    });
});

describe("the last stop's record in words", () => {
    const NOW = Date.parse("2026-12-05T17:12:00Z");

    it("says how long ago, why in words for every reason, and what became of the notification", () => {
        const record = { time: "2026-12-05T14:02:00Z", reason: "backstop", detail: "", notification: { delivered: true, detail: "published to the notebook's topic" } };
        const [stop, notified] = lastStopLines(record, NOW);
        assert.match(stop, /\(3 h 10 min ago\): the idle backstop/);
        assert.strictEqual(notified, "Notified:    yes (published to the notebook's topic)");
        for (const reason of ["idle", "backstop", "spot", "user", "elsewhere"]) {
            assert.doesNotMatch(lastStopLines({ ...record, reason }, NOW)[0], new RegExp(`: ${reason}$`), `${reason} is said in words`);
        }
        assert.match(lastStopLines({ ...record, reason: "user" }, NOW)[0], /npm run stop/);
        assert.strictEqual(lastStopLines({ ...record, notification: null }, NOW)[1], "Notified:    no notification was due (none configured for stopping)");
        assert.match(lastStopLines({ ...record, time: "2026-12-01T14:02:00Z" }, NOW)[0], /\(4 days 3 h ago\)/);
    });

    it("says nothing was recorded for the empty record a deploy starts with", () => {
        assert.deepStrictEqual(lastStopLines({}, NOW), ["Last stop:   none recorded since the notebook was deployed"]);
    });
});
