// Config parsing and validation: plain maps in, settings or one clear refusal out. No mocks.
import * as assert from "assert";

import {
    DeployRefused, DEFAULTS, firstType, NotebookSettings, parseConfig, parseStackConfig, settingsWarnings, validateSettings, ValidSettings,
} from "../components/config";

const BASE = { allowedCidrs: '["198.51.100.7/32"]' };

function refused(raw: Record<string, string>): string {
    return refusalOf(() => parseConfig(raw), JSON.stringify(raw));
}

/** The message of the refusal of settings that `check` throws: a DeployRefused naming a setting for each problem. */
function refusalOf(check: () => unknown, what = "the settings"): string {
    try {
        check();
    } catch (error) {
        assert.ok(error instanceof DeployRefused, `a DeployRefused, got ${error}`);
        assert.ok(error.problems.every((p) => p.key !== undefined), "every problem names the setting to change");
        assert.match(error.message, /^Configuration refused, nothing was created:/);
        return error.message;
    }
    assert.fail(`expected ${what} to be refused`);
}

describe("config", () => {
    describe("defaults", () => {
        it("applies the documented defaults when only allowedCidrs is set", () => {
            const settings = parseConfig(BASE);
            assert.deepStrictEqual(settings, {
                allowedCidrs: ["198.51.100.7/32"],
                allowOpenAccess: false,
                instanceTypes: ["g4dn.xlarge"],
                typesListed: false,
                amiId: undefined,
                diskSizeGb: undefined,
                notebookPort: 8888,
                notebookPassword: undefined,
                sshUser: "ubuntu",
                dataVolumeGb: 100,
                restoreFromSnapshotId: undefined,
                availabilityZone: undefined,
                moveToZone: undefined,
                subnetId: undefined,
                vpcId: undefined,
                requestQuotaIncrease: false,
                exposeNotebook: true,
                idleStopMinutes: 60,
                running: true,
                spot: false,
                spotFallback: undefined,
                monthlyBudgetUsd: undefined,
                alertEmail: undefined,
                notifyEmail: undefined,
                notifyWebhook: undefined,
                notifyOn: ["job-finished", "job-failed", "job-stalled", "stopping", "budget"],
                jobStallMinutes: 60,
                jobStopGraceSeconds: 60,
            });
        });

        it("treats Pulumi.yaml's empty-string and zero defaults as unset", () => {
            const settings = parseConfig({ ...BASE, amiId: "", diskSizeGb: "0", notebookPassword: "" });
            assert.strictEqual(settings.amiId, undefined);
            assert.strictEqual(settings.diskSizeGb, undefined);
            assert.strictEqual(settings.notebookPassword, undefined);
        });

        it("reads namespaced keys and ignores other namespaces", () => {
            const settings = parseConfig({ "gpu-notebook:allowedCidrs": BASE.allowedCidrs, "aws:region": "eu-west-1" });
            assert.deepStrictEqual(settings.allowedCidrs, ["198.51.100.7/32"]);
            assert.deepStrictEqual(settings.instanceTypes, [DEFAULTS.instanceType]);
        });
    });

    describe("allowedCidrs", () => {
        it("when missing, is refused naming the one command that allows your own address", () => {
            const message = refused({});
            assert.match(message, /gpu-notebook:allowedCidrs is not set/);
            assert.match(message, /run:\n +npm run allow-my-ip\n/);
            // ...which exists, as an npm script.
            assert.ok(require("../package.json").scripts["allow-my-ip"]);
        });

        it("when an empty list, is refused like a missing one", () => {
            assert.match(refused({ allowedCidrs: "[]" }), /gpu-notebook:allowedCidrs is not set/);
        });

        it("refuses something that is not a CIDR, naming the value and the accepted form", () => {
            const message = refused({ allowedCidrs: '["my-laptop"]' });
            assert.match(message, /gpu-notebook:allowedCidrs = "my-laptop" is not accepted: expected an IPv4 or IPv6 CIDR such as 203\.0\.113\.7\/32/);
        });

        it("refuses an out-of-range address", () => {
            assert.match(refused({ allowedCidrs: '["300.1.2.3/32"]' }), /"300\.1\.2\.3\/32" is not accepted: expected an IPv4 or IPv6 CIDR/);
        });

        it("refuses an out-of-range prefix", () => {
            assert.match(refused({ allowedCidrs: '["10.0.0.0/33"]' }), /"10\.0\.0\.0\/33" is not accepted/);
        });

        it("refuses a bare address and suggests its /32", () => {
            assert.match(refused({ allowedCidrs: '["198.51.100.7"]' }), /needs a prefix length; for that one address use 198\.51\.100\.7\/32/);
        });

        it("refuses host bits set and suggests the network (10.0.0.1/24 → 10.0.0.0/24)", () => {
            const message = refused({ allowedCidrs: '["10.0.0.1/24"]' });
            assert.match(message, /gpu-notebook:allowedCidrs = "10\.0\.0\.1\/24" is not accepted: host bits are set; use 10\.0\.0\.0\/24/);
            assert.match(message, /or 10\.0\.0\.1\/32 for that one address/);
        });

        it("refuses IPv6 host bits set and suggests the network", () => {
            assert.match(refused({ allowedCidrs: '["2001:db8::1/64"]' }), /use 2001:db8::\/64/);
        });

        it("refuses 0.0.0.0/0 unless allowOpenAccess is set", () => {
            const message = refused({ allowedCidrs: '["0.0.0.0/0"]' });
            assert.match(message, /gpu-notebook:allowedCidrs = "0\.0\.0\.0\/0" is not accepted: it opens SSH and the notebook to the whole internet/);
            assert.match(message, /set gpu-notebook:allowOpenAccess to true/);
        });

        it("refuses ::/0 unless allowOpenAccess is set", () => {
            assert.match(refused({ allowedCidrs: '["::/0"]' }), /"::\/0" is not accepted: it opens SSH and the notebook to the whole internet/);
        });

        it("accepts 0.0.0.0/0 and ::/0 with allowOpenAccess", () => {
            const settings = parseConfig({ allowedCidrs: '["0.0.0.0/0","::/0"]', allowOpenAccess: "true" });
            assert.deepStrictEqual(settings.allowedCidrs, ["0.0.0.0/0", "::/0"]);
        });

        it("refuses the same network listed twice", () => {
            assert.match(refused({ allowedCidrs: '["10.0.0.0/8","10.0.0.0/8"]' }), /10\.0\.0\.0\/8 is listed twice/);
        });

        it("accepts 30 networks and refuses 31, more than a security group can hold", () => {
            const networks = (count: number) => JSON.stringify(Array.from({ length: count }, (_, i) => `10.0.${i}.0/24`));
            assert.strictEqual(parseConfig({ allowedCidrs: networks(30) }).allowedCidrs.length, 30);
            assert.match(refused({ allowedCidrs: networks(31) }), /gpu-notebook:allowedCidrs = "31 entries" is not accepted: at most 30 networks/);
        });

        it("accepts a comma-separated string and normalises IPv6", () => {
            const settings = parseConfig({ allowedCidrs: "198.51.100.7/32, 2001:0db8:0000::/48" });
            assert.deepStrictEqual(settings.allowedCidrs, ["198.51.100.7/32", "2001:db8::/48"]);
        });

        it("refuses a list that is not a list of strings", () => {
            assert.match(refused({ allowedCidrs: "[1, 2]" }), /gpu-notebook:allowedCidrs = "\[1, 2\]" is not accepted: a list of strings/);
        });
    });

    describe("allowOpenAccess", () => {
        it("accepted with a world CIDR, still warns that SSH and the notebook are open to the whole internet", () => {
            const warnings = settingsWarnings(parseConfig({ allowedCidrs: '["198.51.100.7/32","0.0.0.0/0","::/0"]', allowOpenAccess: "true" }));
            assert.deepStrictEqual(warnings.length, 1);
            assert.match(warnings[0], /gpu-notebook:allowedCidrs includes 0\.0\.0\.0\/0 and ::\/0: SSH and the notebook are open to the whole internet/);
        });

        it("warns about nothing when set but every network is a real one", () => {
            assert.deepStrictEqual(settingsWarnings(parseConfig({ ...BASE, allowOpenAccess: "true" })), []);
            assert.deepStrictEqual(settingsWarnings(parseConfig(BASE)), []);
        });
    });

    describe("exposeNotebook", () => {
        it("refuses a non-boolean handed to the component directly, saying what each value means", () => {
            // As JavaScript or YAML callers of the component could: nothing else checks the type there.
            const settings = { ...parseConfig(BASE), exposeNotebook: "false" } as unknown as NotebookSettings;
            assert.throws(() => validateSettings(settings),
                /gpu-notebook:exposeNotebook = "false" is not accepted: true \(the notebook port is open to allowedCidrs\) or false \(SSH only/);
        });

        it("accepts false", () => {
            assert.strictEqual(parseConfig({ ...BASE, exposeNotebook: "false" }).exposeNotebook, false);
        });
    });

    describe("values of the wrong form", () => {
        const table: [string, string, string][] = [
            ["allowOpenAccess", "yes", "true or false"],
            ["exposeNotebook", "no", "true or false"],
            ["requestQuotaIncrease", "please", "true or false"],
            ["running", "off", "true or false"],
            ["spot", "maybe", "true or false"],
            ["diskSizeGb", "big", "a whole number"],
            ["notebookPort", "http", "a whole number"],
            ["dataVolumeGb", "lots", "a whole number"],
            ["idleStopMinutes", "1h", "a whole number"],
            ["amiId", "ubuntu-latest", "an AMI id such as ami-0123456789abcdef0"],
            ["restoreFromSnapshotId", "my-backup", "a snapshot id such as snap-0123456789abcdef0"],
            ["availabilityZone", "us-east-1", "an availability zone name of the stack's region, such as us-east-1b"],
            ["moveToZone", "us-east-1", "an availability zone name of the stack's region that offers one of the candidate types, such as us-east-1c"],
            ["subnetId", "vpc-0123456789abcdef0", "a subnet id such as subnet-0123456789abcdef0"],
            ["vpcId", "default", "a VPC id such as vpc-0123456789abcdef0"],
        ];
        for (const [key, value, accepted] of table) {
            it(`refuses ${key} = ${JSON.stringify(value)}, naming the key, the value and what is accepted`, () => {
                const message = refused({ ...BASE, [key]: value });
                assert.ok(message.includes(`gpu-notebook:${key} = ${JSON.stringify(value)} is not accepted: ${accepted}`), message);
            });
        }
    });

    describe("instanceType", () => {
        it("refuses a type without a GPU, listing the accepted families", () => {
            const message = refused({ ...BASE, instanceType: "t3.micro" });
            assert.match(message, /gpu-notebook:instanceType = "t3\.micro" is not accepted: an NVIDIA GPU instance type/);
            assert.match(message, /g4dn, g5, g6, g6e, gr6, p4d, p4de, p5, p5e, p5en, p6-b200/);
        });

        it("refuses a Graviton GPU type and says why", () => {
            assert.match(refused({ ...BASE, instanceType: "g5g.xlarge" }), /Graviton GPU types need an arm64 AMI/);
        });

        it("refuses a GPU family with a malformed size", () => {
            assert.match(refused({ ...BASE, instanceType: "g5.huge" }), /"g5\.huge" is not accepted: .*the size part after the dot is not valid/);
        });

        it("accepts every supported family", () => {
            for (const type of ["g4dn.xlarge", "g5.48xlarge", "g6.xlarge", "g6e.2xlarge", "gr6.4xlarge", "p4d.24xlarge",
                "p4de.24xlarge", "p5.48xlarge", "p5e.48xlarge", "p5en.48xlarge", "p6-b200.48xlarge", "g4dn.metal"]) {
                assert.deepStrictEqual(parseConfig({ ...BASE, instanceType: type }).instanceTypes, [type]);
            }
        });
    });

    describe("instanceTypes", () => {
        const types = (value: unknown) => ({ ...BASE, instanceTypes: JSON.stringify(value) });

        it("takes the candidates in the order given, the first tried first", () => {
            const settings = parseConfig(types(["g5.xlarge", "g6.xlarge", "g4dn.xlarge"]));
            assert.deepStrictEqual(settings.instanceTypes, ["g5.xlarge", "g6.xlarge", "g4dn.xlarge"]);
            assert.strictEqual(firstType(settings), "g5.xlarge");
        });

        it("reads instanceType as a list of one", () => {
            assert.deepStrictEqual(parseConfig({ ...BASE, instanceType: "g6.xlarge" }).instanceTypes, ["g6.xlarge"]);
        });

        it("refuses instanceType and instanceTypes together, naming both", () => {
            assert.match(refused({ ...types(["g5.xlarge"]), instanceType: "g6.xlarge" }),
                /gpu-notebook:instanceTypes = \["g5\.xlarge"\] is not accepted: a list, or gpu-notebook:instanceType = "g6\.xlarge", not both/);
        });

        const refusals: [string, unknown, RegExp][] = [
            ["an unknown type", ["g5.xlarge", "g9.xlarge"], /instanceTypes = \["g5\.xlarge","g9\.xlarge"\] is not accepted: g9\.xlarge is refused \(it has no NVIDIA GPU .*\); each candidate is an NVIDIA GPU instance type .* g4dn, g5, g6/],
            ["a CPU-only type", ["m5.large"], /m5\.large is refused \(it has no NVIDIA GPU the Deep Learning AMI supports \(a CPU-only type/],
            ["two architectures", ["g5.xlarge", "g5g.xlarge"], /it mixes two architectures, x86_64 \(g5\.xlarge\) and arm64 \(g5g\.xlarge\)/],
            ["an empty list", [], /instanceTypes = \[\] is not accepted: a list of one or more types/],
            ["a duplicate", ["g5.xlarge", "g6.xlarge", "g5.xlarge"], /g5\.xlarge is listed twice; list each type once/],
            ["a type that is no name at all", ["g5 xlarge"], /\["g5 xlarge"\] .*it is not an EC2 instance type name/],
        ];
        for (const [what, value, expected] of refusals) {
            it(`refuses ${what} in one line naming the key and value, before anything`, () => {
                const message = refused(types(value));
                assert.match(message, expected);
                assert.match(message, /^Configuration refused, nothing was created:\n {2}- gpu-notebook:instanceTypes = /);
            });
        }

        it("in a class, an entry's own instanceType replaces the inherited instanceTypes, and each notebook has its own list", () => {
            const stack = parseStackConfig({ ...types(["g5.xlarge", "g6.xlarge"]), notebooks: JSON.stringify({ alice: {}, bob: { instanceType: "g4dn.xlarge" } }) });
            assert.strictEqual(stack.kind, "fleet");
            const byName = Object.fromEntries(stack.kind === "fleet" ? stack.notebooks.map((each) => [each.name, each.settings.instanceTypes]) : []);
            assert.deepStrictEqual(byName, { alice: ["g5.xlarge", "g6.xlarge"], bob: ["g4dn.xlarge"] });
        });

        it("refuses a list that is not a list of strings", () => {
            assert.match(refused({ ...BASE, instanceTypes: '[1, 2]' }), /gpu-notebook:instanceTypes = "\[1, 2\]" is not accepted: a list of strings/);
        });
    });

    describe("spotFallback", () => {
        it("accepts on-demand with spot", () => {
            assert.strictEqual(parseConfig({ ...BASE, spot: "true", spotFallback: "on-demand" }).spotFallback, "on-demand");
        });

        it("refuses it without spot, and any other value", () => {
            assert.match(refused({ ...BASE, spotFallback: "on-demand" }), /spotFallback = "on-demand" is not accepted: only with gpu-notebook:spot set to true/);
            assert.match(refused({ ...BASE, spot: "true", spotFallback: "spot" }), /spotFallback = "spot" is not accepted: on-demand \(fall back/);
        });
    });

    describe("diskSizeGb", () => {
        it("refuses a non-number", () => {
            assert.match(refused({ ...BASE, diskSizeGb: "big" }), /gpu-notebook:diskSizeGb = "big" is not accepted: a whole number/);
        });

        it("refuses a size gp3 cannot have, up to 16384 GiB", () => {
            assert.match(refused({ ...BASE, diskSizeGb: "16385" }), /gpu-notebook:diskSizeGb = 16385 is not accepted: .*at most 16384/);
            assert.strictEqual(parseConfig({ ...BASE, diskSizeGb: "16384" }).diskSizeGb, 16384);
        });

        it("leaves the lower limit to the AMI's own size, the one minimum that is real, and says so", () => {
            const message = refused({ ...BASE, diskSizeGb: "-1" });
            assert.match(message, /gpu-notebook:diskSizeGb = -1 is not accepted: a whole number of GiB, at least the AMI's own size \(the deploy looks it up/);
            assert.doesNotMatch(message, /from 8\b/);
            // 1 GiB passes here; the deploy refuses it against the AMI (test/notebook.test.ts).
            assert.strictEqual(parseConfig({ ...BASE, diskSizeGb: "1" }).diskSizeGb, 1);
        });
    });

    describe("notebookPort", () => {
        for (const port of ["80", "1023", "65536", "0"]) {
            it(`refuses ${port}, without mentioning SSH's port`, () => {
                const message = refused({ ...BASE, notebookPort: port });
                assert.match(message, new RegExp(`gpu-notebook:notebookPort = ${port} is not accepted: a whole number from 1024 to 65535$`, "m"));
                assert.doesNotMatch(message, /\b22\b/);
            });
        }

        it("refuses 22, saying it is SSH's", () => {
            assert.match(refused({ ...BASE, notebookPort: "22" }),
                /gpu-notebook:notebookPort = 22 is not accepted: a whole number from 1024 to 65535 \(22 is SSH's port/);
        });

        it("refuses a non-number", () => {
            assert.match(refused({ ...BASE, notebookPort: "http" }), /gpu-notebook:notebookPort = "http" is not accepted: a whole number/);
        });

        it("accepts 1024 and 65535", () => {
            assert.strictEqual(parseConfig({ ...BASE, notebookPort: "1024" }).notebookPort, 1024);
            assert.strictEqual(parseConfig({ ...BASE, notebookPort: "65535" }).notebookPort, 65535);
        });
    });

    describe("notebookPassword", () => {
        it("refuses 11 characters without printing them, and accepts 12", () => {
            const message = refused({ ...BASE, notebookPassword: "hunter2hunt" });
            assert.match(message, /gpu-notebook:notebookPassword \(a secret of 11 characters\) is not accepted: at least 12 characters/);
            assert.ok(!message.includes("hunter2hunt"));
            assert.strictEqual(parseConfig({ ...BASE, notebookPassword: "hunter2hunte" }).notebookPassword, "hunter2hunte");
        });
    });

    describe("sshUser", () => {
        it("refuses root", () => {
            assert.match(refused({ ...BASE, sshUser: "root" }), /gpu-notebook:sshUser = "root" is not accepted: a Linux user name .*not root/);
        });

        it("refuses a name Linux would not accept", () => {
            assert.match(refused({ ...BASE, sshUser: "Bad User" }), /gpu-notebook:sshUser = "Bad User" is not accepted/);
        });

        it("accepts a 32-character name and refuses 33", () => {
            assert.strictEqual(parseConfig({ ...BASE, sshUser: "a".repeat(32) }).sshUser, "a".repeat(32));
            assert.match(refused({ ...BASE, sshUser: "a".repeat(33) }), /gpu-notebook:sshUser = "a{33}" is not accepted/);
        });
    });

    describe("dataVolumeGb", () => {
        it("refuses -1, below 0 for none", () => {
            assert.match(refused({ ...BASE, dataVolumeGb: "-1" }),
                /gpu-notebook:dataVolumeGb = -1 is not accepted: a whole number of GiB from 1 to 16384 for the volume that keeps ~\/notebooks, or 0 for none/);
        });

        it("accepts 1 and 16384 GiB and refuses 16385, a size gp3 cannot have", () => {
            assert.strictEqual(parseConfig({ ...BASE, dataVolumeGb: "1" }).dataVolumeGb, 1);
            assert.strictEqual(parseConfig({ ...BASE, dataVolumeGb: "16384" }).dataVolumeGb, 16384);
            assert.match(refused({ ...BASE, dataVolumeGb: "16385" }), /gpu-notebook:dataVolumeGb = 16385 is not accepted: a whole number of GiB from 1 to 16384/);
        });

        it("accepts 0 as no data volume, unlike diskSizeGb's 0", () => {
            assert.strictEqual(parseConfig({ ...BASE, dataVolumeGb: "0" }).dataVolumeGb, 0);
            assert.strictEqual(parseConfig({ ...BASE, dataVolumeGb: "500" }).dataVolumeGb, 500);
        });
    });

    describe("restoreFromSnapshotId", () => {
        it("refuses a snapshot with nowhere to restore it (dataVolumeGb 0)", () => {
            assert.match(refused({ ...BASE, restoreFromSnapshotId: "snap-0123456789abcdef0", dataVolumeGb: "0" }),
                /gpu-notebook:restoreFromSnapshotId = "snap-0123456789abcdef0" is not accepted: only with a data volume to restore into; set gpu-notebook:dataVolumeGb/);
        });
    });

    describe("availabilityZone", () => {
        it("accepts regional and Local Zone names", () => {
            assert.strictEqual(parseConfig({ ...BASE, availabilityZone: "eu-central-1c" }).availabilityZone, "eu-central-1c");
            assert.strictEqual(parseConfig({ ...BASE, availabilityZone: "us-east-1-bos-1a" }).availabilityZone, "us-east-1-bos-1a");
        });
    });

    describe("idleStopMinutes", () => {
        it("accepts 0 (never stop), 10 and 720", () => {
            for (const minutes of [0, 10, 720]) {
                assert.strictEqual(parseConfig({ ...BASE, idleStopMinutes: String(minutes) }).idleStopMinutes, minutes);
            }
        });

        for (const minutes of ["9", "721", "-1", "1"]) {
            it(`refuses ${minutes}, naming the accepted range and 0`, () => {
                assert.match(refused({ ...BASE, idleStopMinutes: minutes }),
                    new RegExp(`gpu-notebook:idleStopMinutes = ${minutes} is not accepted: a whole number of minutes from 10 to 720, or 0 to never stop`));
            });
        }
    });

    describe("running and spot", () => {
        it("reads running=false and spot=true", () => {
            const settings = parseConfig({ ...BASE, running: "false", spot: "true" });
            assert.strictEqual(settings.running, false);
            assert.strictEqual(settings.spot, true);
        });
    });

    describe("monthlyBudgetUsd and alertEmail", () => {
        it("accepts both together", () => {
            const settings = parseConfig({ ...BASE, monthlyBudgetUsd: "49.99", alertEmail: "student@example.org" });
            assert.strictEqual(settings.monthlyBudgetUsd, 49.99);
            assert.strictEqual(settings.alertEmail, "student@example.org");
        });

        it("treats Pulumi.yaml's 0 and empty string as no budget", () => {
            const settings = parseConfig({ ...BASE, monthlyBudgetUsd: "0", alertEmail: "" });
            assert.strictEqual(settings.monthlyBudgetUsd, undefined);
            assert.strictEqual(settings.alertEmail, undefined);
        });

        it("refuses a budget without an email, naming both keys", () => {
            assert.match(refused({ ...BASE, monthlyBudgetUsd: "50" }),
                /gpu-notebook:monthlyBudgetUsd and gpu-notebook:alertEmail go together: monthlyBudgetUsd is set but alertEmail is not/);
        });

        it("refuses an email without a budget, naming both keys", () => {
            assert.match(refused({ ...BASE, alertEmail: "student@example.org" }),
                /gpu-notebook:monthlyBudgetUsd and gpu-notebook:alertEmail go together: alertEmail is set but monthlyBudgetUsd is not/);
        });

        for (const email of ["student", "student@example", "a@b.org,c@d.org", "two words@example.org"]) {
            it(`refuses the email ${JSON.stringify(email)}`, () => {
                assert.match(refused({ ...BASE, monthlyBudgetUsd: "50", alertEmail: email }),
                    new RegExp(`gpu-notebook:alertEmail = ${JSON.stringify(email).replace(/[.]/g, "\\.")} is not accepted: one email address such as you@example.org`));
            });
        }

        it("refuses an amount that is not money", () => {
            assert.match(refused({ ...BASE, monthlyBudgetUsd: "fifty", alertEmail: "student@example.org" }),
                /gpu-notebook:monthlyBudgetUsd = "fifty" is not accepted: an amount in USD with at most two decimals/);
            assert.match(refused({ ...BASE, monthlyBudgetUsd: "-5", alertEmail: "student@example.org" }),
                /gpu-notebook:monthlyBudgetUsd = "-5" is not accepted/);
        });

        it("accepts 0.01 and 1000000, and refuses 1000000.01, over the ceiling", () => {
            const budget = (amount: string) => ({ ...BASE, monthlyBudgetUsd: amount, alertEmail: "student@example.org" });
            assert.strictEqual(parseConfig(budget("0.01")).monthlyBudgetUsd, 0.01);
            assert.strictEqual(parseConfig(budget("1000000")).monthlyBudgetUsd, 1000000);
            assert.match(refused(budget("1000000.01")),
                /gpu-notebook:monthlyBudgetUsd = 1000000.01 is not accepted: an amount in USD above 0 and at most 1000000/);
        });
    });

    describe("notifications and unattended runs", () => {
        const WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXX";

        it("reads where notifications go, which events, the stall limit and the grace", () => {
            const settings = parseConfig({
                ...BASE, notifyEmail: " me@example.org ", notifyWebhook: WEBHOOK, notifyOn: "job-failed, stopping",
                jobStallMinutes: "0", jobStopGraceSeconds: "120",
            });
            assert.strictEqual(settings.notifyEmail, "me@example.org");
            assert.strictEqual(settings.notifyWebhook, WEBHOOK);
            assert.deepStrictEqual(settings.notifyOn, ["job-failed", "stopping"]);
            assert.strictEqual(settings.jobStallMinutes, 0);
            assert.strictEqual(settings.jobStopGraceSeconds, 120);
            assert.deepStrictEqual(parseConfig({ ...BASE, notifyOn: '["started"]' }).notifyOn, ["started"]);
        });

        it("notifies every event but started by default, and sends nothing anywhere unless told where", () => {
            const settings = parseConfig({ ...BASE, notifyOn: "" });
            assert.ok(!settings.notifyOn.includes("started"));
            assert.strictEqual(settings.notifyOn.length, 5);
            assert.strictEqual(settings.notifyEmail, undefined);
            assert.strictEqual(settings.notifyWebhook, undefined);
        });

        it("refuses a malformed email address, naming it and what is accepted", () => {
            for (const email of ["me", "me@example", "a@b.org, c@d.org", "me @example.org"]) {
                assert.match(refused({ ...BASE, notifyEmail: email }),
                    new RegExp(`gpu-notebook:notifyEmail = ${JSON.stringify(email).replace(/[.]/g, "\\.")} is not accepted: one email address such as you@example.org`));
            }
        });

        it("refuses a webhook that is not https, naming its scheme but never the URL", () => {
            const secret = "http://hooks.example.org/T0P-SECRET";
            const message = refused({ ...BASE, notifyWebhook: secret });
            assert.match(message, /gpu-notebook:notifyWebhook \(a secret, http: URL\) is not accepted: an https:\/\/ URL/);
            assert.match(message, /config set --secret notifyWebhook URL/);
            assert.ok(!message.includes("T0P-SECRET"), "the URL is not shown");
            assert.match(refused({ ...BASE, notifyWebhook: "hooks.slack.com/T0P-SECRET" }), /notifyWebhook \(a secret, not a URL\)/);
            assert.doesNotMatch(refused({ ...BASE, notifyWebhook: "hooks.slack.com/T0P-SECRET" }), /T0P-SECRET/);
            assert.doesNotThrow(() => parseConfig({ ...BASE, notifyWebhook: "https://discord.com/api/webhooks/1/abc" }));
        });

        it("refuses unknown event names, suggesting the one meant, and an empty list", () => {
            const message = refused({ ...BASE, notifyOn: "job-finish,stopping,lunch" });
            assert.match(message, /gpu-notebook:notifyOn = \["job-finish","stopping","lunch"\] is not accepted: job-finish and lunch are not events \(job-finish: did you mean job-finished\?\); list some of the events job-finished, job-failed, job-stalled, stopping, started, budget/);
            assert.match(refused({ ...BASE, notifyOn: "[]" }), /notifyOn = \[\] is not accepted: a list of one or more of the events .*; to send nothing, unset notifyEmail and notifyWebhook/);
            assert.match(refused({ ...BASE, notifyOn: '["stopping"' }), /notifyOn = .* is not accepted: a list of strings, such as \["job-failed", "stopping"\]/);
        });

        it("refuses negative or fractional minutes and seconds, and accepts the edges 0 and 3600", () => {
            assert.match(refused({ ...BASE, jobStallMinutes: "-1" }),
                /gpu-notebook:jobStallMinutes = -1 is not accepted: a whole number of minutes from 1 up .* or 0 for never \(a hung job then keeps the machine up forever\)/);
            assert.match(refused({ ...BASE, jobStallMinutes: "1.5" }), /gpu-notebook:jobStallMinutes = "1\.5" is not accepted: a whole number/);
            assert.match(refused({ ...BASE, jobStopGraceSeconds: "-5" }),
                /gpu-notebook:jobStopGraceSeconds = -5 is not accepted: a whole number of seconds from 0 to 3600/);
            assert.match(refused({ ...BASE, jobStopGraceSeconds: "3601" }), /jobStopGraceSeconds = 3601 is not accepted/);
            for (const [key, value] of [["jobStallMinutes", "0"], ["jobStopGraceSeconds", "0"], ["jobStopGraceSeconds", "3600"]]) {
                assert.doesNotThrow(() => parseConfig({ ...BASE, [key]: value }), `${key} ${value}`);
            }
        });

        it("lists every bad unattended value in one refusal", () => {
            const message = refused({ ...BASE, notifyEmail: "nobody", notifyWebhook: "ftp://x", notifyOn: "sometimes", jobStallMinutes: "-2", jobStopGraceSeconds: "-1" });
            for (const key of ["notifyEmail", "notifyWebhook", "notifyOn", "jobStallMinutes", "jobStopGraceSeconds"]) {
                assert.match(message, new RegExp(`gpu-notebook:${key}`));
            }
        });
    });

    describe("validation", () => {
        it("returns validated settings frozen", () => {
            const settings = parseConfig(BASE);
            assert.ok(Object.isFrozen(settings) && Object.isFrozen(settings.allowedCidrs), "nobody can make them invalid afterwards");
        });

        it("is the only way to the settings the component takes", () => {
            const plain: NotebookSettings = { ...parseConfig(BASE), instanceTypes: ["t3.micro"] };
            // @ts-expect-error: settings not returned by validateSettings are not ValidSettings (tsc --noEmit checks this line).
            const unchecked: ValidSettings = plain;
            assert.throws(() => validateSettings(unchecked), /gpu-notebook:instanceType = "t3\.micro" is not accepted/);
        });

        it("names the key the candidates were set by in a copy of the settings too", () => {
            // The fact lives in the settings (typesListed), so a copy, as preflight makes them, keeps it.
            const copy = (config: Record<string, string>) => ({ ...parseConfig({ ...BASE, ...config }), instanceTypes: ["t3.micro"] });
            assert.match(refusalOf(() => validateSettings(copy({ instanceTypes: '["g5.xlarge"]' }))),
                /gpu-notebook:instanceTypes = \["t3\.micro"\] is not accepted: t3\.micro is refused/);
            assert.match(refusalOf(() => validateSettings(copy({ instanceType: "g5.xlarge" }))),
                /^ {2}- gpu-notebook:instanceType = "t3\.micro" is not accepted: an NVIDIA GPU instance type/m);
            assert.doesNotMatch(refusalOf(() => validateSettings(copy({ instanceType: "g5.xlarge" }))), /instanceTypes/);
        });

        it("checks a changed copy of validated settings again", () => {
            assert.throws(() => validateSettings({ ...parseConfig(BASE), notebookPort: 22 }), /gpu-notebook:notebookPort = 22 is not accepted/);
        });
    });

    describe("the refusal", () => {
        it("lists every bad value at once", () => {
            const message = refused({ allowedCidrs: '["10.0.0.1/24"]', instanceType: "t3.micro", notebookPort: "22" });
            assert.match(message, /allowedCidrs/);
            assert.match(message, /instanceType/);
            assert.match(message, /notebookPort/);
        });

        it("names each key once: a value that does not parse is not refused again by the range check", () => {
            try {
                parseConfig({ ...BASE, diskSizeGb: "big", notebookPort: "http", idleStopMinutes: "5" });
                assert.fail("expected a refusal");
            } catch (error) {
                assert.ok(error instanceof DeployRefused);
                assert.deepStrictEqual(error.problems.map((p) => p.key), ["diskSizeGb", "notebookPort", "idleStopMinutes"]);
                assert.doesNotMatch(error.message, /NaN/);
            }
        });

        it("names an unknown key and suggests the one meant", () => {
            assert.match(refused({ ...BASE, instancetype: "g5.xlarge" }), /gpu-notebook:instancetype is not a setting this program reads; did you mean gpu-notebook:instanceType\?/);
        });

        it("suggests the setting a misspelt key is nearest to, and lists no settings", () => {
            const message = refused({ ...BASE, instanceTyp: "g5.xlarge", idelStopMinutes: "30", dataVolumeGB: "50" });
            assert.match(message, /gpu-notebook:instanceTyp is not a setting this program reads; did you mean gpu-notebook:instanceType\?/);
            assert.match(message, /gpu-notebook:idelStopMinutes is not a setting this program reads; did you mean gpu-notebook:idleStopMinutes\?/);
            assert.match(message, /gpu-notebook:dataVolumeGB is not a setting this program reads; did you mean gpu-notebook:dataVolumeGb\?/);
            assert.ok(!message.includes("allowOpenAccess"), message);
        });

        it("suggests nothing for a key far from every setting, and points to the list once", () => {
            const message = refused({ ...BASE, colour: "blue" });
            assert.match(message, /^ {2}- gpu-notebook:colour is not a setting this program reads; docs\/configuration\.md lists every setting$/m);
            assert.doesNotMatch(message, /did you mean/);
        });

        it("refuses a setting written in a namespace a slip away from gpu-notebook, or in another namespace", () => {
            for (const key of ["gpu_notebook:instanceType", "gpunotebook:instanceType", "gpu-notebok:instanceType", "notebook:instanceType", "gpu_notebook:instanceTyp"]) {
                assert.match(refused({ ...BASE, [key]: "g5.xlarge" }),
                    new RegExp(`^ {2}- ${key} is not read: this program's settings are in the namespace gpu-notebook; did you mean gpu-notebook:instanceType\\?$`, "m"), key);
            }
        });

        it("leaves other namespaces' keys to their readers", () => {
            const settings = parseConfig({ ...BASE, "aws:region": "eu-west-1", "aws:profile": "lab", "pulumi:tags": "{}", "notebook:colour": "blue" });
            assert.deepStrictEqual(settings.instanceTypes, [DEFAULTS.instanceType]);
        });
    });
});
