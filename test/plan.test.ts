// npm run plan: the real program under the test mocks, printed as a plan a newcomer can read.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { packBundle, unpackBundle } from "../components/bundle";
import { idleActivity, INSTANCE_PATHS } from "../components/contract";
import { RecordedResource } from "../components/offline/mock-cloud";
import { SPOT_SAVING_PHRASE } from "../components/spot";
import { describeResource, PlanOptions, PlanRecord, planReport, planTarget, settingsRows } from "../scripts/plan";
import { WIDTH } from "../scripts/plan-layout";
import { PlanInputError, readStackConfig, STAND_IN_CIDR } from "../scripts/lib/stack-file";
import { refusal, runShared, VALID_CONFIG } from "./support/program";

const root = path.join(__dirname, "..");

/** Runs scripts/plan.ts as `npm run plan` does, in `env` (default: a home with no AWS setup). */
function planCommand(args: string[], env: NodeJS.ProcessEnv) {
    return spawnSync("node", ["--require", "./scripts/lib/ts-require.js", "scripts/plan.ts", ...args], { cwd: root, encoding: "utf8", timeout: 120_000, env });
}

/** Lines of `text` wider than the plan allows, with their width. */
function tooWide(text: string): string[] {
    return text.split("\n").filter((line) => [...line].length > WIDTH).map((line) => `${[...line].length}: ${line}`);
}

