// npm run plan: the real program under the test mocks, printed as a plan a newcomer can read.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { packBundle, unpackBundle } from "../components/bundle";
import { idleActivity, INSTANCE_PATHS } from "../components/contract";
import { RecordedResource } from "../components/offline/mock-cloud";
import { SPOT_SAVING_PHRASE } from "../components/spot";
import { describeResource, PlanRecord, planReport, planTarget, settingsRows } from "../scripts/plan";
import { PlanInputError, readStackConfig, STAND_IN_CIDR } from "../scripts/stack-file";
import { refusal, runShared, VALID_CONFIG } from "./support/program";

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
        assert.match(out, /^ {2}data volume +100 GiB gp3, encrypted, at \/home\/ubuntu\/notebooks; a volume of its own, kept when the machine is replaced, snapshotted on destroy$/m);
        assert.match(out, /^ {2}packages +on the data volume, kept when the machine is replaced: \/home\/ubuntu\/notebooks\/\.local, /m);
        assert.match(out, /^ {2}zone +us-east-1a /m);
        assert.match(out, /^ {2}aws ebs Volume +notebook-data +data volume: 100 GiB gp3, encrypted, in us-east-1a, final snapshot on destroy$/m);
        assert.match(out, new RegExp(`^ {2}access +tcp/22 \\(SSH\\) from ${STAND_IN_CIDR}$`, "m"));
        assert.match(out, new RegExp(`^ +tcp/8888 \\(notebook, HTTPS\\) from ${STAND_IN_CIDR}$`, "m"));
        const activity = idleActivity().replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        assert.match(out, new RegExp(`^ {2}idle stop +power off after 60 min with none of: ${activity}; backstop: calls notebook-backstop ` +
            "after 120 min of running without a heartbeat of activity$", "m"));
        assert.ok(out.includes(`spot           no (on-demand; spot: true is ${SPOT_SAVING_PHRASE})`), out);
        assert.match(out, /^ {2}budget +none/m);
        assert.match(out, /^ {2}hourly cost +\$0\.526 for the instance/m);
        assert.match(out, /^ {2}aws ec2 Instance +notebook-instance +g4dn\.xlarge, on-demand, 150 GiB gp3, encrypted, IMDSv2 only$/m);
        assert.match(out, /^ {2}aws cloudwatch MetricAlarm +notebook-idle-backstop +backstop: calls notebook-backstop after 120 min of running without a heartbeat of activity$/m);
        assert.match(out, /^ {2}aws iam RolePolicy +notebook-heartbeat +allows only cloudwatch:PutMetricData on \* where cloudwatch:namespace = GpuNotebook$/m);
        assert.match(out, /^ {2}aws iam RolePolicy +notebook-backstop-stop +allows only ec2:StopInstances on arn:aws:ec2:us-east-1:\d+:instance\/i-\w+ \(offline stand-in account and instance id\)$/m);
        assert.match(out, /^ {2}aws lambda Function +notebook-backstop +the backstop's action: stops instance i-\w+ \(python3\.\d+\) \(offline stand-in instance id\)$/m);
        assert.match(out, /^ {2}aws iam InstanceProfile +notebook-instance-profile +puts the role on the instance$/m);
        assert.match(out, /^Warnings\n(  - .*\n)* {2}- allowedCidrs is not set: `npm run up` sets it to your public address/m);
        assert.match(out, /^ {2}- Pulumi\.dev\.yaml sets no aws:region: `npm run up` sets your AWS setup's region on the first run; the plan shows us-east-1/m);
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
        assert.match(out, /^ {2}budget +\$30\.00 a month for the account, emails at 80% and 100% actual and 100% forecast$/m);
        assert.match(out, /^ {2}aws budgets Budget +notebook-budget +\$30\.00 a month, alerts to student@example\.org at 80% and 100% actual and 100% forecast$/m);
        assert.match(out, /^ {2}spot +yes: persistent request, stops on interruption$/m);
        assert.doesNotMatch(out, /MetricAlarm|lambda/, "no backstop without idle stop");
        assert.match(out, /^ {2}aws iam Role +notebook-instance-role +role for ec2\.amazonaws\.com$/m, "the heartbeat's role stays");
        assert.match(out, /gpu-notebook:notebookPassword is encrypted in Pulumi\.custom\.yaml/);
        assert.match(out, /hourly cost +unknown offline/);
        assert.match(out, /could not look up the spot price of g4dn\.xlarge in eu-west-1/, "the program's own warning is shown");
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
        const out = await planReport({ stack: "candidates", configFile: file });
        const rows = out.split("\n").filter((line) => /^ {2}\d /.test(line));
        assert.strictEqual(rows.length, 2, out);
        assert.match(rows[0], /^ {2}1 +g6\.xlarge +on-demand +1 × NVIDIA L4 \(22 GiB\) +16 GiB +4 +0\.805 +us-east-1a us-east-1b .*<- this run's choice$/);
        assert.match(rows[1], /^ {2}2 +g5\.xlarge +on-demand +1 × NVIDIA A10G \(24 GiB\) +16 GiB +4 +1\.006 +us-east-1a /);
        assert.match(out, /^ {2}instance type +g6\.xlarge, on-demand$/m);
    });

    it("outside us-east-1: the region's zones, a price the offline sample lacks said as such, stand-ins marked, the machine's state in words", async () => {
        const out = await planReport({ stack: "ireland", configFile: stackFile("Pulumi.ireland.yaml", "config:\n  aws:region: eu-west-1\n") });
        assert.match(out, /^ {2}zone +eu-west-1a \(offline stand-in zones/m);
        assert.match(out, /^ {2}aws ebs Volume +notebook-data +data volume: .*, in eu-west-1a,/m);
        assert.doesNotMatch(out, /us-east-1[a-f]/, "no zone of another region");
        assert.match(out, /^ {2}hourly cost +unknown offline: the offline price sample has no list price for g4dn\.xlarge in eu-west-1; looked up from AWS's price data at deploy$/m);
        assert.match(out, /^ {2}- could not look up the on-demand price of g4dn\.xlarge in eu-west-1, .*: the offline price sample .* has no price for g4dn\.xlarge in eu-west-1$/m);
        assert.doesNotMatch(out, /pricing:GetProducts/, "no permission is missing");
        assert.match(out, /^ {2}tls index SelfSignedCert +notebook-tls-cert +notebook certificate for 203\.0\.113\.\d+, 127\.0\.0\.1, localhost, 10 years \(offline stand-in address\)$/m);
        assert.match(out, /^ {2}aws iam RolePolicy +notebook-backstop-stop +.*arn:aws:ec2:eu-west-1:\d+:instance\/i-\w+ \(offline stand-in account and instance id\)$/m);
        assert.match(out, /^ {2}aws ec2 instance state +notebook-state +instance state: running \(keeps notebook-instance running\)$/m);
        assert.doesNotMatch(out, /transitgateway/);
    });

    it("prints the refusal for bad settings and exits non-zero", () => {
        const file = stackFile("Pulumi.bad.yaml", "config:\n  gpu-notebook:monthlyBudgetUsd: 30\n");
        const result = spawnSync("node", ["--require", "./scripts/lib/ts-require.js", "scripts/plan.ts", "--config-file", file], {
            cwd: root, encoding: "utf8", timeout: 120_000,
        });
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /gpu-notebook:monthlyBudgetUsd and gpu-notebook:alertEmail go together/);
        assert.strictEqual(result.stdout, "");
    });

    it("answers an unknown argument with the usage, not as a refused launch", () => {
        const result = spawnSync("node", ["--require", "./scripts/lib/ts-require.js", "scripts/plan.ts", "--bogus"], {
            cwd: root, encoding: "utf8", timeout: 120_000,
        });
        assert.strictEqual(result.status, 2, result.stderr);
        assert.strictEqual(result.stderr, "gpu-notebook plan: unknown argument --bogus; usage: npm run plan [-- --config-file Pulumi.<stack>.yaml]\n");
        assert.doesNotMatch(result.stderr, /refused, nothing was created/);
    });

    describe("reads the stack file as the Pulumi CLI would, and guesses nothing", () => {
        it("refuses --config-file without a file, and a file that does not exist", () => {
            assert.throws(() => planTarget(["--config-file"], {}), /--config-file needs a file/);
            assert.throws(() => planTarget(["--config-file", "--other"], {}), /--config-file needs a file/);
            assert.throws(() => planTarget(["--stack", "x"], {}), /unknown argument --stack/);
            assert.throws(() => readStackConfig(path.join(dir, "Pulumi.missing.yaml"), "missing"), /Pulumi\.missing\.yaml does not exist/);
        });

        it("names the stack after the file, or GPU_NOTEBOOK_STACK, and refuses when they disagree or neither says", () => {
            assert.strictEqual(planTarget(["--config-file", "/x/Pulumi.course.yaml"], {}).stack, "course");
            assert.strictEqual(planTarget(["--config-file", "/x/Pulumi.course.yaml"], { GPU_NOTEBOOK_STACK: "course" }).stack, "course");
            assert.throws(() => planTarget(["--config-file", "/x/Pulumi.course.yaml"], { GPU_NOTEBOOK_STACK: "dev" }),
                /Pulumi\.course\.yaml is the settings file of stack "course", but GPU_NOTEBOOK_STACK says "dev"/);
            assert.strictEqual(planTarget(["--config-file", "/x/settings.yaml"], { GPU_NOTEBOOK_STACK: "lab" }).stack, "lab");
            assert.throws(() => planTarget(["--config-file", "/x/settings.yaml"], {}), /cannot tell which stack \/x\/settings\.yaml belongs to/);
            const fromEnvironment = planTarget([], { GPU_NOTEBOOK_STACK: "lab" });
            assert.deepStrictEqual(fromEnvironment, { stack: "lab", configFile: path.join(root, "Pulumi.lab.yaml") });
            assert.strictEqual(planTarget(["--config-file", "Pulumi.a.yaml"], { INIT_CWD: "/where/npm/ran" }).configFile, "/where/npm/ran/Pulumi.a.yaml");
        });

        it("warns by name about keys in a namespace nothing reads or in none", async () => {
            const file = stackFile("Pulumi.typos.yaml", [
                "config:",
                "  someone-else:colour: blue",
                "  idleStopMinutes: 30",
                "  gpu-notebook:allowedCidrs: [\"198.51.100.0/24\"]",
                "  aws:region: eu-west-1",
                "",
            ].join("\n"));
            const read = readStackConfig(file, "typos");
            assert.ok(read.notes.some((note) => /^someone-else:colour in Pulumi\.typos\.yaml is in the namespace "someone-else", which nothing here reads .*it has no effect$/.test(note)), read.notes.join("\n"));
            assert.ok(read.notes.some((note) => /^idleStopMinutes in Pulumi\.typos\.yaml has no namespace, so the Pulumi CLI refuses the file; write gpu-notebook:idleStopMinutes/.test(note)), read.notes.join("\n"));
            const out = await planReport({ stack: "typos", configFile: file });
            assert.match(out, /^ {2}idle stop +power off after 60 min/m, "the key without a namespace changed nothing");
            assert.match(out, /^ {2}- someone-else:colour in Pulumi\.typos\.yaml/m);
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
            const plan = await planReport({ stack: "meant", configFile: file }).then(() => "", (error: Error) => error.message);
            // At deploy the program reads the same keys from the engine's config.
            const deploy = (await refusal({ ...VALID_CONFIG, "gpu_notebook:instanceType": "g5.xlarge", "notebook:idleStopMinutes": "30" })).message;
            for (const refused of [plan, deploy]) {
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
            const out = await planReport({ stack: "open", configFile: file });
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
        const out = await planReport({ stack: "class", configFile: file });
        assert.match(out, /^Notebooks \(3\): disks in GiB, gp3 and encrypted unless marked/m);
        assert.match(out, /^ {2}alice +g4dn\.xlarge +on-demand +us-east-1a +150 +100 +tcp 22,8888 from 198\.51\.100\.0\/24 +60 min +running +0\.526$/m);
        assert.match(out, /^ {2}bob +g4dn\.xlarge +on-demand .* +stopped +0\.526$/m);
        assert.match(out, /^ {2}carol +g5\.xlarge +on-demand .* +tcp 22,8888 from 2 networks +60 min +running +1\.006$/m);
        assert.match(out, /^ {2}all +2\.058$/m);
        assert.match(out, /^ {2}12 vCPUs of "Running On-Demand G and VT instances" \(L-DB2E81BA\)$/m);
        assert.match(out, /^ {2}3 Elastic IPs of "EC2-VPC Elastic IPs" \(L-0263D0A3\)/m);
        assert.match(out, /^Shared by the notebooks \(2\)\n.*\n {2}aws budgets Budget +shared-budget +\$200\.00 a month.*\n {2}provider aws +shared-price-list +AWS in us-east-1, only for getProduct$/m);
        assert.match(out, /^Each notebook's resources: alice's, 33 of the 102 `pulumi up` would create$/m);
        assert.match(out, /^ {2}aws ec2 Instance +alice-instance +g4dn\.xlarge/m);
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
            const rows = settingsRows({ record: from, config: () => undefined, region: "us-east-1", zone: "us-east-1a", price: 0.526, standInAmiGb: 75 });
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
