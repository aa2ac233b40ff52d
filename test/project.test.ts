// The project's own files agree with the code: Pulumi.yaml documents every key with the code's
// defaults, the README keeps its two commands and its links, the docs list every key, the figures
// they quote are the code's, and CI runs the README's test command.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import { existsSync, readdirSync, readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";

import { CONFIG_KEYS, DEFAULTS, parseConfig } from "../components/config";
import { SPOT_TYPICAL_SAVING_PERCENT } from "../components/spot";
import { DEFAULT_REGION } from "../scripts/lib/stack-file";
import { SAMPLE_PRICES } from "../components/offline/mock-cloud";

const root = path.join(__dirname, "..");
const read = (name: string) => readFileSync(path.join(root, name), "utf8");

describe("project files", () => {
    const project = parse(read("Pulumi.yaml"));

    it("Pulumi.yaml is the gpu-notebook project on the nodejs runtime", () => {
        assert.strictEqual(project.name, "gpu-notebook");
        assert.strictEqual(project.runtime.name ?? project.runtime, "nodejs");
    });

    // `notebooks` is an object, a type Pulumi's project config cannot declare: it is declared without
    // one, which the CLI hands to the program unchecked (only a typed key's value is checked). The
    // lists instanceTypes and notifyOn too: a typed array would refuse `config set KEY a,b`.
    const UNTYPED = ["notebooks", "instanceTypes", "notifyOn"];

    it("Pulumi.yaml documents exactly the keys the program reads", () => {
        assert.deepStrictEqual(Object.keys(project.config).sort(), [...CONFIG_KEYS].sort());
        for (const [key, spec] of Object.entries<Record<string, unknown>>(project.config)) {
            assert.ok(typeof spec.description === "string" && spec.description.length > 10, `${key} has a description`);
            assert.strictEqual(spec.type === undefined, UNTYPED.includes(key), `${key} ${UNTYPED.includes(key) ? "has no" : "has a"} type`);
        }
    });

    it("Pulumi.yaml's config block is one the Pulumi CLI accepts", () => {
        // The CLI validates Pulumi.yaml against its project schema (sdk/go/common/workspace/
        // project.json): a config type outside this list, an array without items, or an unknown
        // property makes every pulumi command fail before the program runs.
        const simpleTypes = ["string", "integer", "boolean", "array"];
        const jsType: Record<string, (value: unknown) => boolean> = {
            string: (value) => typeof value === "string",
            integer: (value) => Number.isInteger(value),
            boolean: (value) => typeof value === "boolean",
            array: (value) => Array.isArray(value),
        };
        for (const [key, spec] of Object.entries<Record<string, unknown>>(project.config)) {
            if (UNTYPED.includes(key)) {
                // An untyped key's default is any value; "" reads as unset, so a stack without it is unchanged.
                assert.deepStrictEqual(spec, { default: "", description: spec.description }, `${key} has only a description and the default ""`);
                continue;
            }
            assert.ok(simpleTypes.includes(spec.type as string), `${key}: type ${spec.type} is not one of ${simpleTypes.join(", ")}`);
            assert.deepStrictEqual(Object.keys(spec).filter((name) => !["type", "items", "description", "secret", "default"].includes(name)), [],
                `${key} has only the properties the schema allows`);
            if (spec.type === "array") {
                assert.ok(spec.items, `${key}: an array declares its items`);
            }
            if ("default" in spec) {
                assert.ok(jsType[spec.type as string](spec.default), `${key}: default ${JSON.stringify(spec.default)} is a ${spec.type}`);
            }
        }
    });

    it("Pulumi.yaml's top level holds only what the CLI's project schema allows", () => {
        // From project.json: the properties the schema names (it allows others at the top level,
        // but a misspelt one would silently do nothing) and, under options, only refresh: always.
        const known = ["name", "description", "author", "website", "license", "runtime", "main", "config", "stackConfigDir",
            "backend", "options", "template", "plugins"];
        assert.deepStrictEqual(Object.keys(project).filter((key) => !known.includes(key)), []);
        assert.deepStrictEqual(project.options, { refresh: "always" });
    });

    it("every pulumi up, preview and destroy refreshes first, so a plain pulumi up starts a machine idle stop stopped", () => {
        assert.strictEqual(project.options?.refresh, "always");
        // The scripts rely on it rather than passing --refresh themselves.
        for (const script of ["scripts/power", "scripts/up"]) {
            assert.doesNotMatch(read(script), /--refresh/, `${script} leaves the refresh to Pulumi.yaml`);
        }
    });

    it("Pulumi.yaml's defaults are the defaults the code applies", () => {
        // The CLI hands Pulumi.yaml defaults to the program; they must mean what no value means.
        const fromCli: Record<string, string> = { allowedCidrs: '["198.51.100.7/32"]' };
        for (const [key, spec] of Object.entries<{ default: unknown }>(project.config)) {
            if (key !== "allowedCidrs") {
                fromCli[key] = typeof spec.default === "string" ? spec.default : JSON.stringify(spec.default);
            }
        }
        assert.deepStrictEqual(parseConfig(fromCli), parseConfig({ allowedCidrs: '["198.51.100.7/32"]' }));
        assert.throws(() => parseConfig({ allowedCidrs: JSON.stringify(project.config.allowedCidrs.default) }), /allowedCidrs is not set/);
    });

    it("ships Pulumi.dev.yaml with comments only, tracked and not ignored: a git pull never meets the user's settings (README: Upgrading)", () => {
        // Settings in the shipped file contradicted the README's recipes (instanceType against
        // instanceTypes), and every change to it upstream would meet the user's edits in a pull.
        const tracked = spawnSync("git", ["ls-files", "Pulumi.*.yaml"], { cwd: root, encoding: "utf8" });
        assert.strictEqual(tracked.status, 0, tracked.stderr);
        assert.strictEqual(tracked.stdout.trim(), "Pulumi.dev.yaml");
        assert.notStrictEqual(spawnSync("git", ["check-ignore", "-q", "Pulumi.course-2026.yaml"], { cwd: root }).status, 0,
            "another stack's file can be committed too (README: sharing the stack)");
        const shipped = read("Pulumi.dev.yaml");
        assert.deepStrictEqual(parse(shipped), { config: null }, "no setting, no salt, no secrets provider: only comments under config");
        // Its bytes are pinned: users edit this file in place, so any upstream change to it, even to
        // a comment, would stop their next git pull. Never change it.
        assert.strictEqual(createHash("sha256").update(shipped).digest("hex"), "02f2910583ef22f48a401935e3c0f5ebd01bd9facd14cec8191b09f3013c2b73");
    });

    it("the README keeps the main command and the test command, and CI runs the latter", () => {
        const readme = read("README.md");
        assert.ok(readme.includes("npm ci && npm run up"));
        assert.ok(readme.includes("npm ci && npm test"));
        assert.match(read(".ci/run"), /^npm ci && npm test$/m);
    });

    it("the configuration reference has a row for every key the program reads, and no other", () => {
        const rows = [...read("docs/configuration.md").matchAll(/^\| `(\w+)` \| [^|]+ \| /gm)].map((match) => match[1]);
        assert.deepStrictEqual([...rows].sort(), [...CONFIG_KEYS].sort());
    });

    it("every link from the README and the docs to a file or heading here leads somewhere", () => {
        const documents = ["README.md", ...readdirSync(path.join(root, "docs")).map((name) => `docs/${name}`)];
        // GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
        const anchors = (file: string) => [...read(file).matchAll(/^#+ (.+)$/gm)]
            .map((match) => match[1].toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-"));
        let checked = 0;
        for (const document of documents) {
            for (const [, target] of read(document).matchAll(/\]\(([^)\s]+)\)/g)) {
                if (/^[a-z]+:/.test(target)) {
                    continue;
                }
                const [file, anchor] = target.split("#");
                const resolved = file === "" ? document : path.normalize(path.join(path.dirname(document), file));
                assert.ok(existsSync(path.join(root, resolved)), `${document} links to ${target}: no file ${resolved}`);
                if (anchor) {
                    assert.ok(anchors(resolved).includes(anchor), `${document} links to ${target}: no heading #${anchor} in ${resolved}`);
                }
                checked += 1;
            }
        }
        assert.ok(checked >= 10, `checked ${checked} links`);
    });

    it("quotes one spot saving everywhere, the code's, and the sample prices bear it out", () => {
        const places = ["README.md", "Pulumi.yaml", ...readdirSync(path.join(root, "docs")).map((name) => `docs/${name}`)];
        const figures = places.flatMap((file) => [...read(file).matchAll(/(\d+(?:[-–]\d+)?)% (?:cheaper|less)/g)].map((match) => `${file}: ${match[1]}`));
        assert.ok(figures.some((figure) => figure.startsWith("Pulumi.yaml")) && figures.some((figure) => figure.startsWith("docs/costs.md")), figures.join("; "));
        assert.deepStrictEqual(figures.filter((figure) => !figure.endsWith(`: ${SPOT_TYPICAL_SAVING_PERCENT}`)), []);
        const sample = SAMPLE_PRICES["us-east-1"][DEFAULTS.instanceType];
        const saving = 100 * (1 - sample.spot / sample.onDemand);
        assert.ok(Math.abs(saving - SPOT_TYPICAL_SAVING_PERCENT) <= 5, `sample spot saving ${saving.toFixed(1)}%`);
    });

    it("the quick start quotes the default machine's price as the price data has it", () => {
        const price = SAMPLE_PRICES["us-east-1"][DEFAULTS.instanceType].onDemand;
        assert.ok(read("README.md").includes(`\`${DEFAULTS.instanceType}\` (one NVIDIA T4), costs $${price} an hour`));
    });

    it("npm run up names no region of its own: it asks the one function npm run plan uses too (scripts/lib/region.ts)", () => {
        const code = read("scripts/up").split("\n").filter((line) => !/^\s*#/.test(line)).join("\n");
        assert.ok(!code.includes(DEFAULT_REGION) && !/aws configure get region/.test(code), "scripts/up restates the region rule");
        assert.match(code, /query region/);
    });

    it("asks for the Node.js that @pulumi/pulumi requires, in package.json and the README", () => {
        const required = JSON.parse(read("node_modules/@pulumi/pulumi/package.json")).engines.node as string;
        assert.strictEqual(JSON.parse(read("package.json")).engines.node, required);
        const major = /^>=(\d+)/.exec(required)?.[1];
        assert.ok(read("README.md").includes(`**Node.js ${major} or newer**`), `README asks for Node.js ${major} or newer`);
    });

    it("package.json wires the commands and pins TypeScript 5", () => {
        const pkg = JSON.parse(read("package.json"));
        // npm test runs the type-check beside every test file (test/run.js); test:unit, the unit files alone.
        assert.strictEqual(pkg.scripts.test, "node test/run.js");
        assert.strictEqual(pkg.scripts["test:unit"], "node test/run.js --unit");
        const runner = read("test/run.js");
        assert.match(runner, /bin\("tsc"\), \["--noEmit"/);
        assert.match(runner, /bin\("mocha"\)/);
        assert.ok(pkg.scripts.up && pkg.scripts.destroy);
        assert.match(pkg.devDependencies.typescript, /^5\./);
    });
});
