// Unattended runs on a real machine root (test/support/machine-root.ts): the installed idle
// watcher, job runner, stop sequence, spot watcher and notifier, run as the machine runs them
// against real jobs of the notebook user (`games` here: test/support/machine-root.ts NOTEBOOK_USER), and against stand-ins on 127.0.0.1 for
// instance metadata (IMDSv2, with a spot interruption notice), SNS and SSM (both checking SigV4
// signatures: test/support/aws.ts) and a webhook receiver that holds the JSON to what Slack and
// Discord accept. No test powers anything off: `systemctl` is a recorder on PATH.
// Limits are seconds here (machine.json's unattended object); the watcher's clock is --now.
import * as assert from "assert";
import { ChildProcess, execFile, execFileSync, spawn } from "child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as path from "path";

import { INSTANCE_PATHS, STOP_REASON_TAG } from "../components/contract";
import { MockCloud, RecordedResource } from "../components/offline/mock-cloud";
import { INSTANCE_ID, Received, REGION, startImds, startServer, startSns, startSsm, StandIn } from "./support/aws";
import { eventually } from "./support/jobs";
import { makeMachineRoot, MachineRoot, Unattended } from "./support/machine-root";
import { runProgram, StackRun, VALID_CONFIG } from "./support/program";
import { DEBIAN_PYTHON, delay, freePort, requireCommands } from "./support/system";

const MINUTE = 60;
const TOPIC = "arn:aws:sns:eu-west-1:123456789012:gpu-notebook-dev-notify";
const WEBHOOK_PARAMETER = "/gpu-notebook/dev/notebook/webhook";
const LAST_STOP = "/gpu-notebook/dev/notebook/last-stop";
const UNATTENDED: Unattended = {
    jobStallMinutes: 1, jobStopGraceSeconds: 3, hookTimeoutSeconds: 2, spotPollSeconds: 1, spotDeadlineSeconds: 100,
    lastStopParameter: LAST_STOP, label: "gpu-notebook dev",
    notify: { events: ["job-finished", "job-failed", "job-stalled", "stopping", "budget"], topicArn: TOPIC, webhookParameter: WEBHOOK_PARAMETER },
};

interface Published { topic: string; subject: string; message: string }
interface Hook { text: string; content: string; event: string; notebook: string; instanceId: string; time: string }