describe("npm run plan", () => {
    let dir: string;
    /** A user's environment with no AWS setup at all: an empty home, no region variables. */
    let noAwsSetup: NodeJS.ProcessEnv;

    before(() => {
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-plan-"));
        mkdirSync(path.join(dir, "home"));
        noAwsSetup = { PATH: process.env.PATH, HOME: path.join(dir, "home") };
    });

    after(() => rmSync(dir, { recursive: true, force: true }));

    function stackFile(name: string, text: string): string {
        const file = path.join(dir, name);
        writeFileSync(file, text);
        return file;
    }

    /** The plan's text without the terminal's width, for tests of what it says rather than how it is laid out. */
    function plan(options: PlanOptions): Promise<string> {
        return planReport({ env: noAwsSetup, width: Infinity, ...options });
    }

    it("runs from package.json on the repository's dev stack, within the terminal's 100 columns", () => {
        const result = spawnSync("npm", ["run", "--silent", "plan"], {
            cwd: root, encoding: "utf8", timeout: 120_000, env: { ...noAwsSetup, GPU_NOTEBOOK_STACK: "dev" },
        });
        assert.strictEqual(result.status, 0, result.stderr);
        const out = result.stdout;
        assert.match(out, /^gpu-notebook plan for stack "dev" in us-east-1$/m);
        assert.match(out, /^ {2}instance type +g4dn\.xlarge, on-demand$/m);
        assert.match(out, /^ {2}root disk +150 GiB gp3, encrypted/m);
        assert.match(out, /^ {2}- allowedCidrs is not set: `npm run up` sets it to your public address/m);
        assert.deepStrictEqual(tooWide(out), []);
    });

    it("prints the dev stack's settings, resources and warnings, each read from the run", async () => {
        const out = await plan({ stack: "dev", configFile: path.join(root, "Pulumi.dev.yaml") });
        assert.match(out, /^gpu-notebook plan for stack "dev" in us-east-1$/m);
        assert.match(out, /^ {2}instance type +g4dn\.xlarge, on-demand$/m);
        assert.match(out, /^ {2}AMI +latest "Deep Learning OSS Nvidia Driver AMI GPU PyTorch \* \(Ubuntu 24\.04\) \*" by Amazon/m);
        assert.match(out, /^ {2}root disk +150 GiB gp3, encrypted/m);
        assert.match(out, /^ {2}data volume +100 GiB gp3, encrypted, at \/home\/ubuntu\/notebooks; a volume of its own, kept when the machine is replaced, snapshotted on destroy$/m);
        assert.match(out, /^ {2}packages +on the data volume, kept when the machine is replaced: \/home\/ubuntu\/notebooks\/\.local, /m);
        assert.match(out, /^ {2}zone +us-east-1a /m);
        assert.match(out, /^ {2}notebook-data +aws ebs Volume: data volume: 100 GiB gp3, encrypted, in us-east-1a, final snapshot on destroy$/m);
        assert.match(out, new RegExp(`^ {2}access +tcp/22 \\(SSH\\) from ${STAND_IN_CIDR}$`, "m"));
        assert.match(out, new RegExp(`^ +tcp/8888 \\(notebook, HTTPS\\) from ${STAND_IN_CIDR}$`, "m"));
        const activity = idleActivity().replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        assert.match(out, new RegExp(`^ {2}idle stop +power off after 60 min with none of: ${activity}; backstop: calls notebook-backstop ` +
            "after 120 min of running without a heartbeat of activity$", "m"));
        assert.ok(out.includes(`spot           no (on-demand; spot: true is ${SPOT_SAVING_PHRASE})`), out);
        assert.match(out, /^ {2}budget +none/m);
        assert.match(out, /^ {2}notebook-instance +aws ec2 Instance: g4dn\.xlarge, on-demand, 150 GiB gp3, encrypted, IMDSv2 only$/m);
        assert.match(out, /^ {2}notebook-idle-backstop +aws cloudwatch MetricAlarm: backstop: calls notebook-backstop after 120 min of running without a heartbeat of activity$/m);
        assert.match(out, /^ {2}notebook-heartbeat +aws iam RolePolicy: allows only cloudwatch:PutMetricData on \* where cloudwatch:namespace = GpuNotebook$/m);
        assert.match(out, new RegExp("^ {2}notebook-backstop-stop +aws iam RolePolicy: allows only ec2:StopInstances on arn:aws:ec2:us-east-1:\\d+:instance/(i-\\w+); " +
            "ec2:CreateTags on arn:aws:ec2:us-east-1:\\d+:instance/\\1 where aws:TagKeys = gpuNotebookStopReason, aws:RequestTag/gpuNotebookStopReason = backstop; " +
            "ssm:PutParameter on parameter notebook-last-stop \\(offline stand-in account and instance id\\)$", "m"));
        assert.match(out, /^ {2}notebook-unattended +aws iam RolePolicy: allows only ssm:PutParameter on parameter notebook-last-stop$/m);
        assert.match(out, /^ {2}notebook-last-stop +aws ssm Parameter: \/gpu-notebook\/dev\/notebook\/last-stop: String, the machine's to write$/m);
        assert.match(out, /^ {2}notifications +none \(set notifyEmail or notifyWebhook; npm run notify-test tries them\)$/m);
        assert.match(out, /^ {2}stalled jobs +a job with no new output, no CPU and no GPU use for 60 min no longer keeps the machine up \(it is not killed\)$/m);
        assert.match(out, /^ {2}at a stop +each job gets SIGTERM, then SIGKILL after 60 s; then your on-stop hook, if any \(at most 60 s\); then the notification$/m);
        assert.doesNotMatch(out, /sns/, "no topic without notifyEmail");
        assert.match(out, /^ {2}notebook-backstop +aws lambda Function: the backstop's action: stops instance i-\w+ \(python3\.\d+\) \(offline stand-in instance id\)$/m);
        assert.match(out, /^ {2}notebook-instance-profile +aws iam InstanceProfile: puts the role on the instance$/m);
        assert.match(out, /^Warnings\n(  - .*\n)* {2}- allowedCidrs is not set: `npm run up` sets it to your public address/m);
        assert.match(out, /^ {2}- Pulumi\.dev\.yaml sets no aws:region: the first `npm run up` sets us-east-1 \(no region in AWS_REGION, AWS_DEFAULT_REGION or your AWS profile\)/m);
        assert.doesNotMatch(out, /PRIVATE KEY|sha256:/, "no secrets");
    });

    it("shows where notifications go, that AWS mails a confirmation first, a stall limit of 0 and spot's deadline; an encrypted webhook is no refusal", async () => {
        const file = stackFile("Pulumi.watched.yaml", [
            "config:",
            "  aws:region: us-east-1",
            "  gpu-notebook:spot: true",
            "  gpu-notebook:notifyEmail: me@example.org",
            "  gpu-notebook:notifyOn: job-failed,stopping",
            "  gpu-notebook:jobStallMinutes: 0",
            "  gpu-notebook:jobStopGraceSeconds: 30",
            "  gpu-notebook:notifyWebhook:",
            "    secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB",
            "",
        ].join("\n"));
        const out = await plan({ stack: "watched", configFile: file });
        assert.match(out, /^ {2}notifications +to me@example\.org by email \(AWS sends a confirmation mail first: nothing arrives until it is confirmed\) and a webhook \(a secret, kept in the SSM SecureString \/gpu-notebook\/dev\/notebook\/webhook\); on job-failed, stopping$/m);
        assert.match(out, /^ {2}stalled jobs +never \(jobStallMinutes: 0\): a job keeps the machine up forever, even a hung one$/m);
        assert.match(out, /^ {2}at a stop +each job gets SIGTERM, then SIGKILL after 30 s; .* on a spot interruption all of it within 100 s of EC2's notice$/m);
        assert.match(out, /^ {2}notebook-notify-email +aws sns TopicSubscription: email to me@example\.org \(AWS mails a confirmation first\)$/m);
        assert.match(out, /^ {2}notebook-webhook +aws ssm Parameter: \/gpu-notebook\/dev\/notebook\/webhook: SecureString \(secret\)$/m);
        assert.match(out, /^ {2}notebook-unattended +aws iam RolePolicy: allows only ssm:PutParameter on parameter notebook-last-stop; sns:Publish on topic notebook-notify; ssm:GetParameter on parameter notebook-webhook$/m);
        assert.match(out, /gpu-notebook:notifyWebhook is encrypted in Pulumi\.watched\.yaml; the plan uses a stand-in value/);
        assert.doesNotMatch(out, /webhook\.invalid|offline-plan-stand-in/, "the stand-in is not shown as the webhook");
    });

    it("says once what a class's notebooks share running unattended, and names those that differ", async () => {
        const file = stackFile("Pulumi.course.yaml", [
            "config:",
            "  aws:region: us-east-1",
            "  gpu-notebook:notifyEmail: teacher@example.org",
            "  gpu-notebook:notebooks:",
            "    alice: {}",
            "    bob: {}",
            "    carol:",
            "      jobStallMinutes: 0",
            "",
        ].join("\n"));
        const out = await plan({ stack: "course", configFile: file });
        assert.match(out, /^ {2}unattended, alice and bob: notifies teacher@example\.org \(AWS mails a confirmation first\) on job-finished, job-failed, job-stalled, stopping, budget; a silent job stalls after 60 min; 60 s from SIGTERM to SIGKILL at a stop$/m);
        assert.match(out, /^ {2}unattended, carol: notifies teacher@example\.org .*; jobStallMinutes: 0: a hung job keeps the machine up forever; 60 s/m);
    });

    it("shows a stack's own settings: region, networks, spot, budget, idle stop off, an encrypted password", async () => {
        const file = stackFile("Pulumi.custom.yaml", [
            "config:",
            "  aws:region: eu-west-1",
            "  gpu-notebook:allowedCidrs:",
            "    - 198.51.100.0/24",
            "  gpu-notebook:spot: true",
            "  gpu-notebook:idleStopMinutes: 0",
            "  gpu-notebook:running: false",
            "  gpu-notebook:monthlyBudgetUsd: 30",
            "  gpu-notebook:alertEmail: student@example.org",
            "  gpu-notebook:notebookPassword:",
            "    secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB",
            "",
        ].join("\n"));
        const out = await plan({ stack: "custom", configFile: file });
        assert.match(out, /^gpu-notebook plan for stack "custom" in eu-west-1$/m);
        assert.match(out, /^ {2}access +tcp\/22 \(SSH\) from 198\.51\.100\.0\/24$/m);
        assert.match(out, /^ {2}instance type +g4dn\.xlarge, spot$/m);
        assert.match(out, /^ {2}idle stop +off \(idleStopMinutes = 0\)/m);
        assert.match(out, /^ {2}running +no: stopped/m);
        assert.match(out, /^ {2}budget +\$30\.00 a month for the account, emails at 80% and 100% actual and 100% forecast$/m);
        assert.match(out, /^ {2}notebook-budget +aws budgets Budget: \$30\.00 a month, alerts to student@example\.org at 80% and 100% actual and 100% forecast$/m);
        assert.match(out, /^ {2}spot +yes: persistent request, stops on interruption$/m);
        assert.doesNotMatch(out, /MetricAlarm|lambda/, "no backstop without idle stop");
        assert.match(out, /^ {2}notebook-instance-role +aws iam Role: role for ec2\.amazonaws\.com$/m, "the heartbeat's role stays");
        assert.match(out, /gpu-notebook:notebookPassword is encrypted in Pulumi\.custom\.yaml/);
        assert.match(out, /^Costs: unknown offline in eu-west-1/m);
    });

    it("shows the candidate types in the order a launch tries them, with GPU, memory, price and zones", async () => {
        const file = stackFile("Pulumi.candidates.yaml", [
            "config:",
            "  gpu-notebook:allowedCidrs:",
            "    - 198.51.100.0/24",
            "  gpu-notebook:instanceTypes:",
            "    - g6.xlarge",
            "    - g5.xlarge",
            "",
        ].join("\n"));
        const out = await plan({ stack: "candidates", configFile: file });
        const rows = out.split("\n").filter((line) => /^ {2}[→ ] +\d /.test(line));
        assert.strictEqual(rows.length, 2, out);
        assert.match(rows[0], /^ {2}→ +1 +g6\.xlarge +on-demand +1 × NVIDIA L4 \(22 GiB\) +16 GiB +4 +\$0\.80 +a, b, c, d, f$/);
        assert.match(rows[1], /^ {3} +2 +g5\.xlarge +on-demand +1 × NVIDIA A10G \(24 GiB\) +16 GiB +4 +\$1\.01 +a, b, c, d, f$/);
        assert.match(out, /ZONES OF us-east-1$/m);
        assert.match(out, /^ {2}instance type +g6\.xlarge, on-demand$/m);
    });

    it("with spotFallback, shows the real order, every spot candidate first, and one choice", async () => {
        const file = stackFile("Pulumi.fallback.yaml", [
            "config:",
            "  gpu-notebook:allowedCidrs: [198.51.100.0/24]",
            "  gpu-notebook:spot: true",
            "  gpu-notebook:spotFallback: on-demand",
            "  gpu-notebook:instanceTypes: [g6.xlarge, g5.xlarge]",
            "",
        ].join("\n"));
        const out = await plan({ stack: "fallback", configFile: file });
        const rows = out.split("\n").filter((line) => /^ {2}[→ ] +\d /.test(line))
            .map((line) => [line[2] === "→", ...line.slice(3).trim().split(/ {2,}/).slice(0, 3)]);
        assert.deepStrictEqual(rows, [
            [true, "1", "g6.xlarge", "spot"],
            [false, "2", "g5.xlarge", "spot"],
            [false, "3", "g6.xlarge", "on-demand"],
            [false, "4", "g5.xlarge", "on-demand"],
        ], out);
        assert.doesNotMatch(out, /this run's choice$/m, "no row-end markers");
    });

    it("outside us-east-1: the region's real zones, prices unknown said once, stand-ins marked, the machine's state in words", async () => {
        for (const [region, zones] of [["eu-west-1", "a, b, c"], ["ap-south-1", "a, b, c"], ["ap-northeast-1", "a, c, d"]]) {
            const out = await plan({ stack: "away", configFile: stackFile("Pulumi.away.yaml", `config:\n  aws:region: ${region}\n`) });
            assert.match(out, new RegExp(`^ {2}zone +${region}a \\(the first zone offering the type`, "m"));
            assert.match(out, new RegExp(` {2}${zones}$`, "m"), "the region's zones, in order");
            assert.doesNotMatch(out, new RegExp(`${region}[^${zones.replace(/, /g, "")}\\W]\\b`), "no zone the region does not have");
            assert.doesNotMatch(out, /us-east-1[a-f]/, "no zone of another region");
            const unknownPrices = out.split("\n").filter((line) => /price/.test(line) && /unknown|could not/.test(line));
            assert.strictEqual(unknownPrices.length, 1, unknownPrices.join("\n"));
            assert.match(out, new RegExp(`^Costs: unknown offline in ${region}: the offline price sample has AWS's prices for us-east-1 only`, "m"));
            assert.doesNotMatch(out, /could not look up/, "the price the sample lacks is said once, not again as a warning");
        }
        const out = await plan({ stack: "ireland", configFile: stackFile("Pulumi.ireland.yaml", "config:\n  aws:region: eu-west-1\n") });
        assert.match(out, /^ {2}notebook-data +aws ebs Volume: data volume: .*, in eu-west-1a,/m);
        assert.doesNotMatch(out, /pricing:GetProducts/, "no permission is missing");
        assert.match(out, /^ {2}notebook-tls-cert +tls index SelfSignedCert: notebook certificate for 203\.0\.113\.\d+, 127\.0\.0\.1, localhost, 10 years \(offline stand-in address\)$/m);
        assert.match(out, /^ {2}notebook-backstop-stop +aws iam RolePolicy: .*arn:aws:ec2:eu-west-1:\d+:instance\/i-\w+.* \(offline stand-in account and instance id\)$/m);
        assert.match(out, /^ {2}notebook-state +aws ec2 instance state: instance state: running \(keeps notebook-instance running\)$/m);
        assert.doesNotMatch(out, /transitgateway/);
    });

    it("prints the refusal for bad settings, wrapped within 100 columns, and exits non-zero", () => {
        const file = stackFile("Pulumi.bad.yaml", "config:\n  gpu-notebook:monthlyBudgetUsd: 30\n  gpu-notebook:instanceTypes: [g5.12xlarge, g4dn.xlarge, x1.large]\n");
        const result = planCommand(["--config-file", file], noAwsSetup);
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /^ {2}- gpu-notebook:monthlyBudgetUsd and gpu-notebook:alertEmail go together/m);
        assert.match(result.stderr, /^ {4}\S/m, "a problem's next lines are indented under it");
        assert.deepStrictEqual(tooWide(result.stderr), []);
        assert.strictEqual(result.stdout, "");
    });

    it("answers an unknown argument with the usage, not as a refused launch", () => {
        const result = planCommand(["--bogus"], noAwsSetup);
        assert.strictEqual(result.status, 2, result.stderr);
        assert.strictEqual(result.stderr, "gpu-notebook plan: unknown argument --bogus\n" +
            "gpu-notebook plan: usage: npm run plan [-- --config-file FILE] [--hours-per-week HOURS]\n");
        assert.doesNotMatch(result.stderr, /refused, nothing was created/);
    });

    it("never refuses on a quota it cannot know offline, and shows the quotas a stack of one needs", async () => {
        const file = stackFile("Pulumi.big.yaml", "config:\n  gpu-notebook:allowedCidrs: [198.51.100.0/24]\n  gpu-notebook:instanceType: g5.12xlarge\n");
        const out = await plan({ stack: "big", configFile: file });
        assert.match(out, /^ {2}instance type +g5\.12xlarge, on-demand$/m);
        assert.match(out, /^Quotas the account needs \(unknown offline: `npm run up` reads them before it creates anything\)$/m);
        assert.match(out, /^ {2}48 vCPUs of "Running On-Demand G and VT instances" \(L-DB2E81BA\)$/m);
        assert.match(out, /^ {2}1 Elastic IP of "EC2-VPC Elastic IPs" \(L-0263D0A3\)/m);
        assert.doesNotMatch(out, /that quota is|quota is \d+/, "no value of a quota is stated");
        assert.match(out, /^Costs: unknown offline for g5\.12xlarge: the offline price sample has no price for it/m);
        const spot = stackFile("Pulumi.spotquota.yaml", [
            "config:", "  gpu-notebook:allowedCidrs: [198.51.100.0/24]", "  gpu-notebook:instanceType: g5.12xlarge",
            "  gpu-notebook:spot: true", "  gpu-notebook:spotFallback: on-demand", "  gpu-notebook:requestQuotaIncrease: true", "",
        ].join("\n"));
        const fallback = await plan({ stack: "spotquota", configFile: spot });
        assert.match(fallback, /^ {2}48 vCPUs of "All G and VT Spot Instance Requests" \(L-3819A6DF\)$/m);
        assert.match(fallback, /^ {2}48 vCPUs of "Running On-Demand G and VT instances" \(L-DB2E81BA\), for the on-demand fallback$/m);
        assert.match(fallback, /^ {2}gpu-notebook:requestQuotaIncrease is true: where a quota is lower, `npm run up` asks AWS for this much\.$/m);
        assert.doesNotMatch(fallback, /ServiceQuota/, "no increase is filed for a quota the plan cannot read");
    });

    it("says what the notebook costs running, stopped, and a month at the usage asked for", async () => {
        const file = stackFile("Pulumi.costs.yaml", "config:\n  gpu-notebook:allowedCidrs: [198.51.100.0/24]\n");
        // g4dn.xlarge at 0.526 an hour; 150 + 100 GiB of gp3 at 0.08 a GiB-month (20.00); one address at 0.005 an hour (3.65 a month).
        const out = await plan({ stack: "costs", configFile: file });
        assert.match(out, /^Costs \(AWS's us-east-1 prices, sampled offline; `npm run up` looks up the instance's\)$/m);
        assert.match(out, /^ {2}running +\$0\.56 an hour: the instance \$0\.53; 250 GiB of gp3 disk and 1 IPv4 address \$0\.03$/m);
        assert.match(out, /^ {2}stopped +\$23\.65 a month: 250 GiB of gp3 disk and 1 IPv4 address, billed whether running or not$/m);
        // 20 h a week is 86.9 h of a 730-hour month: 45.71 for the instance.
        assert.match(out, /^ {2}20 h a week +\$69\.36 a month: the instance 86\.9 h \$45\.71; 250 GiB of gp3 disk and 1 IPv4 address \$23\.65$/m);
        const always = await plan({ stack: "costs", configFile: file, hoursPerWeek: 168 });
        assert.match(always, /^ {2}168 h a week +\$407\.63 a month: the instance 730\.0 h \$383\.98;/m);
        assert.strictEqual(planTarget(["--hours-per-week", "40"], {}).hoursPerWeek, 40);
        assert.strictEqual(planTarget(["--hours-per-week=7.5"], {}).hoursPerWeek, 7.5);
        assert.strictEqual(planTarget([], {}).hoursPerWeek, 20, "4 hours a day on weekdays");
        for (const bad of ["169", "-1", "many", ""]) {
            assert.throws(() => planTarget([`--hours-per-week=${bad}`], {}), /--hours-per-week .* is not accepted: the hours a week the notebook runs, from 0 to 168/);
        }
        const help = planCommand(["--help"], noAwsSetup);
        assert.match(help.stdout, /--hours-per-week +the usage a month's cost is shown at, 0 to 168; default 20 \(4 h a day on weekdays\)/);
    });

    it("uses the region of the AWS profile as `npm run up` does: AWS_REGION, AWS_DEFAULT_REGION, then the profile's in ~/.aws/config", async () => {
        // Read as the AWS SDKs read it, without an aws CLI (scripts/lib/region.ts): none is on this PATH's stand-ins.
        const home = path.join(dir, "profile-home");
        mkdirSync(path.join(home, ".aws"), { recursive: true });
        writeFileSync(path.join(home, ".aws", "config"), "[default]\nregion = ap-south-1\n\n[profile course]\nregion = eu-west-1\n");
        const file = stackFile("Pulumi.profile.yaml", "config:\n  gpu-notebook:allowedCidrs: [198.51.100.0/24]\n");
        const cases: [NodeJS.ProcessEnv, string, string][] = [
            [{ AWS_PROFILE: "course" }, "eu-west-1", "your AWS profile course"],
            [{}, "ap-south-1", "your AWS profile default"],
            [{ AWS_PROFILE: "course", AWS_DEFAULT_REGION: "eu-north-1" }, "eu-north-1", "AWS_DEFAULT_REGION"],
            [{ AWS_PROFILE: "course", AWS_DEFAULT_REGION: "eu-north-1", AWS_REGION: "us-west-2" }, "us-west-2", "AWS_REGION"],
        ];
        for (const [env, region, source] of cases) {
            const out = await plan({ stack: "profile", configFile: file, env: { PATH: process.env.PATH, HOME: home, ...env } });
            assert.match(out, new RegExp(`^gpu-notebook plan for stack "profile" in ${region}$`, "m"), JSON.stringify(env));
            assert.ok(out.includes(`sets no aws:region: the first \`npm run up\` sets ${region} (${source})`), out);
        }
        const bad = await plan({ stack: "profile", configFile: file, env: { ...noAwsSetup, AWS_REGION: "Frankfurt" } }).then(() => "", (error: Error) => error.message);
        assert.strictEqual(bad, "Frankfurt (AWS_REGION) is not an AWS region name such as us-east-1", "refused in up's words");
    });

    it("keeps every line of a single, a spot, a class and an Irish plan within 100 columns", async () => {
        const files = {
            single: "config:\n  gpu-notebook:allowedCidrs: [198.51.100.0/24, 2001:db8::/32]\n  gpu-notebook:monthlyBudgetUsd: 30\n  gpu-notebook:alertEmail: a@example.org\n",
            spot: "config:\n  gpu-notebook:spot: true\n  gpu-notebook:spotFallback: on-demand\n  gpu-notebook:instanceTypes: [g6.xlarge, g5.12xlarge, p4d.24xlarge]\n",
            class: "config:\n  gpu-notebook:allowedCidrs: [198.51.100.0/24]\n  gpu-notebook:notebooks:\n    alice: {}\n    student-with-20chars: {instanceType: g5.12xlarge, spot: true}\n    carol: {allowedCidrs: [203.0.113.0/24]}\n",
            ireland: "config:\n  aws:region: eu-west-1\n  gpu-notebook:notebooks:\n    alice: {}\n    bob: {}\n",
        };
        for (const [name, text] of Object.entries(files)) {
            const out = await planReport({ stack: name, configFile: stackFile(`Pulumi.${name}.yaml`, text), env: noAwsSetup });
            assert.deepStrictEqual(tooWide(out), [], name);
        }
    });

    describe("reads the stack file as the Pulumi CLI would, and guesses nothing", () => {
        it("refuses --config-file without a file, and a file that does not exist", () => {
            assert.throws(() => planTarget(["--config-file"], {}), /--config-file needs a file/);
            assert.throws(() => planTarget(["--config-file", "--other"], {}), /--config-file needs a file/);
            assert.throws(() => planTarget(["--stack", "x"], {}), /unknown argument --stack/);
            assert.throws(() => readStackConfig(path.join(dir, "Pulumi.missing.yaml"), "missing", noAwsSetup), /Pulumi\.missing\.yaml does not exist/);
        });

        it("plans the defaults, saying so, when the stack file nobody named is not there yet; a named one must exist", async () => {
            const missing = path.join(dir, "Pulumi.fresh.yaml");
            const out = await planReport({ stack: "fresh", configFile: missing, defaultFile: true });
            assert.match(out, /^ {2}instance type +g4dn\.xlarge, on-demand$/m);
            assert.match(out, /^ {2}- there is no Pulumi\.fresh\.yaml yet \(`npm run up` makes it\): the plan shows the defaults$/m);
            await assert.rejects(planReport({ stack: "fresh", configFile: missing }), /Pulumi\.fresh\.yaml does not exist/);
        });

        it("takes --config-file=FILE as it takes --config-file FILE, and one file only", () => {
            const spaced = planTarget(["--config-file", "Pulumi.course.yaml"], { INIT_CWD: "/where/npm/ran" });
            assert.deepStrictEqual(planTarget(["--config-file=Pulumi.course.yaml"], { INIT_CWD: "/where/npm/ran" }), spaced);
            assert.deepStrictEqual([spaced.stack, spaced.configFile], ["course", "/where/npm/ran/Pulumi.course.yaml"]);
            assert.throws(() => planTarget(["--config-file="], {}), /--config-file= needs a file/);
            assert.throws(() => planTarget(["--config-file=/x/Pulumi.a.yaml", "--config-file", "/x/Pulumi.b.yaml"], {}),
                /--config-file is given 2 times: the plan takes one/);
        });

        it("names the stack after the file, or GPU_NOTEBOOK_STACK, and refuses when they disagree or neither says", () => {
            assert.strictEqual(planTarget(["--config-file", "/x/Pulumi.course.yaml"], {}).stack, "course");
            assert.strictEqual(planTarget(["--config-file=/x/Pulumi.course.yaml"], {}).stack, "course");
            assert.strictEqual(planTarget(["--config-file", "/x/Pulumi.course.yaml"], { GPU_NOTEBOOK_STACK: "course" }).stack, "course");
            assert.throws(() => planTarget(["--config-file", "/x/Pulumi.course.yaml"], { GPU_NOTEBOOK_STACK: "dev" }),
                /Pulumi\.course\.yaml is the settings file of stack "course", but GPU_NOTEBOOK_STACK says "dev"/);
            assert.strictEqual(planTarget(["--config-file", "/x/settings.yaml"], { GPU_NOTEBOOK_STACK: "lab" }).stack, "lab");
            assert.throws(() => planTarget(["--config-file", "/x/settings.yaml"], {}), /cannot tell which stack \/x\/settings\.yaml belongs to/);
            const fromEnvironment = planTarget([], { GPU_NOTEBOOK_STACK: "lab" });
            assert.deepStrictEqual([fromEnvironment.stack, fromEnvironment.configFile, fromEnvironment.defaultFile], ["lab", path.join(root, "Pulumi.lab.yaml"), true]);
            assert.strictEqual(planTarget(["--config-file", "Pulumi.a.yaml"], { INIT_CWD: "/where/npm/ran" }).configFile, "/where/npm/ran/Pulumi.a.yaml");
        });

        it("reads a key without a namespace as the project's, as the CLI does since v3.44, and warns of a namespace nothing reads", async () => {
            const file = stackFile("Pulumi.typos.yaml", [
                "config:",
                "  someone-else:colour: blue",
                "  idleStopMinutes: 30",
                "  gpu-notebook:allowedCidrs: [\"198.51.100.0/24\"]",
                "  aws:region: eu-west-1",
                "",
            ].join("\n"));
            const read = readStackConfig(file, "typos", noAwsSetup);
            assert.ok(read.notes.some((note) => /^someone-else:colour in Pulumi\.typos\.yaml is in the namespace "someone-else", which nothing here reads .*it has no effect$/.test(note)), read.notes.join("\n"));
            assert.strictEqual(read.config["gpu-notebook:idleStopMinutes"], "30");
            assert.ok(!read.notes.some((note) => note.includes("idleStopMinutes")), read.notes.join("\n"));
            const out = await plan({ stack: "typos", configFile: file });
            assert.match(out, /^ {2}idle stop +power off after 30 min/m, "the key without a namespace is gpu-notebook:idleStopMinutes");
            assert.match(out, /^ {2}- someone-else:colour in Pulumi\.typos\.yaml/m);
        });

        it("refuses, in the CLI's words, a key the CLI cannot parse, and one written twice", () => {
            const file = stackFile("Pulumi.keys.yaml", [
                "config:",
                "  gpu-notebook:notebooks:alice: {}",
                "  aws:config:region: eu-west-1",
                "  a:b:c:d: 1",
                "",
            ].join("\n"));
            assert.throws(() => readStackConfig(file, "keys", noAwsSetup), (error: unknown) => {
                assert.ok(error instanceof PlanInputError);
                assert.deepStrictEqual(error.lines, [
                    "Pulumi.keys.yaml: could not parse gpu-notebook:notebooks:alice as a configuration key (configuration keys should be of the form `<namespace>:<name>`)",
                    "Pulumi.keys.yaml: could not parse a:b:c:d as a configuration key (configuration keys should be of the form `<namespace>:<name>`)",
                ]);
                return true;
            });
            const twice = stackFile("Pulumi.twice.yaml", "config:\n  spot: true\n  gpu-notebook:spot: false\n");
            assert.throws(() => readStackConfig(twice, "twice", noAwsSetup), /sets gpu-notebook:spot twice, as spot and as gpu-notebook:spot/);
            const old = stackFile("Pulumi.old.yaml", "config:\n  aws:config:region: eu-west-1\n");
            assert.strictEqual(readStackConfig(old, "old", noAwsSetup).region, "eu-west-1", "the old <namespace>:config:<name> form is the same key");
            const result = planCommand(["--config-file", file], noAwsSetup);
            assert.strictEqual(result.status, 2, "refused, not planned");
            assert.strictEqual(result.stdout, "");
            assert.deepStrictEqual(tooWide(result.stderr), []);
        });

        it("refuses a setting written in a namespace meant for this program, as the deploy does", async () => {
            const file = stackFile("Pulumi.meant.yaml", [
                "config:",
                "  gpu_notebook:instanceType: g5.xlarge",
                "  notebook:idleStopMinutes: 30",
                "  gpu-notebook:allowedCidrs: [\"198.51.100.0/24\"]",
                "",
            ].join("\n"));
            const expected = [
                /^ {2}- gpu_notebook:instanceType is not read: this program's settings are in the namespace gpu-notebook; did you mean gpu-notebook:instanceType\?$/m,
                /^ {2}- notebook:idleStopMinutes is not read: this program's settings are in the namespace gpu-notebook; did you mean gpu-notebook:idleStopMinutes\?$/m,
            ];
            const planned = await plan({ stack: "meant", configFile: file }).then(() => "", (error: Error) => error.message);
            // At deploy the program reads the same keys from the engine's config.
            const deploy = (await refusal({ ...VALID_CONFIG, "gpu_notebook:instanceType": "g5.xlarge", "notebook:idleStopMinutes": "30" })).message;
            for (const refused of [planned, deploy]) {
                assert.match(refused, /^Configuration refused, nothing was created:/);
                expected.forEach((line) => assert.match(refused, line));
            }
        });

        it("refuses, as the CLI does, values that are not of the type Pulumi.yaml declares", () => {
            const cases: [string, string][] = [
                ["allowedCidrs: 198.51.100.7/32", "array<string>"],
                ["allowedCidrs: [10, 11]", "array<string>"],
                ["spot: yes", "boolean"],
                ["spot: True", "boolean"],
                ["diskSizeGb: 1.5", "integer"],
                ["diskSizeGb: 0x100", "integer"],
                ["diskSizeGb: [200]", "integer"],
                ["alertEmail: [a@example.org]", "string"],
            ];
            for (const [line, type] of cases) {
                const file = stackFile("Pulumi.typed.yaml", `config:\n  gpu-notebook:${line}\n`);
                const key = line.split(":")[0];
                assert.throws(() => readStackConfig(file, "typed"),
                    new RegExp(`Stack 'typed' with configuration key '${key}' must be of type '${type.replace(/[<>]/g, "\\$&")}' \\(Pulumi\\.yaml declares it`), line);
            }
        });

        it("accepts what the CLI accepts and hands it over as the CLI does: the text written", () => {
            const file = stackFile("Pulumi.typed.yaml", [
                "config:",
                "  gpu-notebook:allowedCidrs: [\"198.51.100.7/32\"]",
                "  gpu-notebook:spot: \"true\"",
                "  gpu-notebook:diskSizeGb: +200",
                "  gpu-notebook:notebookPort: 09999",
                "  gpu-notebook:monthlyBudgetUsd: 49.90",
                "",
            ].join("\n"));
            const { config } = readStackConfig(file, "typed");
            assert.strictEqual(config["gpu-notebook:allowedCidrs"], '["198.51.100.7/32"]');
            assert.strictEqual(config["gpu-notebook:spot"], "true");
            assert.strictEqual(config["gpu-notebook:diskSizeGb"], "+200");
            assert.strictEqual(config["gpu-notebook:notebookPort"], "09999");
            assert.strictEqual(config["gpu-notebook:monthlyBudgetUsd"], "49.90");
        });

        it("says in one line where malformed YAML is: file, line and column", () => {
            // main() prints a refusal's lines and exits 1, without a stack trace (the refusal test above).
            const file = stackFile("Pulumi.broken.yaml", "config:\n  gpu-notebook:allowedCidrs: [\"198.51.100.7/32\"\n  gpu-notebook:spot: true\n");
            assert.throws(() => readStackConfig(file, "broken"), (error: unknown) => {
                assert.ok(error instanceof PlanInputError);
                assert.strictEqual(error.lines.length, 1);
                assert.match(error.lines[0], /^Pulumi\.broken\.yaml:3:\d+: \S[^\n]*$/);
                return true;
            });
        });

        it("shows allowOpenAccess with a world CIDR as a warning", async () => {
            const file = stackFile("Pulumi.open.yaml", [
                "config:", "  aws:region: us-east-1", "  gpu-notebook:allowOpenAccess: true",
                "  gpu-notebook:allowedCidrs:", "    - 0.0.0.0/0", "",
            ].join("\n"));
            const out = await plan({ stack: "open", configFile: file });
            assert.match(out, /^ {2}- gpu-notebook:allowedCidrs includes 0\.0\.0\.0\/0: SSH and the notebook are open to the whole internet/m);
        });
    });

    it("shows a class as one line per notebook, the quotas it needs, the shared resources and one notebook's resources", async () => {
        const file = stackFile("Pulumi.class.yaml", [
            "config:",
            "  gpu-notebook:allowedCidrs:",
            "    - 198.51.100.0/24",
            "  gpu-notebook:monthlyBudgetUsd: 200",
            "  gpu-notebook:alertEmail: teacher@example.org",
            "  gpu-notebook:notebooks:",
            "    alice: {}",
            "    bob:",
            "      running: false",
            "    carol:",
            "      instanceType: g5.xlarge",
            "      allowedCidrs: [198.51.100.0/24, 203.0.113.25/32]",
            "      notebookPassword:",
            "        secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB",
            "",
        ].join("\n"));
        const out = await plan({ stack: "class", configFile: file });
        assert.match(out, /^Notebooks \(3\): DISKS are root\+data in GiB, gp3 and encrypted unless marked/m);
        assert.match(out, /^ {2}alice +g4dn\.xlarge +on-demand +us-east-1a +150\+100 +60 min +running +\$0\.53 +tcp 22,8888 from 198\.51\.100\.0\/24$/m);
        assert.match(out, /^ {2}bob +g4dn\.xlarge +on-demand .* +stopped +\$0\.53 +tcp/m);
        assert.match(out, /^ {2}carol +g5\.xlarge +on-demand .* +60 min +running +\$1\.01 +tcp 22,8888 from 2 networks$/m);
        assert.match(out, /^ {2}12 vCPUs of "Running On-Demand G and VT instances" \(L-DB2E81BA\)$/m);
        assert.match(out, /^ {2}3 Elastic IPs of "EC2-VPC Elastic IPs" \(L-0263D0A3\)/m);
        // 2.058 an hour for the instances; each 250 GiB at 0.08 a month and an address at 0.005 an hour.
        assert.match(out, /^ {2}all 3 running +\$2\.16 an hour: the instances \$2\.06; 750 GiB of gp3 disk and 3 IPv4 addresses \$0\.10$/m);
        assert.match(out, /^ {2}all 3 stopped +\$70\.95 a month: 750 GiB of gp3 disk and 3 IPv4 addresses/m);
        assert.match(out, /^ {2}20 h a week each +\$249\.80 a month: the instances 86\.9 h each \$178\.85; 750 GiB of gp3 disk and 3 IPv4 addresses \$70\.95$/m);
        assert.match(out, /^Shared by the notebooks \(2\)\n.*\n {2}shared-budget +aws budgets Budget: \$200\.00 a month.*\n {2}shared-price-list +provider aws: AWS in us-east-1, only for getProduct$/m);
        assert.match(out, /^Each notebook's resources: alice's, 35 of the 108 `pulumi up` would create$/m);
        assert.match(out, /^ {2}alice-instance +aws ec2 Instance: g4dn\.xlarge/m);
        assert.doesNotMatch(out, /bob-instance|carol-instance/, "one notebook's resources, not every one's");
        assert.match(out, /gpu-notebook:notebooks\.carol\.notebookPassword is encrypted in Pulumi\.class\.yaml; the plan uses a stand-in value/);
        assert.doesNotMatch(out, /PRIVATE KEY|offline-plan-stand-in-password/, "no secrets");
    });

    describe("reads every fact it prints from what the program recorded", () => {
        let record: PlanRecord;

        before(async () => {
            const run = await runShared({ ...VALID_CONFIG, monthlyBudgetUsd: "30", alertEmail: "student@example.org" });
            record = { resources: run.cloud.resources, options: run.options, calls: run.cloud.calls };
        });

        const one = (from: PlanRecord, type: string) => from.resources.find((resource) => resource.type === type) as RecordedResource;

        /** The record with one resource's inputs changed (the shared run itself stays as it was). */
        function withInputs(type: string, change: (inputs: Record<string, any>) => void): PlanRecord { // any: provider inputs
            return {
                ...record,
                resources: record.resources.map((resource) => {
                    if (resource.type !== type) {
                        return resource;
                    }
                    const inputs = structuredClone(resource.inputs);
                    change(inputs);
                    return { ...resource, inputs };
                }),
            };
        }

        function withOptions(type: string, change: Record<string, unknown>): PlanRecord {
            return {
                ...record,
                options: record.options.map((entry) => entry.type === type ? { ...entry, opts: { ...entry.opts, ...change } } : entry),
            };
        }

        const INSTANCE = "aws:ec2/instance:Instance";
        const VOLUME = "aws:ebs/volume:Volume";
        const flips: [string, string, () => PlanRecord, RegExp, RegExp][] = [
            ["encryption of the root disk", INSTANCE, () => withInputs(INSTANCE, (inputs) => { inputs.rootBlockDevice.encrypted = false; }),
                /150 GiB gp3, encrypted,/, /150 GiB gp3, NOT encrypted,/],
            ["IMDSv2", INSTANCE, () => withInputs(INSTANCE, (inputs) => { inputs.metadataOptions.httpTokens = "optional"; }),
                /IMDSv2 only$/, /IMDSv1 allowed$/],
            ["the market", INSTANCE, () => withInputs(INSTANCE, (inputs) => {
                inputs.instanceMarketOptions = { marketType: "spot", spotOptions: { spotInstanceType: "one-time", instanceInterruptionBehavior: "terminate" } };
            }), /, on-demand,/, /, spot \(one-time request, terminates on interruption\),/],
            ["encryption of the data volume", VOLUME, () => withInputs(VOLUME, (inputs) => { inputs.encrypted = false; }),
                /100 GiB gp3, encrypted,/, /100 GiB gp3, NOT encrypted,/],
            ["the final snapshot", VOLUME, () => withInputs(VOLUME, (inputs) => { inputs.finalSnapshot = false; }),
                /, final snapshot on destroy$/, /, NO snapshot on destroy$/],
            ["what the backstop calls", "aws:cloudwatch/metricAlarm:MetricAlarm",
                () => withInputs("aws:cloudwatch/metricAlarm:MetricAlarm", (inputs) => { inputs.alarmActions = ["arn:aws:lambda:us-east-1:123456789012:function:other"]; }),
                /^backstop: calls notebook-backstop after/, /^backstop: calls arn:aws:lambda:us-east-1:123456789012:function:other after/],
            ["which instance the address is attached to", "aws:ec2/eipAssociation:EipAssociation",
                () => withInputs("aws:ec2/eipAssociation:EipAssociation", (inputs) => { inputs.instanceId = "i-0fffffffffffffff0"; }),
                /to notebook-instance$/, /to i-0fffffffffffffff0$/],
            ["rules inside the security group", "aws:ec2/securityGroup:SecurityGroup",
                () => withInputs("aws:ec2/securityGroup:SecurityGroup", (inputs) => { inputs.ingress = [{ fromPort: 0 }]; }),
                /only the rules below/, /with 1 inline rule and the rules below/],
            ["the budget's alerts", "aws:budgets/budget:Budget",
                () => withInputs("aws:budgets/budget:Budget", (inputs) => { inputs.notifications = inputs.notifications.slice(0, 1); }),
                /at 80% and 100% actual and 100% forecast$/, /at 80% actual$/],
            ["the password's secrecy in state", "random:index/randomPassword:RandomPassword",
                () => withOptions("random:index/randomPassword:RandomPassword", { additionalSecretOutputs: [] }), /\(secret\)/, /\(NOT secret\)/],
            ["what the Price List provider is used for", "pulumi:providers:aws", () => ({ ...record, calls: [] }),
                /only for getProduct/, /unused/],
        ];
        for (const [fact, type, change, before, after] of flips) {
            it(`follows ${fact} in the resource list`, () => {
                assert.match(describeResource(record, one(record, type)), before);
                const changed = change();
                assert.match(describeResource(changed, one(changed, type)), after);
            });
        }

        function setting(from: PlanRecord, name: string): string {
            const rows = settingsRows({ record: from, config: () => undefined, region: "us-east-1", zone: "us-east-1a", standInAmiGb: 75 });
            return rows.find((row) => row[0] === name)?.[1] ?? "";
        }

        const settingFlips: [string, string, () => PlanRecord, RegExp, RegExp][] = [
            ["root disk encryption", "root disk", () => withInputs(INSTANCE, (inputs) => { inputs.rootBlockDevice.encrypted = false; }),
                /^150 GiB gp3, encrypted/, /^150 GiB gp3, NOT encrypted/],
            ["the AMI kept across releases", "AMI", () => withOptions(INSTANCE, { ignoreChanges: [] }),
                /never replaced by a newer one/, /a newer one REPLACES the machine/],
            ["the data volume's snapshot on destroy", "data volume", () => withInputs(VOLUME, (inputs) => { inputs.finalSnapshot = false; }),
                /, snapshotted on destroy$/, /, NOT snapshotted on destroy$/],
            ["the data volume's attachment", "data volume", () => ({
                ...record, resources: record.resources.filter((resource) => resource.type !== "aws:ec2/volumeAttachment:VolumeAttachment"),
            }), /a volume of its own, kept when the machine is replaced/, /NOT attached to the machine/],
            ["where the user's packages go", "packages", () => withInputs("aws:s3/bucketObjectv2:BucketObjectv2", (inputs) => {
                // The machine file as a machine without a data volume has it: no environment.
                const files = unpackBundle(Buffer.from(inputs.contentBase64, "base64")).map((file) => {
                    if (file.path !== INSTANCE_PATHS.machineFile) {
                        return file;
                    }
                    const machine = JSON.parse(file.content);
                    return { ...file, content: JSON.stringify({ ...machine, notebook: { ...machine.notebook, environment: {} } }) };
                });
                inputs.contentBase64 = packBundle(files).toString("base64");
            }), /^on the data volume, kept when the machine is replaced: \/home\/\w+\/notebooks\/\.local, \.cache, \.conda, \.venvs; ~\/notebooks\/\.gpu-notebook\/setup runs once on each new machine$/,
            /^on the root disk \(dataVolumeGb = 0\): pip, conda, caches and kernels go with the machine;/],
            ["spot", "spot", () => withInputs(INSTANCE, (inputs) => {
                inputs.instanceMarketOptions = { marketType: "spot", spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "hibernate" } };
            }), /^no \(on-demand/, /^yes: persistent request, hibernates on interruption$/],
            ["the backstop's action", "idle stop", () => withInputs("aws:cloudwatch/metricAlarm:MetricAlarm", (inputs) => { inputs.alarmActions = []; }),
                /backstop: calls notebook-backstop/, /backstop: calls nothing/],
            ["the budget period", "budget", () => withInputs("aws:budgets/budget:Budget", (inputs) => { inputs.timeUnit = "QUARTERLY"; }),
                /^\$30\.00 a month/, /^\$30\.00 a quarter/],
        ];
        for (const [fact, name, change, before, after] of settingFlips) {
            it(`follows ${fact} in the settings`, () => {
                assert.match(setting(record, name), before);
                assert.match(setting(change(), name), after);
            });
        }
    });
});
