// The commands the program's messages name work where the user is: `npm run pulumi -- …` when the
// scripts run the project's pulumi npm package (the quick start has no `pulumi` on PATH), plain
// `pulumi …` otherwise, and `npm run up` wherever a run is to be repeated, since only it fails over.
import * as assert from "assert";
import { execFileSync } from "child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { DeployRefused, parseConfig, parseStackConfig, pulumiCommand } from "../components/config";
import { PULUMI_CLI_VARIABLE } from "../components/contract";
import { decideQuota, QuotaDecision } from "../components/preflight";

const REPO = path.join(__dirname, "..");

/** Runs `body` with the variable the scripts set (undefined: unset, as for a plain `pulumi up`). */
function withCli<T>(value: string | undefined, body: () => T): T {
    const before = process.env[PULUMI_CLI_VARIABLE];
    if (value === undefined) {
        delete process.env[PULUMI_CLI_VARIABLE];
    } else {
        process.env[PULUMI_CLI_VARIABLE] = value;
    }
    try {
        return body();
    } finally {
        if (before === undefined) {
            delete process.env[PULUMI_CLI_VARIABLE];
        } else {
            process.env[PULUMI_CLI_VARIABLE] = before;
        }
    }
}

function refusal(check: () => unknown): string {
    try {
        check();
    } catch (error) {
        assert.ok(error instanceof DeployRefused, `a DeployRefused, got ${error}`);
        return error.message;
    }
    return assert.fail("expected a refusal");
}

const BASE = { allowedCidrs: '["198.51.100.7/32"]' };

describe("the commands messages name", () => {
    it("is npm run pulumi -- … when the scripts run the project's pulumi npm package, else pulumi …", () => {
        assert.strictEqual(withCli("npm", () => pulumiCommand("config rm subnetId")), "npm run pulumi -- config rm subnetId");
        assert.strictEqual(withCli("path", () => pulumiCommand("config rm subnetId")), "pulumi config rm subnetId");
        assert.strictEqual(withCli(undefined, () => pulumiCommand("config rm subnetId")), "pulumi config rm subnetId");
    });

    describe("config refusals", () => {
        const both = { ...BASE, instanceType: "g5.xlarge", instanceTypes: '["g6.xlarge"]' };
        const noNotebook = { ...BASE, notebooks: "{}" };

        it("name npm run pulumi -- config … without a pulumi on PATH", () => withCli("npm", () => {
            assert.match(refusal(() => parseConfig(both)), /keep one of them \(npm run pulumi -- config rm instanceType\)/);
            assert.match(refusal(() => parseConfig({})), /set networks yourself: npm run pulumi -- config set --path 'allowedCidrs\[0\]' 203\.0\.113\.7\/32\)/);
            const fleet = refusal(() => parseStackConfig(noNotebook));
            assert.match(fleet, /one key at a time: npm run pulumi -- config set --path 'notebooks\.alice\.instanceType' g5\.xlarge/);
            assert.match(fleet, /a stack of one notebook: npm run pulumi -- config rm notebooks/);
        }));

        it("name pulumi config … for a pulumi on PATH, as before", () => withCli("path", () => {
            assert.match(refusal(() => parseConfig(both)), /keep one of them \(pulumi config rm instanceType\)/);
            assert.doesNotMatch(refusal(() => parseStackConfig(noNotebook)), /npm run pulumi/);
        }));
    });

    describe("the quota refusal", () => {
        const short = {
            demands: [{ instanceType: "g5.xlarge", vcpus: 4 }], market: "on-demand" as const, region: "us-east-1", current: { value: 0 },
            requestIncrease: false,
        };

        it("says to run npm run up again, the one command that fails over, and how to set the key here", () => withCli("npm", () => {
            const message = refusal(() => decideQuota(short));
            assert.match(message, /then run `npm run up` again\.$/);
            assert.match(message, /`npm run pulumi -- config set gpu-notebook:requestQuotaIncrease true`/);
            assert.doesNotMatch(message, /pulumi up/);
        }));

        it("says npm run up also for a pulumi on PATH, and the request's warning says it too", () => withCli("path", () => {
            assert.match(refusal(() => decideQuota(short)), /`pulumi config set gpu-notebook:requestQuotaIncrease true`.*then run `npm run up` again\.$/);
            const request = decideQuota({ ...short, requestIncrease: true }) as Extract<QuotaDecision, { kind: "request" }>;
            assert.match(request.warning, /run `npm run up` again once it is\./);
        }));
    });

    describe("what the scripts tell the program (scripts/lib/pulumi.sh use_pulumi)", () => {
        let dir: string;
        beforeEach(() => {
            // The scripts' library in a project of its own, whose pulumi npm package is a stand-in that only knows `version`.
            dir = mkdtempSync(path.join(tmpdir(), "pulumi-cli-"));
            mkdirSync(path.join(dir, "project", "scripts", "lib"), { recursive: true });
            for (const file of ["pulumi.sh", "common.sh", "machine.sh"]) {
                copyFileSync(path.join(REPO, "scripts", "lib", file), path.join(dir, "project", "scripts", "lib", file));
            }
            mkdirSync(path.join(dir, "project", "node_modules", ".bin"), { recursive: true });
            mkdirSync(path.join(dir, "bin"));
            for (const stand of [path.join(dir, "project", "node_modules", ".bin", "pulumi"), path.join(dir, "bin", "pulumi")]) {
                writeFileSync(stand, '#!/bin/sh\n[ "$1" = version ] && echo v3.265.0\n');
                chmodSync(stand, 0o755);
            }
        });
        afterEach(() => rmSync(dir, { recursive: true, force: true }));

        function told(pathDirs: string[]): string {
            return execFileSync("bash", ["-c", `. project/scripts/lib/pulumi.sh && use_pulumi && printenv ${PULUMI_CLI_VARIABLE}`], {
                cwd: dir, encoding: "utf8", env: { PATH: [...pathDirs, "/usr/bin", "/bin"].join(":"), HOME: dir },
            }).trim();
        }

        it("is npm when only the project's pulumi npm package is there, path for a pulumi on PATH", () => {
            assert.strictEqual(told([]), "npm");
            assert.strictEqual(told([path.join(dir, "bin")]), "path");
            // npm run puts node_modules/.bin first on PATH; that copy is still the npm package.
            assert.strictEqual(told([path.join(dir, "project", "node_modules", ".bin")]), "npm");
        });
    });
});
