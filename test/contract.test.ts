// The machine contract is written once: the scripts' copy is generated from it and kept current,
// and no product file spells one of its facts a second time.
import { strict as assert } from "assert";
import { readdirSync, readFileSync, statSync, writeFileSync } from "fs";
import * as path from "path";

import { BUNDLE_TAG, IDLE_RUNTIME_DIR, INSTANCE_PATHS, machineShell } from "../components/contract";

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

    it("no product file repeats a path, a directory or a tag name of the contract", () => {
        // IDLE_STOP_TAG is left out: it is also the config key's name, which config, docs and messages spell.
        // The runtime directory is a fact where a unit names it; elsewhere its words are a log prefix.
        const facts = [...Object.values(INSTANCE_PATHS), `RuntimeDirectory=${IDLE_RUNTIME_DIR}`, BUNDLE_TAG];
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
});
