// The decisions inside the scripts' readers (scripts/lib/stack-output.js, stack-config.js), as
// table tests: which notebook a name picks, and which setting applies to a notebook of a fleet.
import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";

import { CONFIG_NAMESPACE, DEFAULTS } from "../components/config";
import { SAMPLE_PRICES } from "../components/offline/mock-cloud";
import { configListing } from "./support/fake-pulumi";

type Outputs = Record<string, unknown>;

interface StackOutputModule {
    chooseNotebook(names: string[] | null, requested: string, option: string, stack: string): string;
    selectNotebook(outputs: Outputs, requested: string, option: string, stack: string): Outputs;
}

interface StackConfigInstance {
    running(name: string): boolean;
    idleStopMinutes(name: string): number;
    allowedCidrs(name: string): { origin: string; entries: string[] };
    notebookNames(): string[] | null;
}

interface StackConfigModule {
    NAMESPACE: string;
    DEFAULTS: { running: boolean; idleStopMinutes: number };
    StackConfig: new (listing: unknown) => StackConfigInstance;
}

// Plain JavaScript that the scripts run with node, so required as it is and typed here.
const stackOutput = require("../scripts/lib/stack-output") as StackOutputModule;
const stackConfig = require("../scripts/lib/stack-config") as StackConfigModule;

const configOf = (config: Record<string, unknown>, secretKeys: string[] = []) =>
    new stackConfig.StackConfig(configListing(config, secretKeys));

describe("scripts/lib: choosing a notebook", () => {
    const FLEET = ["alice", "bob"];
    const cases: { says: string; names: string[] | null; requested: string; option?: string; gives?: string; refuses?: RegExp }[] = [
        { says: "a single notebook needs no name", names: null, requested: "", gives: "" },
        { says: "a single notebook refuses a name", names: null, requested: "alice",
            refuses: /^--notebook alice: stack dev has a single notebook \(its config has no notebooks\), so there is none to choose; run without --notebook$/ },
        { says: "a fleet takes a name it has", names: FLEET, requested: "bob", gives: "bob" },
        { says: "a fleet refuses no name, listing its notebooks", names: FLEET, requested: "",
            refuses: /^stack dev has 2 notebooks \(alice, bob\); choose one with --notebook NAME or GPU_NOTEBOOK_NAME=NAME/ },
        { says: "a fleet refuses a name it lacks, listing its notebooks", names: FLEET, requested: "carol",
            refuses: /^--notebook carol: stack dev has no notebook carol; its notebooks: alice, bob$/ },
        { says: "names match exactly, not by case", names: FLEET, requested: "Alice", option: "GPU_NOTEBOOK_NAME",
            refuses: /^GPU_NOTEBOOK_NAME Alice: stack dev has no notebook Alice/ },
        { says: "a fleet with no entries says so", names: [], requested: "alice", refuses: /its notebooks: none yet$/ },
    ];
    for (const { says, names, requested, option = "--notebook", gives, refuses } of cases) {
        it(says, () => {
            const choose = () => stackOutput.chooseNotebook(names, requested, option, "dev");
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
        assert.deepStrictEqual(stackOutput.selectNotebook(fleet, "bob", "--notebook", "dev"), {
            publicIp: "203.0.113.2", sshUser: "ubuntu", sshPrivateKey: "bob-key", notebookPassword: "bob-pw", notebookName: "bob",
        });
        const single = { publicIp: "203.0.113.9", estimatedHourlyCostUsd: 0.526 };
        assert.deepStrictEqual(stackOutput.selectNotebook(single, "", "GPU_NOTEBOOK_NAME", "dev"), single);
    });
});

describe("scripts/lib: a notebook's settings in the stack config", () => {
    it("reads the project's namespace and the program's defaults", () => {
        assert.strictEqual(stackConfig.NAMESPACE, CONFIG_NAMESPACE);
        assert.deepStrictEqual(stackConfig.DEFAULTS, { running: DEFAULTS.running, idleStopMinutes: DEFAULTS.idleStopMinutes });
    });

    it("takes a notebook's own running over the top-level one, and the default over neither", () => {
        const config = configOf({ running: "false", notebooks: { alice: { running: true }, bob: {} } });
        assert.strictEqual(config.running("alice"), true);
        assert.strictEqual(config.running("bob"), false, "bob inherits the top-level false");
        assert.strictEqual(config.running(""), false, "the top level itself");
        assert.strictEqual(configOf({ notebooks: { bob: {} } }).running("bob"), DEFAULTS.running);
    });

    it("takes a notebook's own idleStopMinutes over the top-level one, 0 included", () => {
        const config = configOf({ idleStopMinutes: "45", notebooks: { alice: { idleStopMinutes: 0 }, bob: {} } });
        assert.strictEqual(config.idleStopMinutes("alice"), 0);
        assert.strictEqual(config.idleStopMinutes("bob"), 45);
        assert.strictEqual(configOf({}).idleStopMinutes(""), DEFAULTS.idleStopMinutes);
    });

    it("says where a notebook's allowedCidrs come from, which decides how allow-my-ip changes them", () => {
        const config = configOf({
            allowedCidrs: ["10.0.0.0/8", "192.0.2.0/24"],
            notebooks: { own: { allowedCidrs: ["198.51.100.7/32"] }, text: { allowedCidrs: "198.51.100.7/32, 203.0.113.0/24" }, heir: {} },
        });
        assert.deepStrictEqual(config.allowedCidrs("own"), { origin: "list", entries: ["198.51.100.7/32"] });
        assert.deepStrictEqual(config.allowedCidrs("text"), { origin: "text", entries: ["198.51.100.7/32", "203.0.113.0/24"] });
        assert.deepStrictEqual(config.allowedCidrs("heir"), { origin: "inherited", entries: ["10.0.0.0/8", "192.0.2.0/24"] });
        assert.deepStrictEqual(config.allowedCidrs(""), { origin: "list", entries: ["10.0.0.0/8", "192.0.2.0/24"] });
        assert.deepStrictEqual(configOf({ notebooks: { heir: {} } }).allowedCidrs("heir"), { origin: "unset", entries: [] });
        assert.deepStrictEqual(configOf({ allowedCidrs: "" }).allowedCidrs(""), { origin: "unset", entries: [] });
    });

    it("tells a single-notebook stack from a fleet by config notebooks", () => {
        assert.strictEqual(configOf({ allowedCidrs: ["10.0.0.0/8"] }).notebookNames(), null);
        assert.deepStrictEqual(configOf({ notebooks: { bob: {}, alice: {} } }).notebookNames(), ["alice", "bob"]);
    });

    it("refuses, saying why, a notebooks value the CLI hid because it holds a secret", () => {
        const hidden = new stackConfig.StackConfig({ [`${CONFIG_NAMESPACE}:notebooks`]: { secret: true } });
        assert.throws(() => hidden.notebookNames(), { message: /gpu-notebook:notebooks holds a secret and was read without --show-secrets/ });
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
        assert.deepStrictEqual(stack.notebookNames(), ["alice", "bob", "carol"]);
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
