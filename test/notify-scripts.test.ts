// npm run notify-test and npm run status on a machine that does not answer, for real: the scripts
// reach Debian's sshd on 127.0.0.1 as the stack's machine and run a stand-in notifier there, and
// read the last stop's record through a stand-in `aws` that answers `aws ssm get-parameter` as the
// real CLI does (AWS CLI v2: `--query Parameter.Value --output text` prints the value and a
// newline; a missing parameter exits 254 with "An error occurred (ParameterNotFound) when calling
// the GetParameter operation: " on stderr).
import * as assert from "assert";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { INSTANCE_PATHS } from "../components/contract";
import { closeSharedConnections, LocalMachine, runScript, ScriptResult } from "./support/scripts";
import { sharedMachine } from "./support/shared-servers";
import { freePort, requireCommands } from "./support/system";

const { lastStopLines } = require("../scripts/lib/last-stop.js") as { lastStopLines: (record: unknown, now: number) => string[] };

const STACK = "notify";
const LAST_STOP_ARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/gpu-notebook/notify/notebook/last-stop";
/** A PATH with the system's tools and this node, and no aws CLI unless a stand-in folder is put first. */
const BASE_PATH = [path.dirname(process.execPath), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":");

describe("npm run notify-test, and the last stop when the machine does not answer", function () {
    this.timeout(60_000);
    let dir = "";
    let machine: LocalMachine | undefined;
    let env: NodeJS.ProcessEnv = {};

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
        // The aws CLI's stand-in: records its arguments, answers get-parameter from a file (or ParameterNotFound).
        mkdirSync(path.join(dir, "bin"));
        writeFileSync(path.join(dir, "bin", "aws"), [
            "#!/bin/sh",
            `printf '%s\\n' "$@" > ${path.join(dir, "aws-args")}`,
            `if [ -e ${path.join(dir, "record.json")} ]; then cat ${path.join(dir, "record.json")}; echo; exit 0; fi`,
            "echo 'An error occurred (ParameterNotFound) when calling the GetParameter operation: ' >&2",
            "exit 254",
        ].join("\n"));
        chmodSync(path.join(dir, "bin", "aws"), 0o755);
        env = {
            ...machine.env, GPU_NOTEBOOK_STACK: STACK, GPU_NOTEBOOK_NOTIFIER: path.join(dir, "notifier"),
            GPU_NOTEBOOK_OUTPUTS_FILE: outputs("running", { running: true, lastStopParameter: LAST_STOP_ARN }),
            PATH: `${path.join(dir, "bin")}:${BASE_PATH}`,
        };
    });

    after(() => {
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

        it("status says when and why it stopped and that the notification was not delivered, read with aws ssm get-parameter", async () => {
            writeFileSync(path.join(dir, "record.json"), JSON.stringify(RECORD));
            const closed = await freePort();
            const result = await run("status", [], { GPU_NOTEBOOK_SSH_PORT: String(closed) });
            assert.strictEqual(result.status, 1);
            assert.match(result.stdout, /NOT reachable/);
            assert.match(result.stdout, /^Last stop: +\d{4}-\d\d-\d\d \d\d:\d\d \(.* ago\): idle stop; idle for 60 min$/m);
            assert.match(result.stdout, /^Notified: +NOT delivered: webhook: HTTP 500, 3 tries; email: not configured$/m);
            assert.deepStrictEqual(readFileSync(path.join(dir, "aws-args"), "utf8").trim().split("\n"),
                ["ssm", "get-parameter", "--region", "eu-west-1", "--name", "/gpu-notebook/notify/notebook/last-stop", "--query", "Parameter.Value", "--output", "text"]);
        });

        it("notify-test says it cannot reach the machine, the likely causes and the last stop", async () => {
            writeFileSync(path.join(dir, "record.json"), JSON.stringify({ ...RECORD, reason: "spot", detail: "", notification: { delivered: true, detail: "email" } }));
            const closed = await freePort();
            const result = await run("notify-test", [], { GPU_NOTEBOOK_SSH_PORT: String(closed) });
            assert.strictEqual(result.status, 1);
            assert.match(result.stdout, /the machine is stopped .*: npm run start$/m);
            assert.match(result.stdout, /^Last stop: +.*: a spot interruption: EC2 took the capacity back$/m);
            assert.match(result.stdout, /^Notified: +yes \(email\)$/m);
        });

        it("says what cannot be read, in one line each: no aws CLI, no parameter, a deploy from before the record", async () => {
            const closed = String(await freePort());
            const noCli = await run("status", [], { GPU_NOTEBOOK_SSH_PORT: closed, PATH: BASE_PATH });
            assert.match(noCli.stdout, /^Last stop: +unknown here: reading it needs the aws CLI \(aws ssm get-parameter --region eu-west-1 --name \/gpu-notebook\/notify\/notebook\/last-stop\)$/m);
            rmSync(path.join(dir, "record.json"), { force: true });
            const missing = await run("status", [], { GPU_NOTEBOOK_SSH_PORT: closed });
            assert.match(missing.stdout, /^Last stop: +could not be read: An error occurred \(ParameterNotFound\) when calling the GetParameter operation:/m);
            const older = await run("status", [], { GPU_NOTEBOOK_SSH_PORT: closed, GPU_NOTEBOOK_OUTPUTS_FILE: outputs("older", { running: true }) });
            assert.match(older.stdout, /^Last stop: +not recorded by this deploy \(npm run up records stops from now on\)$/m);
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