describe("unattended runs on a real machine root", function () {
    this.timeout(120_000);
    let machine: MachineRoot;
    let imds: StandIn;
    let sns: StandIn;
    let ssm: StandIn;
    let webhook: StandIn;
    let cloudwatch: StandIn;
    let webhookStatus = 200;
    let spotNotice: string | undefined;
    let stopTag: string | undefined;
    const published: Published[] = [];
    const hooks: Hook[] = [];
    const parameters = new Map<string, { type: string; value: string }>();
    const children: ChildProcess[] = [];
    let env: NodeJS.ProcessEnv;
    let jupyterUrl = "";
    let sshPort = 0;
    let count = 0;

    /** Runs an installed program of the machine as root with the stand-ins' environment; resolves with its output. */
    function program(machinePath: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; out: string }> {
        return new Promise((resolve) => execFile(machine.at(machinePath), args, { encoding: "utf8", env, timeout: timeoutMs },
            (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout + stderr })));
    }

    /** One check of the idle watcher as its unit runs it, at --now, limit 60 min; not a dry run unless asked. */
    async function check(now: number, state: string, dryRun = false): Promise<string> {
        const { code, out } = await program(INSTANCE_PATHS.idleWatcher, [
            "check", "--machine", machine.machineFile, "--now", String(now), "--state", state, "--idle-minutes", "60",
            "--jupyter-url", jupyterUrl, "--ssh-port", String(sshPort), "--imds-url", imds.url, "--monitoring-url", `${cloudwatch.url}/`,
            ...(dryRun ? ["--dry-run"] : [])]);
        assert.strictEqual(code, 0, out);
        return out;
    }

    function startJob(script: string): string {
        count += 1;
        const name = `job-${count}`;
        machine.runner(["prepare", name]);
        machine.runner(["start", name, "--", "sh", "-c", script], env);
        return name;
    }

    const listed = (name: string) => JSON.parse(machine.runner(["list", "--json"])).jobs.find((job: { name: string }) => job.name === name);
    const jobLog = (name: string) => readFileSync(path.join(machine.jobsDir, name, "job.log"), "utf8");
    const waitForLog = (name: string, text: string) => eventually(() => jobLog(name).includes(text), () => `no "${text}" in ${jobLog(name)}`);
    const lastStop = () => JSON.parse(parameters.get(LAST_STOP)?.value ?? "{}");

    /** A new boot, as far as the stop sequence is concerned: no marker, no reason file, no record. */
    function newBoot(): void {
        for (const file of [INSTANCE_PATHS.stopMarker, INSTANCE_PATHS.stopReasonFile]) {
            rmSync(machine.at(file), { force: true });
        }
        rmSync(path.join(machine.runDir, "machine-stop.json"), { force: true });
        parameters.delete(LAST_STOP);
        published.length = 0;
        hooks.length = 0;
    }

    /** The user's on-stop hook: records its reason and user, then runs `then`. */
    function writeHook(then: string): string {
        const hook = path.join(machine.notebookDir, ".gpu-notebook", "on-stop");
        const seen = path.join(machine.notebookDir, "hook-saw");
        rmSync(seen, { force: true });
        writeFileSync(hook, `#!/bin/sh\necho "hook output for the log"\necho "$GPU_NOTEBOOK_STOP_REASON $(id -u) $(ls ${machine.jobsDir}/*/checkpoint 2>/dev/null | wc -l)" > ${seen}\n${then}\n`);
        chmodSync(hook, 0o755);
        return seen;
    }

    before(async function () {
        requireCommands(this, DEBIAN_PYTHON);
        machine = await makeMachineRoot("gpu-notebook-unattended-", UNATTENDED);
        imds = await startImds({
            "spot/instance-action": () => spotNotice,
            "instance-life-cycle": () => "spot",
            [`tags/instance/${STOP_REASON_TAG}`]: () => stopTag,
        });
        sns = await startSns([TOPIC], published);
        ssm = await startSsm(parameters);
        cloudwatch = await startServer((_request, response) => response.end("<PutMetricDataResponse/>"));
        webhook = await startServer((request: Received, response) => {
            // Slack and Discord take a JSON body: Slack needs `text`, Discord `content` of at most 2000 characters.
            const body = JSON.parse(request.body);
            assert.strictEqual(request.headers["content-type"], "application/json");
            assert.ok(typeof body.text === "string" && body.text.length > 0, request.body);
            assert.ok(typeof body.content === "string" && body.content.length > 0 && body.content.length <= 2000, request.body);
            hooks.push(body);
            response.statusCode = webhookStatus;
            response.end(webhookStatus === 200 ? "ok" : "server error");
        });
        parameters.set(WEBHOOK_PARAMETER, { type: "SecureString", value: `${webhook.url}/services/T000/B000/XXXXsecretXXXX` });
        sshPort = await freePort();
        jupyterUrl = `http://127.0.0.1:${await freePort()}/`; // nothing listens: no kernels
        const bin = machine.at("/fake-bin");
        mkdirSync(bin);
        writeFileSync(path.join(bin, "systemctl"), `#!/bin/sh\necho "$*" >> ${machine.at("/systemctl.log")}\n`, { mode: 0o755 });
        writeFileSync(path.join(bin, "nvidia-smi"), "#!/bin/sh\necho 0\n", { mode: 0o755 });
        env = {
            PATH: `${bin}:/usr/bin:/bin`, GPU_NOTEBOOK_IMDS_URL: imds.url, GPU_NOTEBOOK_ENDPOINT_SNS: sns.url, GPU_NOTEBOOK_ENDPOINT_SSM: ssm.url,
        };
    });

    after(async () => {
        for (const child of children) {
            child.kill("SIGKILL");
        }
        if (machine) {
            for (const job of JSON.parse(machine.runner(["list", "--json"])).jobs.filter((each: { state: string }) => each.state === "running")) {
                machine.runner(["stop", job.name, "--grace", "1"]);
            }
            rmSync(machine.root, { recursive: true, force: true });
        }
        for (const server of [imds, sns, ssm, webhook, cloudwatch]) {
            await server?.close();
        }
    });

    afterEach(() => {
        for (const job of JSON.parse(machine.runner(["list", "--json"])).jobs.filter((each: { state: string }) => each.state === "running")) {
            machine.runner(["stop", job.name, "--grace", "1"]);
        }
        webhookStatus = 200;
        spotNotice = undefined;
        stopTag = undefined;
    });

    describe("stalled jobs", () => {
        it("a sleeping job with a silent log is stalled at the limit, stops counting, is notified once, and a stop records it as stalled", async () => {
            newBoot();
            const name = startJob("echo started; exec sleep 600");
            await waitForLog(name, "started");
            const state = path.join(machine.root, `state-${name}.json`);
            const t0 = Math.ceil(Date.now() / 1000);
            assert.match(await check(t0, state), /reason=active:jobs/);
            await delay(1000);
            const before = await check(t0 + MINUTE - 1, state);
            assert.match(before, /verdict=keep .*reason=active:jobs/, "a second under the limit it still counts");
            assert.strictEqual(listed(name).stalled, null);
            await delay(1000);
            const at = await check(t0 + MINUTE, state);
            assert.doesNotMatch(at, /reason=active:\S*jobs/, at);
            assert.match(at, new RegExp(`job ${name} stalled; notification: gpu-notebook-notify: job-stalled: email: delivered after 1 attempt \\(delivered\\); webhook: delivered`));
            const saved = JSON.parse(readFileSync(state, "utf8"));
            assert.deepStrictEqual(saved.stalled_jobs, [name]);
            assert.deepStrictEqual(listed(name).stalled, { since: t0 + MINUTE, quiet_since: t0 });
            assert.strictEqual(listed(name).state, "running", "a stalled job is not killed");
            assert.strictEqual(published.length, 1);
            assert.match(published[0].subject, new RegExp(`^gpu-notebook dev: job ${name} stalled: no output, no CPU, GPU idle for 1 min`));
            assert.deepStrictEqual(hooks.map((hook) => hook.event), ["job-stalled"]);
            await check(t0 + 2 * MINUTE, state);
            assert.strictEqual(published.length, 1, "notified once");

            const stopped = await program(INSTANCE_PATHS.stopProgram, ["run", "--machine", machine.machineFile, "--reason", "idle"]);
            assert.strictEqual(stopped.code, 0, stopped.out);
            assert.strictEqual(listed(name).state, "interrupted");
            assert.strictEqual(listed(name).interrupted_reason, "stalled");
        });

        it("a job that writes output never stalls", async () => {
            const name = startJob("while :; do echo tick; sleep 0.2; done");
            await waitForLog(name, "tick");
            const state = path.join(machine.root, `state-${name}.json`);
            const t0 = Math.ceil(Date.now() / 1000);
            for (const minutes of [0, 1, 2, 3]) {
                await delay(700);
                assert.match(await check(t0 + minutes * MINUTE, state, true), /reason=active:\S*jobs/);
            }
            assert.strictEqual(listed(name).stalled, null);
        });

        it("a silent job that burns CPU never stalls", async () => {
            const name = startJob(`exec ${DEBIAN_PYTHON} -c 'while True: pass'`);
            const state = path.join(machine.root, `state-${name}.json`);
            const t0 = Math.ceil(Date.now() / 1000);
            for (const minutes of [0, 1, 2, 3]) {
                await delay(1000);
                const line = await check(t0 + minutes * MINUTE, state, true);
                assert.deepStrictEqual(JSON.parse(readFileSync(state, "utf8")).stalled_jobs, [], line);
            }
            assert.strictEqual(listed(name).stalled, null);
        });
    });

    describe("the stop sequence", () => {
        it("warns the jobs (a trapping job saves its checkpoint, one that ignores SIGTERM is killed after the grace), runs the hook under its timeout, notifies and records", async () => {
            newBoot();
            const saver = startJob("trap 'echo saving; echo step-7 > checkpoint; exit 0' TERM; echo ready; while :; do sleep 0.1; done");
            const stubborn = startJob("trap '' TERM; echo ready; while :; do sleep 0.1; done");
            await waitForLog(saver, "ready");
            await waitForLog(stubborn, "ready");
            const seen = writeHook("exec sleep 30");
            const started = Date.now();
            const { code, out } = await program(INSTANCE_PATHS.stopProgram, ["run", "--machine", machine.machineFile, "--reason", "user"]);
            const seconds = (Date.now() - started) / 1000;
            assert.strictEqual(code, 0, out);
            assert.strictEqual(readFileSync(path.join(machine.jobsDir, saver, "checkpoint"), "utf8"), "step-7\n");
            assert.match(jobLog(saver), /saving/);
            for (const name of [saver, stubborn]) {
                assert.strictEqual(listed(name).state, "interrupted", name);
                assert.strictEqual(listed(name).interrupted_reason, "user", name);
            }
            assert.match(out, new RegExp(`SIGKILL after 3 s to ${stubborn}\\b`));
            // Grace 3 s, hook cut at 2 s: at least both, and not much more.
            assert.ok(seconds >= 5 && seconds < 30, `the sequence took ${seconds} s`);
            // The hook ran as the notebook user, with the reason, after the jobs had saved.
            assert.strictEqual(readFileSync(seen, "utf8"), `user ${machine.user.uid} 1\n`);
            const hookLog = readFileSync(path.join(machine.notebookDir, ".gpu-notebook", "on-stop.log"), "utf8");
            assert.match(hookLog, /hook output for the log/);
            assert.match(hookLog, /the hook ran past its 2 s and was ended/);
            assert.match(published.map((each) => each.subject).join("\n"), /^gpu-notebook dev: the machine is stopping: npm run stop$/m);
            assert.deepStrictEqual(hooks.map((hook) => [hook.event, hook.instanceId]), [["stopping", INSTANCE_ID]]);
            const record = lastStop();
            assert.strictEqual(record.reason, "user");
            assert.match(record.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
            assert.strictEqual(record.notification.delivered, true, JSON.stringify(record));

            const again = await program(INSTANCE_PATHS.stopProgram, ["run", "--machine", machine.machineFile]);
            assert.match(again.out, /ran already in this boot/);
            assert.strictEqual(hooks.length, 1, "never twice");
        });

        it("the idle watcher's power-off runs it first, with the reason idle and the minutes", async () => {
            newBoot();
            rmSync(machine.at("/systemctl.log"), { force: true });
            const seen = writeHook("true");
            const state = path.join(machine.root, "state-idle.json");
            const t0 = Math.ceil(Date.now() / 1000);
            await check(t0, state);
            assert.ok(!existsSync(seen), "no stop under the limit");
            assert.match(await check(t0 + 61 * MINUTE, state), /verdict=stop .*action=poweroff/);
            assert.match(readFileSync(seen, "utf8"), /^idle /);
            assert.deepStrictEqual([lastStop().reason, lastStop().detail], ["idle", "idle for 61 min"]);
            assert.match(published[0].subject, /stopping: idle stop \(idle for 61 min\)$/);
            assert.strictEqual(readFileSync(machine.at("/systemctl.log"), "utf8"), "poweroff\n", "then the power-off");
        });

        it("takes the reason from the reason file, then the instance tag, else elsewhere", async () => {
            writeHook("true");
            newBoot();
            writeFileSync(machine.at(INSTANCE_PATHS.stopReasonFile), JSON.stringify({ reason: "idle", detail: "idle for 61 min" }));
            stopTag = "backstop";
            await program(INSTANCE_PATHS.stopProgram, ["run", "--machine", machine.machineFile]);
            assert.deepStrictEqual([lastStop().reason, lastStop().detail], ["idle", "idle for 61 min"]);
            newBoot();
            await program(INSTANCE_PATHS.stopProgram, ["run", "--machine", machine.machineFile]);
            assert.strictEqual(lastStop().reason, "backstop");
            assert.match(published[0].subject, /stopping: the backstop/);
            newBoot();
            stopTag = undefined;
            await program(INSTANCE_PATHS.stopProgram, ["run", "--machine", machine.machineFile]);
            assert.strictEqual(lastStop().reason, "elsewhere");
            assert.strictEqual(readFileSync(path.join(machine.notebookDir, "hook-saw"), "utf8").split(" ")[0], "elsewhere");
        });

        it("a spot interruption notice leads to SIGTERM, the hook and the notification within 100 s, then the power-off", async () => {
            newBoot();
            rmSync(machine.at("/systemctl.log"), { force: true });
            const saver = startJob("trap 'echo step-9 > checkpoint; exit 0' TERM; echo ready; while :; do sleep 0.1; done");
            await waitForLog(saver, "ready");
            const seen = writeHook("true");
            const watcher = spawn(machine.at(INSTANCE_PATHS.stopProgram), ["watch-spot", "--machine", machine.machineFile, "--imds-url", imds.url],
                { env, stdio: ["ignore", "pipe", "pipe"] });
            children.push(watcher);
            let said = "";
            watcher.stdout?.on("data", (chunk) => { said += chunk; });
            watcher.stderr?.on("data", (chunk) => { said += chunk; });
            await delay(1500); // polling, with no notice yet
            assert.ok(!existsSync(seen), "nothing happens before the notice");
            const noticed = Date.now();
            spotNotice = JSON.stringify({ action: "stop", time: new Date(noticed + 120_000).toISOString().replace(/\.\d+Z$/, "Z") });
            await eventually(() => existsSync(machine.at("/systemctl.log")), () => `no power-off yet:\n${said}`, 100_000);
            const within = (Date.now() - noticed) / 1000;
            assert.ok(within < 100, `the sequence took ${within} s`);
            assert.strictEqual(readFileSync(path.join(machine.jobsDir, saver, "checkpoint"), "utf8"), "step-9\n");
            assert.strictEqual(listed(saver).interrupted_reason, "spot");
            assert.match(readFileSync(seen, "utf8"), /^spot /);
            assert.match(published.map((each) => each.subject).join("\n"), /the machine is stopping: a spot interruption \(EC2 stop at /);
            assert.strictEqual(readFileSync(machine.at("/systemctl.log"), "utf8"), "poweroff\n");
            assert.strictEqual(lastStop().reason, "spot");
        });
    });

    describe("what npm run status and npm run jobs say", () => {
        /** The machine's report as the scripts get it over SSH (as the notebook user), in the scripts' words. */
        function rendered(kind: "status" | "jobs", state: string): string {
            const report = kind === "status"
                ? execFileSync(machine.at(INSTANCE_PATHS.idleWatcher), ["status", "--machine", machine.machineFile, "--idle-state", state],
                    { encoding: "utf8", uid: machine.user.uid, gid: machine.user.gid, env: { ...env, HOME: machine.home } })
                : machine.runner(["list", "--json"]);
            return execFileSync(process.execPath, [path.join(__dirname, "..", "scripts", "lib", "job-report.js"), kind], { input: report, encoding: "utf8" });
        }

        it("lists every idle condition with its state and age, the stalled job with its reason, and the last failed notification", async () => {
            newBoot();
            const quiet = startJob("echo started; exec sleep 600");
            const busy = startJob("while :; do echo tick; sleep 0.2; done");
            await waitForLog(quiet, "started");
            const state = path.join(machine.root, "state-status.json");
            const t0 = Math.ceil(Date.now() / 1000) - 2 * MINUTE; // the jobs' ages are the real ones; the stall is at the injected clock
            await check(t0, state, true);
            await delay(700);
            await check(t0 + 2 * MINUTE, state, true);
            writeFileSync(machine.at(INSTANCE_PATHS.notifyLog), `${JSON.stringify({ delivered: false, attempts: 3, detail: "HTTP 500 Internal Server Error", time: Date.now() / 1000, event: "job-failed", channel: "webhook" })}\n`);
            const status = rendered("status", state);
            assert.match(status, new RegExp(`^Idle stop: +kept up by: job ${busy} \\(running \\d+ s\\); job ${quiet} \\(stalled since \\d\\d:\\d\\d: ` +
                "no output, no CPU, GPU idle for \\d+ (s|min); it no longer keeps the machine up\\); kernels: none in use; SSH: none in use; GPU: 0 %; CPU: \\d+ %; " +
                "stops 60 min after these end$", "m"), status);
            assert.match(status, new RegExp(`^Jobs: .*${quiet} \\(\\d+ s: sh -c .*\\), stalled since`, "m"));
            assert.match(status, /^Notify: +the job-failed notification to webhook FAILED at \d\d:\d\d: HTTP 500 Internal Server Error$/m);
            const table = rendered("jobs", state);
            assert.match(table, new RegExp(`^${quiet} +stalled since \\d\\d:\\d\\d: no output, no CPU, GPU idle for`, "m"), table);
            await program(INSTANCE_PATHS.stopProgram, ["run", "--machine", machine.machineFile, "--reason", "spot"]);
            const after = rendered("jobs", state);
            assert.match(after, new RegExp(`^${quiet} +interrupted \\(stalled\\) `, "m"), after);
            assert.match(after, new RegExp(`^${busy} +interrupted \\(spot\\) `, "m"), after);
        });

        it("with nothing active: what each condition says, and the minutes left", async () => {
            const state = path.join(machine.root, "state-quiet.json");
            const t0 = Math.ceil(Date.now() / 1000);
            await check(t0, state, true);
            await check(t0 + 45 * MINUTE, state, true);
            assert.match(rendered("status", state), /^Idle stop: +nothing keeps it up; kernels: none in use; SSH: none in use; GPU: 0 %; CPU: \d+ %; stops in 15 min unless one of these changes$/m);
        });
    });

    describe("the notifier", () => {
        it("test: an SNS Publish for the topic, correctly signed, and Slack and Discord JSON to the webhook", async () => {
            published.length = 0;
            hooks.length = 0;
            const { code, out } = await program(INSTANCE_PATHS.notifier, ["test", "--machine", machine.machineFile]);
            assert.strictEqual(code, 0, out);
            assert.match(out, /^email: +delivered after 1 attempt/m);
            assert.match(out, /^webhook: +delivered after 1 attempt/m);
            // The SNS stand-in refuses a request whose signature it does not compute itself.
            assert.deepStrictEqual(published.map((each) => each.topic), [TOPIC]);
            assert.match(published[0].message, new RegExp(`^Notebook: gpu-notebook dev$\\n^Machine: ${INSTANCE_ID}$\\n^Time: \\d{4}-`, "m"));
            assert.strictEqual(hooks.length, 1);
            assert.strictEqual(hooks[0].text, hooks[0].content);
            assert.strictEqual(hooks[0].notebook, "gpu-notebook dev");
        });

        it("retries a failing webhook, logs every outcome without its URL, and test exits non-zero when nothing was delivered", async () => {
            webhookStatus = 500;
            hooks.length = 0;
            const broken = JSON.parse(readFileSync(machine.machineFile, "utf8"));
            const onlyWebhook = path.join(machine.root, "webhook-only.json");
            writeFileSync(onlyWebhook, JSON.stringify({ ...broken, unattended: { ...broken.unattended, notify: { ...broken.unattended.notify, topicArn: null } } }));
            const { code, out } = await program(INSTANCE_PATHS.notifier, ["test", "--machine", onlyWebhook]);
            assert.strictEqual(code, 1, out);
            assert.match(out, /^webhook: +NOT delivered after 3 attempt\(s\): HTTP 500 Internal Server Error$/m);
            assert.strictEqual(hooks.length, 3);
            const log = readFileSync(machine.at(INSTANCE_PATHS.notifyLog), "utf8");
            const last = JSON.parse(log.trim().split("\n").at(-1) ?? "{}");
            assert.deepStrictEqual([last.channel, last.event, last.delivered, last.attempts], ["webhook", "test", false, 3]);
            for (const text of [out, log]) {
                assert.ok(!text.includes("XXXXsecretXXXX"), "the webhook URL is never written");
            }
        });

        it("a job's end: finished or failed, with its exit code, how long it ran and its last log lines", async () => {
            published.length = 0;
            hooks.length = 0;
            const good = startJob("echo epoch 1; echo all done");
            const bad = startJob("echo loading; echo 'CUDA out of memory' >&2; exit 3");
            const deliveries = () => (existsSync(machine.at(INSTANCE_PATHS.notifyLog)) ? readFileSync(machine.at(INSTANCE_PATHS.notifyLog), "utf8") : "no delivery log");
            await eventually(() => hooks.length === 2, () => `${hooks.length} webhook calls; the delivery log:\n${deliveries()}\n${jobLog(bad)}`, 60_000);
            const by = (event: string) => hooks.find((hook) => hook.event === event);
            assert.match(by("job-finished")?.text ?? "", new RegExp(`job ${good} finished \\(exit 0\\) after \\d+ s[\\s\\S]*all done`));
            assert.match(by("job-failed")?.text ?? "", new RegExp(`job ${bad} failed \\(exit 3\\) after \\d+ s[\\s\\S]*CUDA out of memory`));
        });
    });
});

// Both sides of the contract at once: machine.json as the program renders it from a notebook's
// settings (notifyEmail, notifyWebhook, jobStopGraceSeconds), read by the machine's stop sequence
// and notifier against the stand-ins, which know only the names the program made: its topic's ARN,
// its webhook and last-stop parameters, the stop-reason tag. Each call the machine makes is one the
// instance role the program wrote allows, on that one ARN.
describe("unattended runs with the program's own machine.json", function () {
    this.timeout(120_000);
    const GRACE = 2;
    const CONFIG = { ...VALID_CONFIG, notifyEmail: "owner@example.org", notifyWebhook: "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX", jobStopGraceSeconds: String(GRACE) };
    let run: StackRun;
    let machine: MachineRoot;
    let servers: StandIn[] = [];
    let env: NodeJS.ProcessEnv;
    const published: Published[] = [];
    const hooks: Hook[] = [];
    const parameters = new Map<string, { type: string; value: string }>();
    const recorded = (name: string) => run.cloud.ofType("aws:ssm/parameter:Parameter").find((each) => each.name === name) as RecordedResource;

    before(async function () {
        requireCommands(this, DEBIAN_PYTHON);
        // The topic lives in the instance's region (the stand-in's instance metadata says eu-west-1).
        const cloud = new MockCloud();
        cloud.region = REGION;
        run = await runProgram(CONFIG, cloud);
        machine = await makeMachineRoot("gpu-notebook-contract-", undefined, run);
        const rendered = JSON.parse(readFileSync(machine.machineFile, "utf8"));
        const topicArn = cloud.one("aws:sns/topic:Topic").computed.arn;
        const imds = await startImds({ "instance-life-cycle": () => "on-demand", [`tags/instance/${rendered.tags.stopReason}`]: () => "user" });
        const sns = await startSns([topicArn], published);
        const ssm = await startSsm(parameters);
        const webhook = await startServer((request: Received, response) => {
            const body = JSON.parse(request.body);
            assert.strictEqual(request.headers["content-type"], "application/json");
            hooks.push(body);
            response.end("ok");
        });
        servers = [imds, sns, ssm, webhook];
        // What the program stored: the webhook's SecureString (here pointing at the receiver, as
        // no https stand-in can be trusted by the machine) and the record's "{}".
        parameters.set(recorded("notebook-webhook").inputs.name, { type: "SecureString", value: `${webhook.url}/services/T000/B000/XXXXsecretXXXX` });
        parameters.set(recorded("notebook-last-stop").inputs.name, { type: "String", value: recorded("notebook-last-stop").inputs.value });
        env = { PATH: "/usr/bin:/bin", GPU_NOTEBOOK_IMDS_URL: imds.url, GPU_NOTEBOOK_ENDPOINT_SNS: sns.url, GPU_NOTEBOOK_ENDPOINT_SSM: ssm.url };
    });

    after(async () => {
        if (machine) {
            for (const job of JSON.parse(machine.runner(["list", "--json"])).jobs.filter((each: { state: string }) => each.state === "running")) {
                machine.runner(["stop", job.name, "--grace", "1"]);
            }
            rmSync(machine.root, { recursive: true, force: true });
        }
        for (const server of servers) {
            await server.close();
        }
    });

    it("names the program's topic, parameters and grace in machine.json", () => {
        const { unattended } = JSON.parse(readFileSync(machine.machineFile, "utf8"));
        assert.deepStrictEqual(
            [unattended.jobStopGraceSeconds, unattended.notify.topicArn, unattended.notify.webhookParameter, unattended.lastStopParameter],
            [GRACE, run.cloud.one("aws:sns/topic:Topic").computed.arn, "/gpu-notebook/dev/notebook/webhook", "/gpu-notebook/dev/notebook/last-stop"]);
        assert.strictEqual(recorded("notebook-webhook").inputs.value, CONFIG.notifyWebhook, "the program stored the configured URL");
    });

    it("a stop the machine did not start: the job saves its checkpoint within the grace, the hook runs, SNS and the webhook hear it, the record is written", async () => {
        machine.runner(["prepare", "train"]);
        machine.runner(["start", "train", "--", "sh", "-c", "trap 'sleep 1; echo step-3 > checkpoint; exit 0' TERM; echo ready; while :; do sleep 0.1; done"], env);
        const jobLog = () => readFileSync(path.join(machine.jobsDir, "train", "job.log"), "utf8");
        await eventually(() => jobLog().includes("ready"), () => jobLog());
        const hook = path.join(machine.notebookDir, ".gpu-notebook", "on-stop");
        writeFileSync(hook, `#!/bin/sh\necho "hook saw $GPU_NOTEBOOK_STOP_REASON and $(cat ${machine.jobsDir}/train/checkpoint)"\n`, { mode: 0o755 });
        // As gpu-notebook-stop.service's ExecStop runs it: no --reason, so the tag the program set says why.
        const stopped = await new Promise<{ code: number; out: string }>((resolve) => execFile(machine.at(INSTANCE_PATHS.stopProgram),
            ["run", "--machine", machine.machineFile], { encoding: "utf8", env, timeout: 60_000 },
            (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout + stderr })));
        assert.strictEqual(stopped.code, 0, stopped.out);
        assert.match(stopped.out, /stopping: user \(from the instance tag\)/);
        assert.match(stopped.out, /all ended within the grace/);
        assert.strictEqual(readFileSync(path.join(machine.jobsDir, "train", "checkpoint"), "utf8"), "step-3\n");
        const record = JSON.parse(machine.runner(["list", "--json"])).jobs.find((job: { name: string }) => job.name === "train");
        assert.deepStrictEqual([record.state, record.interrupted_reason], ["interrupted", "user"]);
        assert.match(readFileSync(`${hook}.log`, "utf8"), /^hook saw user and step-3$/m);

        const topicArn = run.cloud.one("aws:sns/topic:Topic").computed.arn;
        assert.deepStrictEqual(published.map((each) => [each.topic, each.subject]), [[topicArn, "gpu-notebook dev: the machine is stopping: npm run stop"]]);
        assert.deepStrictEqual(hooks.map((each) => [each.event, each.notebook, each.instanceId]), [["stopping", "gpu-notebook dev", INSTANCE_ID]]);
        assert.ok(hooks[0].text.startsWith("gpu-notebook dev: the machine is stopping") && hooks[0].content === hooks[0].text, JSON.stringify(hooks[0]));
        const lastStop = JSON.parse(parameters.get("/gpu-notebook/dev/notebook/last-stop")?.value ?? "{}");
        assert.deepStrictEqual([lastStop.reason, lastStop.notification?.delivered], ["user", true], JSON.stringify(lastStop));

        // Every call the machine made is one the program's instance role allows, on that one resource.
        const role = run.cloud.ofType("aws:iam/role:Role").find((each) => each.name === "notebook-instance-role") as RecordedResource;
        const allowed = run.cloud.ofType("aws:iam/rolePolicy:RolePolicy").filter((policy) => policy.inputs.role.startsWith(role.name))
            .flatMap((policy) => JSON.parse(policy.inputs.policy).Statement as { Action: string | string[]; Resource: string | string[] }[]);
        const allows = (action: string, resource: string) => allowed.some((statement) =>
            [statement.Action].flat().includes(action) && [statement.Resource].flat().includes(resource));
        const [snsServer, ssmServer] = [servers[1], servers[2]];
        const calls = [
            ...snsServer.received.map((request) => ["sns:Publish", new URLSearchParams(request.body).get("TopicArn") ?? ""]),
            ...ssmServer.received.map((request) => [`ssm:${String(request.headers["x-amz-target"]).replace("AmazonSSM.", "")}`,
                recorded(JSON.parse(request.body).Name.endsWith("/webhook") ? "notebook-webhook" : "notebook-last-stop").computed.arn]),
        ];
        assert.deepStrictEqual(calls.map(([action]) => action).sort(), ["sns:Publish", "ssm:GetParameter", "ssm:PutParameter"]);
        for (const [action, resource] of calls) {
            assert.ok(allows(action, resource), `the instance role does not allow ${action} on ${resource}: ${JSON.stringify(allowed)}`);
        }
    });

    it("npm run notify-test's command works as the notebook user, and logs its outcome after root's deliveries did", async () => {
        published.length = 0;
        hooks.length = 0;
        const log = machine.at(INSTANCE_PATHS.notifyLog);
        assert.ok(existsSync(log), "the stop sequence (root) logged its delivery first");
        // As scripts/notify-test runs it over SSH: the login user, its own environment.
        const result = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => execFile(machine.at(INSTANCE_PATHS.notifier),
            ["test", "--machine", machine.machineFile], { encoding: "utf8", uid: machine.user.uid, gid: machine.user.gid, env: { ...env, HOME: machine.home }, timeout: 60_000 },
            (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr })));
        assert.strictEqual(result.status, 0, result.stdout + result.stderr);
        assert.match(result.stdout, /^email: +delivered after 1 attempt/m);
        assert.match(result.stdout, /^webhook: +delivered after 1 attempt/m);
        assert.strictEqual(result.stderr, "", "nothing went wrong, the delivery log included");
        assert.deepStrictEqual([published.length, hooks.map((each) => each.event)], [1, ["test"]]);
        const lines = readFileSync(log, "utf8").trim().split("\n").map((line) => JSON.parse(line));
        assert.deepStrictEqual(lines.slice(-2).map((line) => [line.event, line.channel, line.delivered]), [["test", "email", true], ["test", "webhook", true]]);
    });
});
