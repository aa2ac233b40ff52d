// The decisions inside the scripts' readers (scripts/lib/stack-output.js for what is deployed,
// scripts/stack-config.ts for what is configured), as table tests: which notebook a name picks,
// which setting applies to a notebook of a fleet, and what npm run notebooks says of both.
import * as assert from "assert";
import { execFileSync } from "child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { parse } from "yaml";

import { CONFIG_NAMESPACE, DEFAULTS } from "../components/config";
import { SAMPLE_PRICES } from "../components/offline/mock-cloud";
import { chooseNotebook, selectNotebook } from "../scripts/lib/stack-outputs";
import { notebooksTable } from "../scripts/lib/notebooks-table";
import { ConfigListing, ConfigView } from "../scripts/lib/config-view";

/**
 * The listing `pulumi config --json --show-secrets` prints for a config given as plain values
 * (keys without the namespace): scalars as text (top-level config is always text), lists and
 * objects also parsed in objectValue.
 */
function listingOf(config: Record<string, unknown>): ConfigListing {
    return Object.fromEntries(Object.entries(config).map(([key, value]) => [`${CONFIG_NAMESPACE}:${key}`,
        typeof value === "object" && value !== null
            ? { value: JSON.stringify(value), objectValue: value, secret: false }
            : { value: String(value), secret: false }]));
}

const configOf = (config: Record<string, unknown>) => new ConfigView(listingOf(config));

describe("scripts/lib: choosing a notebook", () => {
    const FLEET = ["alice", "bob"];
    const cases: {
        says: string; names: string[] | null; requested: string; source?: "deployed" | "configured"; option?: string;
        gives?: string; refuses?: RegExp;
    }[] = [
        { says: "a single notebook needs no name", names: null, requested: "", gives: "" },
        { says: "a single notebook deployed refuses a name, saying what is deployed, not what the config holds", names: null, requested: "alice",
            refuses: /^--notebook alice: stack dev has one notebook deployed, which has no name \(its outputs have no notebooks\), so there is none to choose; run without --notebook \(a notebook added to the config is deployed by npm run up\)$/ },
        { says: "a config without notebooks refuses a name, saying it is the config", names: null, requested: "alice", source: "configured",
            refuses: /^--notebook alice: the config of stack dev names no notebooks \(a stack of one notebook, without a name\), so there is none to choose; run without --notebook$/ },
        { says: "a fleet takes a name it has", names: FLEET, requested: "bob", gives: "bob" },
        { says: "a fleet refuses no name, listing its notebooks deployed", names: FLEET, requested: "",
            refuses: /^stack dev has 2 notebooks deployed \(alice, bob\); choose one with --notebook NAME or GPU_NOTEBOOK_NAME=NAME/ },
        { says: "a fleet's config refuses no name, listing the config's notebooks", names: FLEET, requested: "", source: "configured",
            refuses: /^the config of stack dev has 2 notebooks \(alice, bob\); choose one with --notebook NAME/ },
        { says: "a fleet refuses a name it has not deployed, listing those deployed", names: FLEET, requested: "carol",
            refuses: /^--notebook carol: stack dev has no notebook carol deployed; its deployed notebooks: alice, bob \(one added to the config is deployed by npm run up\)$/ },
        { says: "a fleet's config refuses a name it lacks, listing its notebooks", names: FLEET, requested: "carol", source: "configured",
            refuses: /^--notebook carol: the config of stack dev has no notebook carol; its notebooks: alice, bob$/ },
        { says: "names match exactly, not by case", names: FLEET, requested: "Alice", option: "GPU_NOTEBOOK_NAME",
            refuses: /^GPU_NOTEBOOK_NAME Alice: stack dev has no notebook Alice deployed/ },
        { says: "a fleet with no entries says so", names: [], requested: "alice", source: "configured", refuses: /its notebooks: none yet$/ },
    ];
    for (const { says, names, requested, source = "deployed", option = "--notebook", gives, refuses } of cases) {
        it(says, () => {
            const choose = () => chooseNotebook(names, requested, option, "dev", source);
            if (refuses) {
                assert.throws(choose, { message: refuses });
            } else {
                assert.strictEqual(choose(), gives);
            }
        });
    }

    it("presents a fleet notebook's public and secret outputs under the names of a single notebook", () => {
        const fleet = {
            notebooks: { alice: { publicIp: "203.0.113.1", sshUser: "ubuntu" }, bob: { publicIp: "203.0.113.2", sshUser: "ubuntu" } },
            notebookSecrets: { alice: { sshPrivateKey: "alice-key", notebookPassword: "alice-pw" }, bob: { sshPrivateKey: "bob-key", notebookPassword: "bob-pw" } },
            estimatedHourlyCostUsd: 1.052,
        };
        assert.deepStrictEqual(selectNotebook(fleet, "bob", "--notebook", "dev"), {
            publicIp: "203.0.113.2", sshUser: "ubuntu", sshPrivateKey: "bob-key", notebookPassword: "bob-pw", notebookName: "bob",
        });
        const single = { publicIp: "203.0.113.9", estimatedHourlyCostUsd: 0.526 };
        assert.deepStrictEqual(selectNotebook(single, "", "GPU_NOTEBOOK_NAME", "dev"), single);
    });
});

