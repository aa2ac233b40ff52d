// npm run stop / npm run start: the script sets `running` and applies it with a refresh, through
// whatever Pulumi CLI is on PATH (here a fake that records its arguments).
import * as assert from "assert";
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

const root = path.join(__dirname, "..");
const script = path.join(root, "scripts/power");

describe("scripts/power (npm run stop / start)", () => {
    let dir: string;
    let log: string;

    beforeEach(() => {
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-power-"));
        log = path.join(dir, "pulumi.log");
        writeFileSync(path.join(dir, "pulumi"), `#!/bin/sh\necho "$*" >> "${log}"\n`, { mode: 0o755 });
    });

    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    function power(...args: string[]) {
        return spawnSync("bash", [script, ...args], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, PULUMI_BACKEND_URL: "file://" + dir },
        });
    }

    it("stop sets running=false and applies it with a refresh, passing extra arguments on", () => {
        const result = power("stop", "--yes");
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(readFileSync(log, "utf8").trim().split("\n"), [
            "stack select --create dev", "config set running false", "up --refresh --yes",
        ]);
    });

    it("start sets running=true and applies it with a refresh", () => {
        const result = power("start");
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(readFileSync(log, "utf8").trim().split("\n").slice(-2), ["config set running true", "up --refresh"]);
    });

    it("explains itself with --help and refuses anything else without calling Pulumi", () => {
        const help = power("--help");
        assert.strictEqual(help.status, 0);
        assert.match(help.stdout, /npm run stop \/ npm run start/);
        assert.match(help.stdout, /keeps its disk/);
        const wrong = power("pause");
        assert.strictEqual(wrong.status, 2);
        assert.match(wrong.stderr, /usage: .* stop\|start/);
        assert.throws(() => readFileSync(log));
    });
});
