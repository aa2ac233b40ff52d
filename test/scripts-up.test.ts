// `npm run up` and `npm run destroy` against a stand-in `pulumi` (and `curl`) on PATH that record
// what they were asked, so the scripts' decisions are tested without a CLI or the network.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

const root = path.join(__dirname, "..");

interface Stubs {
    dir: string;
    log: string;
}

/** A fake `pulumi` that logs each call (with the backend it saw) and a fake `curl`. */
function makeStubs(options: { loggedIn: boolean; allowedCidrs: string; publicIp: string }): Stubs {
    const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-up-"));
    const log = path.join(dir, "calls.log");
    const pulumi = `#!/usr/bin/env bash
echo "pulumi $* | backend=\${PULUMI_BACKEND_URL:-none}" >> "${log}"
case "$1 $2" in
  "whoami "*) ${options.loggedIn ? 'echo someone; exit 0' : "exit 1"} ;;
  "config get") ${options.allowedCidrs ? `echo '${options.allowedCidrs}'; exit 0` : "exit 1"} ;;
esac
exit 0
`;
    const curl = `#!/usr/bin/env bash
echo "curl $*" >> "${log}"
${options.publicIp ? `echo "${options.publicIp}"` : "exit 6"}
`;
    for (const [name, text] of [["pulumi", pulumi], ["curl", curl]]) {
        writeFileSync(path.join(dir, name), text);
        chmodSync(path.join(dir, name), 0o755);
    }
    return { dir, log };
}

function run(script: string, stubs: Stubs, args: string[] = []) {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${stubs.dir}:/usr/bin:/bin` };
    delete env.PULUMI_BACKEND_URL;
    const result = spawnSync("bash", [path.join(root, "scripts", script), ...args], { env, encoding: "utf8" });
    let calls: string[] = [];
    try {
        calls = readFileSync(stubs.log, "utf8").trim().split("\n");
    } catch {
        // no call logged
    }
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
}

describe("npm run up / destroy", () => {
    const made: Stubs[] = [];
    const stubs = (options: Parameters<typeof makeStubs>[0]) => {
        const created = makeStubs(options);
        made.push(created);
        return created;
    };
    after(() => made.forEach((s) => rmSync(s.dir, { recursive: true, force: true })));

    it("allows only the detected public address when allowedCidrs is unset, says so, then runs pulumi up", () => {
        const result = run("up", stubs({ loggedIn: false, allowedCidrs: "", publicIp: "198.51.100.23" }), ["--yes"]);
        assert.strictEqual(result.status, 0, result.stderr);
        assert.ok(result.calls.includes("pulumi stack select --create dev | backend=file://~"), result.calls.join("\n"));
        assert.ok(result.calls.includes("pulumi config set --path allowedCidrs[0] 198.51.100.23/32 | backend=file://~"));
        assert.strictEqual(result.calls[result.calls.length - 1], "pulumi up --yes | backend=file://~");
        assert.match(result.stdout, /allowing only your current public address 198\.51\.100\.23\/32/);
        assert.match(result.stdout, /keeping state locally in ~\/\.pulumi/);
    });

    it("leaves a configured allowedCidrs alone and asks no one for the address", () => {
        const result = run("up", stubs({ loggedIn: false, allowedCidrs: '["10.0.0.0/8"]', publicIp: "198.51.100.23" }));
        assert.strictEqual(result.status, 0, result.stderr);
        assert.ok(!result.calls.some((call) => call.startsWith("curl")));
        assert.ok(!result.calls.some((call) => call.includes("config set")));
        assert.ok(result.calls.some((call) => call.startsWith("pulumi up ")));
    });

    it("uses the backend the user is logged in to", () => {
        const result = run("up", stubs({ loggedIn: true, allowedCidrs: '["10.0.0.0/8"]', publicIp: "" }));
        assert.strictEqual(result.status, 0, result.stderr);
        assert.ok(result.calls.every((call) => call.endsWith("backend=none")), result.calls.join("\n"));
    });

    it("stops with instructions when the address cannot be detected", () => {
        const result = run("up", stubs({ loggedIn: false, allowedCidrs: "[]", publicIp: "" }));
        assert.strictEqual(result.status, 1);
        assert.match(result.stderr, /could not be detected/);
        assert.match(result.stderr, /pulumi config set --path 'allowedCidrs\[0\]'/);
        assert.ok(!result.calls.some((call) => call.startsWith("pulumi up")));
    });

    it("destroy selects the stack and runs pulumi destroy with the given arguments", () => {
        const result = run("destroy", stubs({ loggedIn: false, allowedCidrs: "", publicIp: "" }), ["--yes"]);
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(result.calls.filter((call) => !call.startsWith("pulumi whoami")), [
            "pulumi stack select --create dev | backend=file://~",
            "pulumi destroy --yes | backend=file://~",
        ]);
    });
});
