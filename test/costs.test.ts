// Cost controls under mocks: the idle stop's tag and CloudWatch backstop, stop/start, spot, the
// budget, and the hourly price output with what happens when the price cannot be looked up.
import * as assert from "assert";
import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { INVOKE_TOKENS } from "../components/aws-data";
import { bootFile, HEARTBEAT, IDLE_STOP_TAG, INSTANCE_PATHS } from "../components/boot";
import { BACKSTOP_EXPRESSION, backstopMinutes, IDLE_BACKSTOP } from "../components/idle-backstop";
import { DEFAULT_HOURS_PER_WEEK, HOURS_PER_MONTH, HOURS_PER_WEEK, notebookCosts, PRICE_LIST_REGION, usd } from "../components/pricing";
import { FAKE_ACCOUNT, fakeAutoName, MockCloud, offlineZones, RecordedResource, SAMPLE_PRICES } from "../components/offline/mock-cloud";
import { unwrap } from "../components/offline/run-program";
import { alarmState, AlarmRule, evaluate, Series } from "./support/metric-math";
import { refusal, registered, runProgram, runShared, VALID_CONFIG } from "./support/program";
import { DEBIAN_PYTHON, requireCommands } from "./support/system";
import { machineFiles, machineJsonOf } from "./support/user-data";
import { ALARM, BUDGET, FUNCTION, INSTANCE, INSTANCE_STATE, PERMISSION, PROFILE, ROLE, ROLE_POLICY } from "./support/types";

const BUDGET_CONFIG = { ...VALID_CONFIG, monthlyBudgetUsd: "40", alertEmail: "student@example.org" };

function cloudIn(region: string): MockCloud {
    const cloud = new MockCloud();
    cloud.region = region;
    return cloud;
}

