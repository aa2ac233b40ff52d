// The project's own files agree with the code: Pulumi.yaml documents every key with the code's
// defaults, the README keeps its two commands, and CI runs the README's test command.
import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";

import { CONFIG_KEYS, parseConfig } from "../components/config";

const root = path.join(__dirname, "..");
const read = (name: string) => readFileSync(path.join(root, name), "utf8");

describe("project files", () => {
    const project = parse(read("Pulumi.yaml"));

    it("Pulumi.yaml is the gpu-notebook project on the nodejs runtime", () => {
        assert.strictEqual(project.name, "gpu-notebook");
        assert.strictEqual(project.runtime.name ?? project.runtime, "nodejs");
    });

    // `notebooks` is an object, a type Pulumi's project config cannot declare: it is declared without
    // one, which the CLI hands to the program unchecked (only a typed key's value is checked).
    const UNTYPED = ["notebooks"];

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

    it("Pulumi.dev.yaml sets a region and only keys the program reads", () => {
        const stack = parse(read("Pulumi.dev.yaml"));
        assert.ok(stack.config["aws:region"]);
        assert.doesNotThrow(() => parseConfig({ ...stack.config, "gpu-notebook:allowedCidrs": '["198.51.100.7/32"]' }));
    });

    it("the README keeps the main command and the test command, and CI runs the latter", () => {
        const readme = read("README.md");
        assert.ok(readme.includes("npm ci && npm run up"));
        assert.ok(readme.includes("npm ci && npm test"));
        assert.match(read(".ci/run"), /^npm ci && npm test$/m);
    });

    it("the README's configuration table has a row for every key the program reads", () => {
        const rows = [...read("README.md").matchAll(/^\| `(\w+)` \|/gm)].map((match) => match[1]);
        for (const key of CONFIG_KEYS) {
            assert.ok(rows.includes(key), `README documents ${key}`);
        }
    });

    it("package.json wires the commands and pins TypeScript 5", () => {
        const pkg = JSON.parse(read("package.json"));
        assert.match(pkg.scripts.test, /tsc --noEmit/);
        assert.match(pkg.scripts.test, /mocha/);
        assert.ok(pkg.scripts.up && pkg.scripts.destroy);
        assert.match(pkg.devDependencies.typescript, /^5\./);
    });
});
