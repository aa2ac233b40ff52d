// The machine contract is written once: the scripts' copy is generated from it and kept current,
// and no product file spells one of its facts a second time.
import { strict as assert } from "assert";
import { readdirSync, readFileSync, statSync, writeFileSync } from "fs";
import * as path from "path";

import { BUNDLE_TAG, CAPACITY_ENV, IDLE_CONDITIONS, IDLE_RUNTIME_DIR, INSTANCE_PATHS, machineShell, START_ENV, STOP_REASON_TAG } from "../components/contract";

const REPO = path.join(__dirname, "..");
const MACHINE_SH = path.join(REPO, "scripts", "lib", "machine.sh");
/** Where the facts may be written: the contract, and the file generated from it. */
const THE_SOURCES = ["components/contract.ts", "scripts/lib/machine.sh"];

function productFiles(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
        const full = path.join(dir, name);
        return statSync(full).isDirectory() ? productFiles(full) : [full];
    });
}

describe("the machine contract", () => {
    it("scripts/lib/machine.sh is generated from components/contract.ts and current", () => {
        if (process.env.GPU_NOTEBOOK_RECORD === "1") {
            writeFileSync(MACHINE_SH, machineShell());
        }
        assert.equal(readFileSync(MACHINE_SH, "utf8"), machineShell(),
            "regenerate: GPU_NOTEBOOK_RECORD=1 npx mocha --no-config -r ts-node/register/transpile-only --extension ts test/contract.test.ts");
    });

    it("no product file repeats a path, a directory, a tag name or a variable name of the contract", () => {
        // IDLE_STOP_TAG is left out: it is also the config key's name, which config, docs and messages spell.
        // The runtime directory is a fact where a unit names it; elsewhere its words are a log prefix.
        const facts = [...Object.values(INSTANCE_PATHS), `RuntimeDirectory=${IDLE_RUNTIME_DIR}`, BUNDLE_TAG, ...Object.values(CAPACITY_ENV), START_ENV, STOP_REASON_TAG];
        const files = [...productFiles(path.join(REPO, "components")), ...productFiles(path.join(REPO, "scripts")), path.join(REPO, "index.ts")]
            .filter((file) => !THE_SOURCES.includes(path.relative(REPO, file)));
        const copies: string[] = [];
        for (const file of files) {
            const text = readFileSync(file, "utf8");
            for (const fact of facts) {
                // A fact that is a prefix of a longer one (the run dir of a file in it) counts once, as the longer one.
                const longer = facts.filter((other) => other !== fact && other.startsWith(fact));
                const stripped = longer.reduce((rest, other) => rest.split(other).join(""), text);
                if (new RegExp(`(^|[^\\w/.-])${fact.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^\\w-])`).test(stripped)) {
                    copies.push(`${path.relative(REPO, file)}: ${fact}`);
                }
            }
        }
        assert.deepEqual(copies, [], "each fact lives in components/contract.ts only");
    });

    it("no script sets or spells again a fact that machine.sh gives it", () => {
        const names = [...machineShell().matchAll(/^(\w+)=/gm)].map((match) => match[1]);
        const scripts = productFiles(path.join(REPO, "scripts")).filter((file) => file !== MACHINE_SH && !/\.(ts|js)$/.test(file));
        const copies = scripts.flatMap((file) => readFileSync(file, "utf8").split("\n").flatMap((line, index) => {
            const where = `${path.relative(REPO, file)}:${index + 1}: ${line.trim()}`;
            const sets = names.some((name) => new RegExp(`(^|[\\s;])${name}=`).test(line));
            // sshd's port as a bare word: an argument or a default (:-22).
            const port = !/^\s*#/.test(line) && /(^|[\s:"'-])22(["'}\s]|$)/.test(line);
            return sets || port ? [where] : [];
        }));
        assert.deepEqual(copies, [], "source scripts/lib/machine.sh and use its names");
    });

    // The machine's rule is its watcher's code; each place that describes it to people names every
    // activity it counts. A new condition in IDLE_CONDITIONS needs its word here, then in each place.
    const ACTIVITY_WORDS: Record<(typeof IDLE_CONDITIONS)[number], RegExp> = {
        "a job running": /\bjobs?\b/i,
        "a Jupyter kernel busy or recently used": /\bkernels?\b/i,
        "the GPU busy": /\bGPU\b/,
        "an SSH connection in use": /\bSSH\b/,
        "the notebook user's processes using CPU": /\bCPU\b|\bcore\b/,
    };
    const descriptions: [string, (text: string) => string][] = [
        ["Pulumi.yaml", (text) => /^ {2}idleStopMinutes:\n(?: {4}.*\n)+/m.exec(text)?.[0] ?? ""],
        ["docs/configuration.md", (text) => /^\| `idleStopMinutes` .*$/m.exec(text)?.[0] ?? ""],
        ["docs/costs.md", (text) => /^## Idle stop\n[\s\S]*?(?=\nThe instance's)/m.exec(text)?.[0] ?? ""],
        ["README.md", (text) => /^#### What keeps the machine up\n[\s\S]*?(?=\n#)/m.exec(text)?.[0] ?? ""],
    ];
    for (const [file, section] of descriptions) {
        it(`${file} describes idle stop with every activity the watcher counts`, () => {
            assert.deepEqual(Object.keys(ACTIVITY_WORDS), [...IDLE_CONDITIONS]);
            const text = section(readFileSync(path.join(REPO, file), "utf8"));
            assert.ok(text.length > 40, `${file}'s description of idle stop is found`);
            const missing = IDLE_CONDITIONS.filter((condition) => !ACTIVITY_WORDS[condition].test(text));
            assert.deepEqual(missing, [], `${file} leaves out: ${missing.join("; ")}\n${text}`);
        });
    }
});
