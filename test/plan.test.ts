// npm run plan: the real program under the test mocks, printed as a plan a newcomer can read.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { planReport, STAND_IN_CIDR } from "../scripts/plan";

const root = path.join(__dirname, "..");

describe("npm run plan", () => {
    let dir: string;

    before(() => {
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-plan-"));
    });

    after(() => rmSync(dir, { recursive: true, force: true }));

    function stackFile(name: string, text: string): string {
        const file = path.join(dir, name);
        writeFileSync(file, text);
        return file;
    }

    it("runs from package.json on the repository's dev stack and prints the settings, resources and warnings", () => {
        const result = spawnSync("npm", ["run", "--silent", "plan"], {
            cwd: root, encoding: "utf8", timeout: 120_000,
            env: { ...process.env, GPU_NOTEBOOK_STACK: "dev", AWS_REGION: "", AWS_DEFAULT_REGION: "" },
        });
        assert.strictEqual(result.status, 0, result.stderr);
        const out = result.stdout;
        assert.match(out, /^gpu-notebook plan for stack "dev" in us-east-1$/m);
        assert.match(out, /^ {2}instance type +g4dn\.xlarge, on-demand$/m);
        assert.match(out, /^ {2}AMI +latest "Deep Learning OSS Nvidia Driver AMI GPU PyTorch \* \(Ubuntu 24\.04\) \*" by Amazon/m);
        assert.match(out, /^ {2}root disk +150 GiB gp3, encrypted/m);
        assert.match(out, /^ {2}data volume +100 GiB gp3, encrypted, at ~\/notebooks; kept when the machine is replaced, snapshotted on destroy$/m);
        assert.match(out, /^ {2}zone +us-east-1a /m);
        assert.match(out, /^ {2}aws ebs Volume +notebook-data +data volume for ~\/notebooks: 100 GiB gp3 encrypted in us-east-1a, final snapshot on destroy$/m);
        assert.match(out, new RegExp(`^ {2}access +tcp/22 \\(SSH\\) from ${STAND_IN_CIDR}$`, "m"));
        assert.match(out, new RegExp(`^ +tcp/8888 \\(notebook, HTTPS\\) from ${STAND_IN_CIDR}$`, "m"));
        assert.match(out, /^ {2}idle stop +power off after 60 min without jobs, kernel, GPU, CPU or SSH activity; backstop: stop after 120 min of running without a heartbeat of activity$/m);
        assert.match(out, /^ {2}spot +no/m);
        assert.match(out, /^ {2}budget +none/m);
        assert.match(out, /^ {2}hourly cost +\$0\.526 for the instance/m);
        assert.match(out, /^ {2}aws ec2 Instance +notebook-instance +g4dn\.xlarge, on-demand, 150 GiB gp3 encrypted/m);
        assert.match(out, /^ {2}aws cloudwatch MetricAlarm +notebook-idle-backstop +backstop: calls its function after 120 min of running/m);
        assert.match(out, /^ {2}aws iam RolePolicy +notebook-heartbeat +allows only cloudwatch:PutMetricData on \* where cloudwatch:namespace = GpuNotebook$/m);
        assert.match(out, /^ {2}aws iam RolePolicy +notebook-backstop-stop +allows only ec2:StopInstances on arn:aws:ec2:us-east-1:\d+:instance\/i-\w+$/m);
        assert.match(out, /^ {2}aws lambda Function +notebook-backstop +the backstop's action: stops instance i-\w+ \(python3\.\d+\)$/m);
        assert.match(out, /^ {2}aws iam InstanceProfile +notebook-instance-profile +puts the role on the instance$/m);
        assert.match(out, /^Warnings\n {2}- allowedCidrs is not set: `npm run up` sets it to your public address/m);
        assert.doesNotMatch(out, /PRIVATE KEY|sha256:/, "no secrets");
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
        const out = await planReport({ stack: "custom", configFile: file });
        assert.match(out, /^gpu-notebook plan for stack "custom" in eu-west-1$/m);
        assert.match(out, /^ {2}access +tcp\/22 \(SSH\) from 198\.51\.100\.0\/24$/m);
        assert.match(out, /^ {2}instance type +g4dn\.xlarge, spot$/m);
        assert.match(out, /^ {2}idle stop +off \(idleStopMinutes = 0\)/m);
        assert.match(out, /^ {2}running +no: stopped/m);
        assert.match(out, /^ {2}budget +\$30\.00 a month for the account/m);
        assert.match(out, /^ {2}aws budgets Budget +notebook-budget +\$30\.00 a month, alerts to student@example\.org$/m);
        assert.doesNotMatch(out, /MetricAlarm|lambda/, "no backstop without idle stop");
        assert.match(out, /^ {2}aws iam Role +notebook-instance-role +role for ec2\.amazonaws\.com$/m, "the heartbeat's role stays");
        assert.match(out, /gpu-notebook:notebookPassword is encrypted in Pulumi\.custom\.yaml/);
        assert.match(out, /hourly cost +unknown offline/);
        assert.match(out, /could not look up the spot price of g4dn\.xlarge in eu-west-1/, "the program's own warning is shown");
    });

    it("prints the refusal for bad settings and exits non-zero", () => {
        const file = stackFile("Pulumi.bad.yaml", "config:\n  gpu-notebook:monthlyBudgetUsd: 30\n");
        const result = spawnSync(path.join(root, "node_modules/.bin/ts-node"), ["--transpile-only", "scripts/plan.ts", "--config-file", file], {
            cwd: root, encoding: "utf8", timeout: 120_000,
        });
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /gpu-notebook:monthlyBudgetUsd and gpu-notebook:alertEmail go together/);
        assert.strictEqual(result.stdout, "");
    });
});
