// Every shell script the product has passes shellcheck: the user's scripts (scripts/, scripts/lib/),
// the boot scripts (components/boot/) and any shell script the machine gets (user data and boot bundle) that is not one
// of those verbatim. Found by name or first lines, not by a list that can go stale. Each script is
// checked once, in parallel, and a pass is remembered by content (test/support/shellcheck.ts), so
// the test waits on no clock: a loaded machine makes it slower, never failed.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { runShared, VALID_CONFIG } from "./support/program";
import { shellcheckEach, verdictKey } from "./support/shellcheck";
import { requireCommands } from "./support/system";
import { machineFiles } from "./support/user-data";

const REPO = path.join(__dirname, "..");
const SHELL_SCRIPT_DIRS = ["components/boot", "scripts"];
const CACHE = path.join(REPO, "node_modules", ".cache", "gpu-notebook-shellcheck");

function isShellScript(text: string, name: string): boolean {
    const head = text.split("\n", 5);
    return /\.(sh|bash)$/.test(name) || /^#!.*\b(ba|da|k)?sh\b/.test(head[0]) || head.some((line) => /^# shellcheck shell=/.test(line));
}

function filesBelow(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(dir, entry.name);
        return entry.isDirectory() ? filesBelow(full) : entry.isFile() ? [full] : [];
    });
}

describe("shell scripts", () => {
    it("every one the product has or writes to the instance passes shellcheck, following what it sources", async function () {
        // No clock: shellcheck always ends, and how long it takes depends on the machine's load.
        this.timeout(0);
        requireCommands(this, "shellcheck");
        const shipped = SHELL_SCRIPT_DIRS.flatMap((dir) => filesBelow(path.join(REPO, dir)))
            .filter((file) => isShellScript(readFileSync(file, "utf8"), file));
        const relative = shipped.map((file) => path.relative(REPO, file));
        for (const known of ["components/boot/prepare-jupyter.sh", "components/boot/mount-data-volume.sh", "scripts/up", "scripts/power",
            "scripts/lib/pulumi.sh"]) {
            assert.ok(relative.includes(known), `${known} is found among ${relative.join(", ")}`);
        }
        const shippedTexts = new Set(shipped.map((file) => readFileSync(file, "utf8")));
        const { cloud } = await runShared(VALID_CONFIG);
        const files = machineFiles(cloud, cloud.one("aws:ec2/instance:Instance"));
        const written = files.filter((file) => isShellScript(file.content, file.path));
        assert.ok(written.length > 0, "the machine gets shell scripts (prepare-jupyter.sh at least)");
        // The shell commands the systemd units run (`/bin/sh -c '…'`) are shell scripts too.
        const unitCommands = files.filter((file) => file.path.startsWith("/etc/systemd/system/"))
            .flatMap((file) => [...file.content.matchAll(/^Exec\w+=[+!-]*\/bin\/sh -c '([^']+)'$/gm)]
                .map((match, index) => ({ path: `${path.basename(file.path)}-${index}.sh`, content: `#!/bin/sh\n${match[1]}\n` })));
        assert.ok(unitCommands.length > 0, "a unit runs a shell command (the token's ExecStartPre at least)");
        const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-shellcheck-"));
        try {
            const rendered = [...written.filter((file) => !shippedTexts.has(file.content)), ...unitCommands].map((file, index) => {
                const copy = path.join(dir, `${index}-${path.basename(file.path)}`);
                writeFileSync(copy, file.content);
                return copy;
            });
            const { failures } = await shellcheckEach([...relative, ...rendered], REPO, CACHE);
            assert.deepStrictEqual(failures, []);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("shellcheck's remembered passes", () => {
    let dir: string;
    beforeEach(() => {
        dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-shellcheck-cache-"));
        mkdirSync(path.join(dir, "lib"));
        writeFileSync(path.join(dir, "lib", "inner.sh"), "# shellcheck shell=bash\ninner=1\n");
        writeFileSync(path.join(dir, "lib", "outer.sh"), "# shellcheck shell=bash\n# shellcheck source=lib/inner.sh\n. \"$(dirname \"$0\")/inner.sh\"\n");
        writeFileSync(path.join(dir, "script"), "#!/usr/bin/env bash\n. lib/outer.sh\necho \"$inner\"\n");
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("are forgotten when a file the script sources changes, even through another, or shellcheck's version", () => {
        const key = (version = "0.9.0") => verdictKey("script", dir, version);
        const first = key();
        assert.strictEqual(key(), first);
        writeFileSync(path.join(dir, "lib", "inner.sh"), "# shellcheck shell=bash\ninner=2\n");
        const edited = key();
        assert.notStrictEqual(edited, first, "an edit two sources deep");
        assert.notStrictEqual(key("0.10.0"), edited, "another shellcheck");
        rmSync(path.join(dir, "lib", "inner.sh"));
        assert.notStrictEqual(key(), edited, "a source gone");
    });

    it("are kept only for a pass: a failing script is checked again and fails again", async function () {
        this.timeout(0);
        requireCommands(this, "shellcheck");
        writeFileSync(path.join(dir, "bad.sh"), "#!/bin/sh\necho $undefined_variable_here\n");
        const cache = path.join(dir, "cache");
        for (const round of [1, 2]) {
            const result = await shellcheckEach(["script", "bad.sh"], dir, cache);
            assert.deepStrictEqual(result.failures.map((failure) => failure.file), ["bad.sh"], `round ${round}`);
            assert.match(result.failures[0].output, /SC2154|SC2086/);
            assert.strictEqual(result.checked, round === 1 ? 2 : 1, "the passing script is remembered");
        }
    });
});

describe("scripts/lib: each library stands alone", () => {
    const LIB = path.join(REPO, "scripts", "lib");
    const libraries = readdirSync(LIB).filter((name) => name.endsWith(".sh"));
    const definedIn = (text: string) => [...text.matchAll(/^([a-z_]+)\(\) \{/gm)].map((match) => match[1]);
    const every = new Set(libraries.flatMap((name) => definedIn(readFileSync(path.join(LIB, name), "utf8"))));

    for (const library of libraries) {
        it(`${library}, sourced alone, defines every library function it calls`, () => {
            const code = readFileSync(path.join(LIB, library), "utf8").split("\n").filter((line) => !/^\s*#/.test(line)).join("\n");
            const called = [...every].filter((name) => new RegExp(`(^|[\\s;|&({\`$])${name}(\\s|;|\\)|$)`, "m").test(code));
            const result = spawnSync("bash", ["-c", `. "$1" && for f in "\${@:2}"; do declare -F "$f" >/dev/null || echo "$f"; done`,
                "bash", path.join(LIB, library), ...called], { encoding: "utf8", cwd: "/" });
            assert.strictEqual(result.status, 0, result.stderr);
            assert.strictEqual(result.stdout, "", `${library} calls, without defining or sourcing them: ${result.stdout}`);
        });
    }
});