describe("cost controls", () => {
    describe("idle stop", () => {
        it("hands the limit to the instance as the tag the watcher reads, and enables tags in metadata", async () => {
            const { cloud } = await runShared({ ...VALID_CONFIG, idleStopMinutes: "45" });
            const instance = cloud.one(INSTANCE).inputs;
            assert.strictEqual(instance.tags[IDLE_STOP_TAG], "45");
            assert.strictEqual(instance.metadataOptions.instanceMetadataTags, "enabled");
            assert.strictEqual(instance.instanceInitiatedShutdownBehavior, "stop");
        });

        it("changing idleStopMinutes changes only the tag and the alarm, never the user data", async () => {
            const first = (await runShared(VALID_CONFIG)).cloud.one(INSTANCE).inputs;
            const second = (await runShared({ ...VALID_CONFIG, idleStopMinutes: "0" })).cloud.one(INSTANCE).inputs;
            assert.ok(first.userDataBase64, "the instance has user data");
            assert.strictEqual(second.userDataBase64, first.userDataBase64, "the instance is not replaced");
            const withoutTag = (inputs: Record<string, any>) => ({ ...inputs, tags: { ...inputs.tags, [IDLE_STOP_TAG]: "" } }); // any: provider inputs
            assert.deepStrictEqual(withoutTag(second), withoutTag(first));
            assert.strictEqual(second.tags[IDLE_STOP_TAG], "0");
        });

        it("installs the watcher, its every-minute timer and its unit, and enables the timer", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const files = machineFiles(cloud, cloud.one(INSTANCE));
            const machine = machineJsonOf(cloud, cloud.one(INSTANCE));
            const watcher = files.find((file) => file.path === INSTANCE_PATHS.idleWatcher);
            assert.strictEqual(watcher?.content, bootFile("idle-watcher.py"), "shipped as its source");
            assert.strictEqual(watcher?.permissions, "0755");
            const timer = files.find((file) => file.path === INSTANCE_PATHS.idleTimer)?.content ?? "";
            assert.match(timer, /^OnUnitActiveSec=1min$/m);
            const unit = files.find((file) => file.path === INSTANCE_PATHS.idleService)?.content ?? "";
            assert.match(unit, new RegExp(`^ExecStart=/usr/bin/python3 ${INSTANCE_PATHS.idleWatcher} check --machine ${INSTANCE_PATHS.machineFile}$`, "m"));
            assert.deepStrictEqual(machine.setup.at(-1), ["systemctl", "enable", "--now", "--no-block", "gpu-notebook-idle.timer"]);
            // What the watcher would otherwise repeat in Python comes from the program, through the machine file.
            assert.deepStrictEqual([machine.tags.idleStop, machine.notebook.defaultIdleMinutes, machine.notebook.user, machine.paths.jobRunner,
                machine.notebook.jobsDir, machine.paths.jobsRunDir, machine.heartbeat, machine.notebook.port],
            [IDLE_STOP_TAG, 60, "ubuntu", INSTANCE_PATHS.jobRunner, "/home/ubuntu/notebooks/jobs", INSTANCE_PATHS.jobsRunDir, HEARTBEAT, 8888]);
            assert.ok(!files.some((file) => file.path === INSTANCE_PATHS.apiTokenFile),
                "the API token is made on the instance, not written from user data");
        });
    });

    /** The one role whose trust policy lets `service` assume it. */
    function roleFor(cloud: MockCloud, service: string): RecordedResource {
        const roles = cloud.ofType(ROLE).filter((role) => JSON.parse(role.inputs.assumeRolePolicy).Statement[0].Principal.Service === service);
        assert.strictEqual(roles.length, 1, `one role for ${service}`);
        return roles[0];
    }

    /** The inline policies of a role, parsed. */
    function policiesOf(cloud: MockCloud, role: RecordedResource): unknown[] {
        return cloud.ofType(ROLE_POLICY).filter((policy) => policy.inputs.role === fakeAutoName(role.name)).map((policy) => JSON.parse(policy.inputs.policy));
    }

    describe("the heartbeat's instance role", () => {
        it("is assumable by EC2 only and allows nothing but PutMetricData in the heartbeat's namespace, reading the boot bundles and writing its last stop", async () => {
            const { cloud } = await runProgram(VALID_CONFIG);
            const role = roleFor(cloud, "ec2.amazonaws.com");
            assert.deepStrictEqual(JSON.parse(role.inputs.assumeRolePolicy), {
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
            });
            // In any order: each registers once its resources' ARNs are known.
            const byText = (policies: unknown[]) => policies.map((policy) => JSON.stringify(policy)).sort();
            assert.deepStrictEqual(byText(policiesOf(cloud, role)), byText([{
                Version: "2012-10-17",
                Statement: [{
                    Effect: "Allow",
                    Action: "cloudwatch:PutMetricData",
                    Resource: "*",
                    Condition: { StringEquals: { "cloudwatch:namespace": "GpuNotebook" } },
                }],
            }, {
                Version: "2012-10-17",
                // The bundle objects only: not the bucket, not a listing, not another bucket.
                Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: `${cloud.one("aws:s3/bucket:Bucket").computed.arn}/bundles/*` }],
            }, {
                Version: "2012-10-17",
                // Its own last-stop record only; without notifications, no topic and no webhook.
                Statement: [{ Effect: "Allow", Action: "ssm:PutParameter", Resource: `arn:aws:ssm:us-east-1:${FAKE_ACCOUNT}:parameter/gpu-notebook/dev/notebook/last-stop` }],
            }]));
            assert.strictEqual(cloud.ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment").length, 0, "and no managed policy");
        });

        it("reaches the instance through its profile, with or without idle stop", async () => {
            for (const idleStopMinutes of ["60", "0"]) {
                const { cloud } = await runShared({ ...VALID_CONFIG, idleStopMinutes });
                const profile = cloud.one(PROFILE);
                assert.strictEqual(profile.inputs.role, fakeAutoName(roleFor(cloud, "ec2.amazonaws.com").name));
                assert.strictEqual(cloud.one(INSTANCE).inputs.iamInstanceProfile, fakeAutoName(profile.name));
            }
        });
    });

    describe("the CloudWatch backstop", () => {
        const evaluatedMinutes = (alarm: Record<string, any>) => (alarm.datapointsToAlarm * IDLE_BACKSTOP.periodSeconds) / 60; // any: provider inputs

        it("stops the instance after twice the limit of running with a heartbeat that said idle, or nothing", async () => {
            const { cloud, outputs } = await runProgram(VALID_CONFIG);
            const instanceId = await unwrap(outputs.instanceId);
            const alarm = cloud.one(ALARM).inputs;
            assert.deepStrictEqual(alarm.metricQueries, [
                {
                    id: "running", returnData: false,
                    metric: { namespace: "AWS/EC2", metricName: "CPUUtilization", dimensions: { InstanceId: instanceId }, stat: "SampleCount", period: 300 },
                },
                {
                    id: "heartbeat", returnData: false,
                    metric: { namespace: "GpuNotebook", metricName: "Active", dimensions: { InstanceId: instanceId }, stat: "Maximum", period: 300 },
                },
                { id: "active", expression: "IF(FILL(running, 0), FILL(heartbeat, 0), 1)", label: "active while running (1 when stopped)", returnData: true },
            ]);
            assert.strictEqual(alarm.comparisonOperator, "LessThanThreshold");
            assert.strictEqual(alarm.threshold, 1, "a period without an Active of 1 breaches");
            assert.strictEqual(evaluatedMinutes(alarm), 120, "two hours for the default 60 minutes");
            assert.strictEqual(alarm.evaluationPeriods, alarm.datapointsToAlarm + 2, "with room for two late periods");
            assert.strictEqual(alarm.treatMissingData, "notBreaching");
            assert.strictEqual(alarm.namespace, undefined, "a metric-math alarm names no single metric");
        });

        describe("what it computes from the instance's CPU datapoints (running) and the heartbeat, period by period", () => {
            // One character per period of the alarm's window, oldest first: a digit is a datapoint,
            // "." none. CPU SampleCount exists only while the instance runs; Active is 1 or 0.
            const window = (pattern: string, periods: number): Series => {
                const spec = pattern.length === 1 ? pattern.repeat(periods) : pattern;
                assert.strictEqual(spec.length, periods, `a pattern of ${periods} periods: ${pattern}`);
                return [...spec].map((point) => (point === "." ? undefined : Number(point)));
            };
            // For the default limit (60 minutes): 24 breaching periods of 26 stop the machine.
            const cases: { situation: string; running: string; heartbeat: string; active: string; state: "ALARM" | "OK" }[] = [
                { situation: "running, the watcher says idle", running: "5", heartbeat: "0", active: "0", state: "ALARM" },
                { situation: "running, the watcher dead (no heartbeat)", running: "5", heartbeat: ".", active: "0", state: "ALARM" },
                { situation: "running, the watcher says active", running: "5", heartbeat: "1", active: "1", state: "OK" },
                {
                    situation: "running idle, the newest two CPU datapoints not arrived yet",
                    running: `${"5".repeat(24)}..`, heartbeat: "0", active: `${"0".repeat(24)}11`, state: "ALARM",
                },
                {
                    situation: "running idle, then active for the newest three periods",
                    running: "5", heartbeat: `${"0".repeat(23)}111`, active: `${"0".repeat(23)}111`, state: "OK",
                },
                {
                    situation: "running idle, then stopped for the newest three periods",
                    running: `${"5".repeat(23)}...`, heartbeat: `${"0".repeat(23)}...`, active: `${"0".repeat(23)}111`, state: "OK",
                },
                { situation: "stopped all along, an old idle heartbeat long gone", running: ".", heartbeat: ".", active: "1", state: "OK" },
            ];
            for (const { situation, running, heartbeat, active, state } of cases) {
                it(`${situation}: ${state}`, async () => {
                    const alarm = (await runShared(VALID_CONFIG)).cloud.one(ALARM).inputs;
                    const periods = alarm.evaluationPeriods as number;
                    assert.strictEqual(periods, 26, "the table is written for the default limit's window");
                    const returned = (alarm.metricQueries as { id: string; expression?: string; returnData: boolean }[])
                        .filter((query) => query.returnData);
                    assert.strictEqual(returned.length, 1, "the alarm watches one expression");
                    const values = evaluate(returned[0].expression as string,
                        { running: window(running, periods), heartbeat: window(heartbeat, periods) }, periods);
                    assert.deepStrictEqual(values, window(active, periods), "the expression's value in each period");
                    assert.strictEqual(alarmState(values, alarm as AlarmRule), state);
                });
            }
        });

        it("acts through a function that may stop this instance and nothing else, invoked by this alarm only", async () => {
            const { cloud, outputs } = await runProgram(VALID_CONFIG, cloudIn("eu-west-1"));
            const instanceId = await unwrap(outputs.instanceId);
            const stopper = cloud.one(FUNCTION);
            assert.deepStrictEqual(cloud.one(ALARM).inputs.alarmActions, [`arn:aws:lambda:eu-west-1:${FAKE_ACCOUNT}:function:${fakeAutoName(stopper.name)}`]);
            assert.strictEqual(stopper.inputs.environment.variables.INSTANCE_ID, instanceId);
            assert.strictEqual(stopper.inputs.handler, "stop_instance.handler");
            assert.match(stopper.inputs.runtime, /^python3\.\d+$/);
            const role = roleFor(cloud, "lambda.amazonaws.com");
            assert.strictEqual(stopper.inputs.role, `arn:aws:iam::${FAKE_ACCOUNT}:role/${fakeAutoName(role.name)}`);
            const instanceArn = `arn:aws:ec2:eu-west-1:${FAKE_ACCOUNT}:instance/${instanceId}`;
            assert.deepStrictEqual(policiesOf(cloud, role), [{
                Version: "2012-10-17",
                Statement: [
                    { Effect: "Allow", Action: "ec2:StopInstances", Resource: instanceArn },
                    // It may tag the instance with the stop's reason, that one key and value, and nothing else.
                    {
                        Effect: "Allow", Action: "ec2:CreateTags", Resource: instanceArn,
                        Condition: {
                            "ForAllValues:StringEquals": { "aws:TagKeys": ["gpuNotebookStopReason"] },
                            StringEquals: { "aws:RequestTag/gpuNotebookStopReason": "backstop" },
                        },
                    },
                    { Effect: "Allow", Action: "ssm:PutParameter", Resource: `arn:aws:ssm:eu-west-1:${FAKE_ACCOUNT}:parameter/gpu-notebook/dev/notebook/last-stop` },
                ],
            }]);
            assert.deepStrictEqual(cloud.one(PERMISSION).inputs, {
                action: "lambda:InvokeFunction",
                function: fakeAutoName(stopper.name),
                principal: "lambda.alarms.cloudwatch.amazonaws.com",
                sourceArn: `arn:aws:cloudwatch:eu-west-1:${FAKE_ACCOUNT}:alarm:${fakeAutoName("notebook-idle-backstop")}`,
            });
        });

        describe("its function, run by Python with a stand-in for boto3", function () {
            let dir: string;
            let variables: Record<string, string>;
            let instanceId: string;
            let handlerName: string;

            before(async function () {
                requireCommands(this, DEBIAN_PYTHON);
                dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-backstop-"));
                // Records what the function asks AWS for, in order, as the Lambda runtime's boto3
                // would carry it out; a service named in FAIL raises as a denied call does.
                writeFileSync(path.join(dir, "boto3.py"), [
                    "import json, os",
                    "def client(service):",
                    "    class Client:",
                    "        def __getattr__(self, operation):",
                    "            def call(**request):",
                    "                with open(os.environ['CALLS'], 'a') as log: log.write(json.dumps([service, operation, request]) + '\\n')",
                    "                if service in os.environ.get('FAIL', '').split(','):",
                    "                    raise RuntimeError('AccessDenied when calling %s' % operation)",
                    "                return {}",
                    "            return call",
                    "    return Client()",
                ].join("\n"));
            });

            after(() => rmSync(dir, { recursive: true, force: true }));

            /** The function's inputs for a config, as deployed. */
            async function deployed(config: Record<string, string>): Promise<void> {
                const { cloud, outputs } = await runShared(config);
                const stopper = cloud.one(FUNCTION).inputs;
                handlerName = stopper.handler;
                variables = stopper.environment.variables;
                instanceId = await unwrap(outputs.instanceId);
            }

            /** Invokes the handler named by the function's inputs with an alarm event; returns the AWS calls. */
            function invoke(state: string, fail = ""): { result: string; calls: [string, string, Record<string, any>][] } { // any: request shapes
                const [module, handler] = handlerName.split(".");
                const calls = path.join(dir, `calls-${state}-${Math.random()}`);
                const event = { source: "aws.cloudwatch", alarmData: { alarmName: "x", state: { value: state, reason: "24 out of the last 26 datapoints were less than the threshold (1.0)" } } };
                const result = execFileSync(DEBIAN_PYTHON, ["-B", "-c", `import json, sys, ${module}; print(json.dumps(${module}.${handler}(json.loads(sys.argv[1]), None)))`, JSON.stringify(event)], {
                    encoding: "utf8",
                    env: { PYTHONPATH: `${dir}:${path.join(__dirname, "../components/backstop")}`, ...variables, CALLS: calls, FAIL: fail },
                });
                return {
                    result: result.trim().split("\n").at(-1) ?? "",
                    calls: readFileSync(calls, { encoding: "utf8", flag: "a+" }).split("\n").filter(Boolean).map((line) => JSON.parse(line)),
                };
            }

            it("tags the stop's reason, records it, then stops exactly the notebook's instance when the alarm goes to ALARM", async () => {
                await deployed(VALID_CONFIG);
                const { result, calls } = invoke("ALARM");
                assert.deepStrictEqual(JSON.parse(result), { stopped: true });
                assert.deepStrictEqual(calls.map(([service, operation]) => `${service} ${operation}`), ["ec2 create_tags", "ssm put_parameter", "ec2 stop_instances"]);
                assert.deepStrictEqual(calls[0][2], { Resources: [instanceId], Tags: [{ Key: "gpuNotebookStopReason", Value: "backstop" }] });
                const { Name, Value, Type, Overwrite } = calls[1][2];
                assert.deepStrictEqual({ Name, Type, Overwrite }, { Name: "/gpu-notebook/dev/notebook/last-stop", Type: "String", Overwrite: true });
                const record = JSON.parse(Value);
                assert.deepStrictEqual(Object.keys(record), ["time", "reason", "detail", "notification"]);
                assert.match(record.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
                assert.strictEqual(record.reason, "backstop");
                assert.match(record.detail, /no activity reported for 120 minutes/);
                assert.strictEqual(record.notification, null, "without notifications, nothing was sent");
                assert.deepStrictEqual(calls[2][2], { InstanceIds: [instanceId] });
            });

            it("with a topic that takes stopping, publishes the stop before it and records that it was delivered", async () => {
                await deployed({ ...VALID_CONFIG, notifyEmail: "me@example.org" });
                const { calls } = invoke("ALARM");
                assert.deepStrictEqual(calls.map(([service, operation]) => `${service} ${operation}`),
                    ["ec2 create_tags", "sns publish", "ssm put_parameter", "ec2 stop_instances"]);
                const published = calls[1][2];
                assert.strictEqual(published.TopicArn, variables.TOPIC_ARN);
                assert.match(published.TopicArn, /^arn:aws:sns:us-east-1:\d{12}:notebook-notify-/);
                assert.strictEqual(published.Subject, "gpu-notebook dev: stopping (backstop)");
                assert.ok(published.Subject.length <= 100);
                assert.match(published.Message, new RegExp(`^gpu-notebook dev: the idle backstop is stopping the machine ${instanceId} at \\d{4}-.*Z: for 120 minutes`));
                assert.deepStrictEqual(JSON.parse(calls[2][2].Value).notification, { delivered: true, detail: "published to the notebook's topic" });
            });

            it("stops the machine even when nothing else it may do works, and records the notification as not delivered", async () => {
                await deployed({ ...VALID_CONFIG, notifyEmail: "me@example.org" });
                const { result, calls } = invoke("ALARM", "sns");
                assert.deepStrictEqual(JSON.parse(result), { stopped: true });
                assert.deepStrictEqual(JSON.parse(calls[2][2].Value).notification,
                    { delivered: false, detail: "publishing the stop failed: RuntimeError: AccessDenied when calling publish" });
                assert.deepStrictEqual(calls.at(-1)?.slice(0, 2), ["ec2", "stop_instances"]);
                const failedAll = invoke("ALARM", "sns,ssm");
                assert.deepStrictEqual(failedAll.calls.at(-1)?.slice(0, 2), ["ec2", "stop_instances"]);
            });

            it("publishes nothing when stopping is not among the events notified", async () => {
                await deployed({ ...VALID_CONFIG, notifyEmail: "me@example.org", notifyOn: "job-failed" });
                assert.strictEqual(variables.TOPIC_ARN, undefined);
                assert.ok(!invoke("ALARM").calls.some(([service]) => service === "sns"));
            });

            it("does nothing for any other state", async () => {
                await deployed(VALID_CONFIG);
                const { result, calls } = invoke("OK");
                assert.deepStrictEqual(JSON.parse(result), { stopped: false });
                assert.deepStrictEqual(calls, []);
            });
        });

        // Edges of the rule: at least two hours, twice the limit rounded up to whole 5-minute periods,
        // and a whole window (with the two late periods) of at most one day.
        const spans: [number, number][] = [[10, 120], [60, 120], [61, 125], [62, 125], [63, 130], [300, 600], [714, 1430], [715, 1430], [716, 1430], [720, 1430]];
        for (const [limit, minutes] of spans) {
            it(`waits ${minutes} minutes for a ${limit}-minute limit`, async () => {
                assert.strictEqual(backstopMinutes(limit), minutes);
            });
        }

        it("scales with a longer limit, up to CloudWatch's one-day window", async () => {
            const fiveHours = (await runShared({ ...VALID_CONFIG, idleStopMinutes: "300" })).cloud.one(ALARM).inputs;
            assert.strictEqual(evaluatedMinutes(fiveHours), 600);
            const longest = (await runShared({ ...VALID_CONFIG, idleStopMinutes: "720" })).cloud.one(ALARM).inputs;
            assert.strictEqual(longest.evaluationPeriods * IDLE_BACKSTOP.periodSeconds, 24 * 3600);
            assert.strictEqual(evaluatedMinutes(longest), 1430);
        });

        it("is absent when idle stop is disabled, and so is its function", async () => {
            const { cloud } = await runShared({ ...VALID_CONFIG, idleStopMinutes: "0" });
            for (const type of [ALARM, FUNCTION, PERMISSION]) {
                assert.strictEqual(cloud.ofType(type).length, 0, type);
            }
            assert.strictEqual(cloud.ofType(ROLE).length, 1, "only the instance role");
        });

        it("names every metric and dimension the watcher's unit publishes", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const machine = machineJsonOf(cloud, cloud.one(INSTANCE));
            const heartbeat = cloud.one(ALARM).inputs.metricQueries[1].metric;
            assert.deepStrictEqual(machine.heartbeat,
                { namespace: heartbeat.namespace, metricName: heartbeat.metricName, dimension: Object.keys(heartbeat.dimensions)[0] });
            assert.match(BACKSTOP_EXPRESSION, /\bheartbeat\b/);
        });
    });

    describe("running", () => {
        it("keeps the instance running by default", async () => {
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            const state = cloud.one(INSTANCE_STATE).inputs;
            assert.strictEqual(state.state, "running");
            assert.strictEqual(state.instanceId, await unwrap(outputs.instanceId));
        });

        it("running=false stops the same instance, keeping it, its disk and its address", async () => {
            const running = await runShared(VALID_CONFIG);
            const stopped = await runShared({ ...VALID_CONFIG, running: "false" });
            assert.strictEqual(stopped.cloud.one(INSTANCE_STATE).inputs.state, "stopped");
            const { tags: stoppedTags, ...stoppedMachine } = stopped.cloud.one(INSTANCE).inputs;
            const { tags: runningTags, ...runningMachine } = running.cloud.one(INSTANCE).inputs;
            assert.deepStrictEqual(stoppedMachine, runningMachine, "the instance itself is untouched");
            // Only a tag saying why, for the machine's stop sequence: a tag is changed in place.
            assert.deepStrictEqual(stoppedTags, { ...runningTags, gpuNotebookStopReason: "user" });
            assert.strictEqual(runningTags.gpuNotebookStopReason, undefined, "a start takes it away again");
            assert.deepStrictEqual(stopped.cloud.one("aws:ec2/eip:Eip").inputs, running.cloud.one("aws:ec2/eip:Eip").inputs);
            assert.strictEqual(stopped.cloud.one(INSTANCE).inputs.rootBlockDevice.volumeSize,
                running.cloud.one(INSTANCE).inputs.rootBlockDevice.volumeSize);
        });
    });

    describe("spot", () => {
        it("is off by default: on-demand, no market options", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            assert.strictEqual(cloud.one(INSTANCE).inputs.instanceMarketOptions, undefined);
        });

        it("asks for a persistent spot request that stops on interruption", async () => {
            const { cloud } = await runShared({ ...VALID_CONFIG, spot: "true" });
            assert.deepStrictEqual(cloud.one(INSTANCE).inputs.instanceMarketOptions, {
                marketType: "spot",
                spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" },
            });
            assert.strictEqual(cloud.one(INSTANCE).inputs.instanceInitiatedShutdownBehavior, "stop");
        });
    });

    describe("the budget", () => {
        it("is not created without monthlyBudgetUsd", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            assert.strictEqual(cloud.ofType(BUDGET).length, 0);
        });

        it("is a monthly USD cost budget with actual and forecast alerts to alertEmail", async () => {
            const { cloud } = await runShared({ ...BUDGET_CONFIG, monthlyBudgetUsd: "49.5" });
            const budget = cloud.one(BUDGET).inputs;
            assert.strictEqual(budget.budgetType, "COST");
            assert.strictEqual(budget.limitAmount, "49.50");
            assert.strictEqual(budget.limitUnit, "USD");
            assert.strictEqual(budget.timeUnit, "MONTHLY");
            const alerts = budget.notifications.map((n: Record<string, unknown>) =>
                `${n.notificationType} ${n.comparisonOperator} ${n.threshold} ${n.thresholdType} ${JSON.stringify(n.subscriberEmailAddresses)}`);
            assert.deepStrictEqual(alerts, [
                'ACTUAL GREATER_THAN 80 PERCENTAGE ["student@example.org"]',
                'ACTUAL GREATER_THAN 100 PERCENTAGE ["student@example.org"]',
                'FORECASTED GREATER_THAN 100 PERCENTAGE ["student@example.org"]',
            ]);
        });

        it("refuses a budget without an email before creating anything", async () => {
            const cloud = new MockCloud();
            const error = await refusal({ ...VALID_CONFIG, monthlyBudgetUsd: "40" }, cloud);
            assert.match(error.message, /gpu-notebook:monthlyBudgetUsd and gpu-notebook:alertEmail go together/);
            assert.deepStrictEqual(registered(cloud), []);
        });

        it("refuses a malformed email before creating anything", async () => {
            const cloud = new MockCloud();
            const error = await refusal({ ...BUDGET_CONFIG, alertEmail: "student at example.org" }, cloud);
            assert.match(error.message, /gpu-notebook:alertEmail = "student at example.org" is not accepted/);
            assert.deepStrictEqual(registered(cloud), []);
        });
    });

    describe("estimatedHourlyCostUsd", () => {
        it("is the on-demand price from the Price List API, asked through a us-east-1 provider", async () => {
            const { cloud, outputs, warnings } = await runShared(VALID_CONFIG);
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), SAMPLE_PRICES["us-east-1"]["g4dn.xlarge"].onDemand);
            assert.deepStrictEqual(warnings, []);
            const lookup = cloud.calls.find((call) => call.token === INVOKE_TOKENS.getProduct);
            assert.ok(lookup);
            assert.strictEqual(lookup.inputs.serviceCode, "AmazonEC2");
            const filters = Object.fromEntries(lookup.inputs.filters.map((f: { field: string; value: string }) => [f.field, f.value]));
            assert.deepStrictEqual(filters, {
                instanceType: "g4dn.xlarge", regionCode: "us-east-1", operatingSystem: "Linux", tenancy: "Shared",
                preInstalledSw: "NA", licenseModel: "No License required", capacitystatus: "Used", marketoption: "OnDemand",
            });
            const provider = cloud.resources.find((resource) => resource.type === "pulumi:providers:aws");
            assert.strictEqual(provider?.inputs.region, PRICE_LIST_REGION);
            assert.match(lookup.provider ?? "", /pulumi:providers:aws::notebook-price-list::/, "the lookup goes through that provider");
        });

        it("follows the instance type", async () => {
            const { outputs } = await runShared({ ...VALID_CONFIG, instanceType: "g5.xlarge" });
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), SAMPLE_PRICES["us-east-1"]["g5.xlarge"].onDemand);
        });

        it("asks for the stack's region even though the Price List endpoint is in us-east-1", async () => {
            const cloud = cloudIn("eu-west-1");
            const { outputs, warnings } = await runProgram(VALID_CONFIG, cloud);
            const lookup = cloud.calls.find((call) => call.token === INVOKE_TOKENS.getProduct);
            assert.ok(lookup?.inputs.filters.some((f: { field: string; value: string }) => f.field === "regionCode" && f.value === "eu-west-1"));
            // The mocks know no eu-west-1 price, as the real API knows none for a product that does not match.
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), undefined);
            assert.strictEqual(warnings.length, 1);
        });

        it("is the latest spot price for spot, from the stack's region", async () => {
            const { cloud, outputs } = await runShared({ ...VALID_CONFIG, spot: "true" });
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), SAMPLE_PRICES["us-east-1"]["g4dn.xlarge"].spot);
            const lookup = cloud.calls.find((call) => call.token === INVOKE_TOKENS.getSpotPrice);
            assert.strictEqual(lookup?.inputs.instanceType, "g4dn.xlarge");
            assert.deepStrictEqual(lookup?.inputs.filters, [{ name: "product-description", values: ["Linux/UNIX"] }]);
            assert.ok(!cloud.calls.some((call) => call.token === INVOKE_TOKENS.getProduct), "no on-demand lookup for spot");
        });

        it("when the lookup is denied, warns and deploys anyway without a price", async () => {
            const cloud = new MockCloud({
                invokes: {
                    [INVOKE_TOKENS.getProduct]: () => {
                        throw new Error("operation error Pricing: GetProducts, StatusCode: 400, api error AccessDeniedException: " +
                            "User is not authorized to perform: pricing:GetProducts");
                    },
                },
            });
            const { outputs, warnings } = await runProgram(VALID_CONFIG, cloud);
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), undefined);
            assert.strictEqual(cloud.ofType(INSTANCE).length, 1, "the notebook is still created");
            assert.strictEqual(warnings.length, 1);
            assert.match(warnings[0], /could not look up the on-demand price of g4dn\.xlarge in us-east-1/);
            assert.match(warnings[0], /needs pricing:GetProducts/);
        });

        it("when the spot price lookup fails, warns and names its permission", async () => {
            const cloud = new MockCloud({
                invokes: { [INVOKE_TOKENS.getSpotPrice]: () => { throw new Error("UnauthorizedOperation"); } },
            });
            const { outputs, warnings } = await runProgram({ ...VALID_CONFIG, spot: "true" }, cloud);
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), undefined);
            assert.match(warnings.join("\n"), /spot price of g4dn\.xlarge .*ec2:DescribeSpotPriceHistory/);
        });
    });

    describe("what a notebook costs, as the plan says it", () => {
        // docs/costs.md's own example: g4dn.xlarge, 150 + 100 GiB of gp3, one address.
        const standing = { diskGib: 250, gp3GibMonth: 0.08, addresses: 1, ipv4Hour: 0.005 };

        it("running an hour is the instance and an hour of the disks and address; stopped a month is the disks and address", () => {
            const costs = notebookCosts(0.526, standing, DEFAULT_HOURS_PER_WEEK);
            assert.strictEqual(usd(costs.stoppedPerMonth), "$23.65", "$20.00 of disk and $3.65 of address, as docs/costs.md says");
            assert.strictEqual(usd(costs.runningPerHour), "$0.56");
            assert.strictEqual(usd(costs.runningPerHour - 0.526), "$0.03", "docs/costs.md: a stopped machine costs about $0.03 an hour");
        });

        it("a month at a usage counts the instance's hours of a 730-hour month, and the disks and address all month", () => {
            const cases: [number, string, string][] = [
                [0, "$23.65", "0.0"],
                [DEFAULT_HOURS_PER_WEEK, "$69.36", "86.9"],
                [40, "$115.07", "173.8"],
                [HOURS_PER_WEEK, "$407.63", "730.0"],
            ];
            for (const [hours, month, running] of cases) {
                const costs = notebookCosts(0.526, standing, hours);
                assert.deepStrictEqual([usd(costs.perMonth), costs.hoursPerMonth.toFixed(1)], [month, running], `${hours} h a week`);
            }
            assert.strictEqual(HOURS_PER_MONTH * DEFAULT_HOURS_PER_WEEK / HOURS_PER_WEEK, notebookCosts(1, standing, DEFAULT_HOURS_PER_WEEK).hoursPerMonth);
        });

        it("rounds every amount one way, to the cent, after adding", () => {
            assert.deepStrictEqual([0.526, 0.2155, 1.005, 0.004, 1234.5, 0].map(usd), ["$0.53", "$0.22", "$1.01", "$0.00", "$1,234.50", "$0.00"]);
            // Three notebooks at 0.3514: rounded once, at the end, not three times.
            assert.strictEqual(usd(3 * 0.3514), "$1.05");
        });
    });

    describe("the offline engine's zones", () => {
        it("are the region's real zones, with GPUs offered where the region has them", () => {
            const offered = (cloud: MockCloud) => cloud.invokes[INVOKE_TOKENS.getInstanceTypeOfferings]({
                locationType: "availability-zone", filters: [{ name: "instance-type", values: ["g4dn.xlarge"] }],
            }).locations;
            const cases: [string, string[]][] = [
                ["us-east-1", ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"]],
                ["eu-west-1", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]],
                ["ap-south-1", ["ap-south-1a", "ap-south-1b", "ap-south-1c"]],
                ["ap-northeast-1", ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]],
                ["ca-central-1", ["ca-central-1a", "ca-central-1b", "ca-central-1d"]],
            ];
            for (const [region, zones] of cases) {
                const cloud = cloudIn(region);
                assert.deepStrictEqual(offered(cloud), zones, region);
                assert.deepStrictEqual(cloud.world.subnets.map((subnet) => subnet.zone), offlineZones(region), `${region}: a default subnet in each zone`);
            }
        });
    });
});