describe("scripts/stack-config.ts: a notebook's settings in the stack config, read by the deploy's parser", () => {
    it("takes a notebook's own running over the top-level one, and the default over neither", () => {
        const config = configOf({ running: "false", notebooks: { alice: { running: true }, bob: {} } });
        assert.strictEqual(config.notebook("alice")?.settings.running, true);
        assert.strictEqual(config.notebook("bob")?.settings.running, false, "bob inherits the top-level false");
        assert.strictEqual(configOf({ running: "false" }).notebook("")?.settings.running, false, "the top level itself");
        assert.strictEqual(configOf({ notebooks: { bob: {} } }).notebook("bob")?.settings.running, DEFAULTS.running);
    });

    it("names the notebooks whose own entry sets a key, and no others", () => {
        const config = configOf({ running: "true", notebooks: { alice: {}, bob: { running: true }, carol: { running: null } } });
        assert.deepStrictEqual(config.notebooks.filter((notebook) => notebook.ownKeys.has("running")).map((notebook) => notebook.name), ["bob"]);
    });

    it("says where a notebook's allowedCidrs come from, which decides how allow-my-ip changes them", () => {
        const config = configOf({
            allowedCidrs: ["10.0.0.0/8", "192.0.2.0/24"],
            notebooks: { own: { allowedCidrs: ["198.51.100.7/32"] }, text: { allowedCidrs: "198.51.100.7/32, 203.0.113.0/24" }, heir: {} },
        });
        assert.deepStrictEqual(config.allowedCidrs("own"), { origin: "list", entries: ["198.51.100.7/32"] });
        assert.deepStrictEqual(config.allowedCidrs("text"), { origin: "text", entries: ["198.51.100.7/32", "203.0.113.0/24"] });
        assert.deepStrictEqual(config.allowedCidrs("heir"), { origin: "inherited", entries: ["10.0.0.0/8", "192.0.2.0/24"] });
        assert.deepStrictEqual(configOf({ notebooks: { heir: {} } }).allowedCidrs("heir"), { origin: "unset", entries: [] });
        assert.deepStrictEqual(configOf({ allowedCidrs: ["10.0.0.0/8"] }).allowedCidrs(""), { origin: "list", entries: ["10.0.0.0/8"] });
        assert.deepStrictEqual(configOf({ allowedCidrs: " 10.0.0.0/8\t192.0.2.0/24,," }).allowedCidrs(""),
            { origin: "text", entries: ["10.0.0.0/8", "192.0.2.0/24"] });
        assert.deepStrictEqual(configOf({ allowedCidrs: "" }).allowedCidrs(""), { origin: "unset", entries: [] });
    });

    it("refuses, in the deploy's words, a list of networks the deploy refuses, rather than reading it another way", () => {
        assert.throws(() => configOf({ allowedCidrs: ["198.51.100.7/32", 5] }).allowedCidrs(""),
            { message: /^gpu-notebook:allowedCidrs = "\[\\"198\.51\.100\.7\/32\\",5\]" is not accepted: a list of strings/ });
        assert.throws(() => configOf({ notebooks: { alice: { allowedCidrs: ["198.51.100.7/32", 5] } } }).allowedCidrs("alice"),
            { message: /^gpu-notebook:notebooks\.alice\.allowedCidrs = .* is not accepted: a list of strings/ });
    });

    it("tells a single-notebook stack from a fleet by config notebooks", () => {
        assert.strictEqual(configOf({ allowedCidrs: ["10.0.0.0/8"] }).names(), null);
        assert.deepStrictEqual(configOf({ notebooks: { bob: {}, alice: {} } }).names(), ["alice", "bob"]);
    });

    it("refuses, saying why, a notebooks value the CLI hid because it holds a secret", () => {
        assert.throws(() => new ConfigView({ [`${CONFIG_NAMESPACE}:notebooks`]: { secret: true } }),
            { message: /gpu-notebook:notebooks holds a secret and was read without --show-secrets/ });
    });
});

describe("scripts/notebooks-table.ts: what is deployed beside what is configured", () => {
    const deployedOne = { instanceType: "g4dn.xlarge", running: true, estimatedHourlyCostUsd: 0.526, notebookUrl: "https://203.0.113.9:8888/" };
    const CLASS = { allowedCidrs: ["198.51.100.0/24"], notebooks: { alice: {}, bob: {}, carol: { instanceType: "g5.xlarge" } } };

    it("a single notebook deployed, with a class new in the config: one notebook deployed, the class not yet", () => {
        const out = notebooksTable("dev", deployedOne, configOf(CLASS));
        assert.match(out, /^Stack dev: one notebook deployed, without a name/);
        assert.doesNotMatch(out, /config has no notebooks/);
        assert.match(out, /^-\s+g4dn\.xlarge\s+running, removed from the config\s+\$0\.526/m);
        assert.match(out, /In the config, not deployed yet: alice, bob, carol\. npm run up creates them in place of the notebook without a name/);
    });

    it("shows the running setting deployed, and a stop configured but not applied as such", () => {
        const out = notebooksTable("dev", deployedOne, configOf({ running: "false" }));
        assert.match(out, /^-\s+g4dn\.xlarge\s+running; stopped after npm run up\s+/m);
        assert.doesNotMatch(out, /not deployed yet/);
    });

    it("a class deployed, with the notebooks gone from the config: says npm run up replaces them", () => {
        const outputs = {
            notebooks: { alice: { ...deployedOne, running: false }, bob: deployedOne },
            estimatedHourlyCostUsd: 1.052,
        };
        const out = notebooksTable("dev", outputs, configOf({ allowedCidrs: ["198.51.100.0/24"] }));
        assert.match(out, /^Stack dev: 2 notebooks deployed\.$/m);
        assert.match(out, /^alice\s+g4dn\.xlarge\s+stopped, removed from the config/m);
        assert.match(out, /Together: \$1\.052 per hour while all run; \$0\.526 per hour for the 1 running\./);
        assert.match(out, /The config names no notebooks: npm run up replaces these by one notebook without a name\./);
    });
});

describe("scripts/lib: the node helpers", () => {
    it("are each type-checked by tsc (// @ts-check, with tsconfig's allowJs), so none drifts from what it reads", () => {
        const tsconfig = JSON.parse(readFileSync(path.join(__dirname, "..", "tsconfig.json"), "utf8"));
        assert.strictEqual(tsconfig.compilerOptions.allowJs, true);
        assert.ok(tsconfig.include.includes("scripts/lib/*.js"), tsconfig.include.join(", "));
        const lib = path.join(__dirname, "..", "scripts", "lib");
        const helpers = readdirSync(lib).filter((file) => file.endsWith(".js"));
        assert.ok(helpers.length > 0);
        for (const file of helpers) {
            assert.match(readFileSync(path.join(lib, file), "utf8"), /^\/\/ @ts-check$/m, file);
        }
    });
});

describe("README: a notebook per person", () => {
    const section = readFileSync(path.join(__dirname, "..", "README.md"), "utf8").split("## A notebook per person")[1] ?? "";

    it("has a class example the scripts read as three notebooks, carol with networks of her own", () => {
        const yaml = /```yaml\n([\s\S]*?)```/.exec(section);
        assert.ok(yaml, "the section shows a Pulumi.<stack>.yaml");
        const config = Object.fromEntries(Object.entries(parse(yaml[1]).config as Record<string, unknown>)
            .filter(([key]) => key.startsWith(`${CONFIG_NAMESPACE}:`))
            .map(([key, value]) => [key.slice(CONFIG_NAMESPACE.length + 1), value]));
        const stack = configOf(config);
        assert.deepStrictEqual(stack.names(), ["alice", "bob", "carol"]);
        assert.strictEqual(stack.allowedCidrs("alice").origin, "inherited");
        assert.strictEqual(stack.allowedCidrs("carol").origin, "list");
    });

    it("prices the class with the hourly prices the offline plan uses", () => {
        const prices = SAMPLE_PRICES["us-east-1"];
        assert.ok(section.includes(`2 × \`g4dn.xlarge\` at $${prices["g4dn.xlarge"].onDemand}`));
        assert.ok(section.includes(`\`g5.xlarge\` is $${prices["g5.xlarge"].onDemand} per hour`));
        const instances = 2 * prices["g4dn.xlarge"].onDemand + prices["g5.xlarge"].onDemand;
        assert.ok(section.includes(`63 h × $${instances.toFixed(3)} = $${(63 * instances).toFixed(2)}`));
    });
});

describe("scripts/lib/ts-require.js: the scripts' transpile cache", () => {
    it("runs the code a .ts file holds now: an edit at the same path is not served from the cache", () => {
        const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-ts-require-"));
        try {
            const script = path.join(dir, "answer.ts");
            const run = () => execFileSync(process.execPath, ["--require", path.join(__dirname, "..", "scripts", "lib", "ts-require.js"), script],
                { encoding: "utf8" }).trim();
            writeFileSync(script, "const answer: string = \"first\";\nconsole.log(answer);\n");
            assert.strictEqual(run(), "first");
            writeFileSync(script, "const answer: string = \"second\";\nconsole.log(answer);\n");
            assert.strictEqual(run(), "second");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
