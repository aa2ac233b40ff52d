// What the scripts do before they touch anything: --help, the read-only commands on a stack that
// is not there, a Pulumi CLI that cannot be fetched, and --notebook. Run in a copy of the project
// with a fresh home and the recording stand-in `pulumi` (test/support/stand-in/pulumi), logged in
// nowhere, as a new user would meet them.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import * as path from "path";

import { MAINTAINER_SCRIPTS, ROOT, runScript, ScriptResult } from "./support/scripts";
import { StandInWorld } from "./support/stand-ins";

const NPM_SCRIPTS = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts as Record<string, string>;

/** The npm scripts that are the maintainers' tools, not commands a user runs on a stack. */
const NOT_USER_COMMANDS = MAINTAINER_SCRIPTS;

/**
 * Each user command, with some of its own options to put before --help: help must win wherever
 * it is asked for among them. A new npm script must be added here (a test below checks).
 */
const OWN_OPTIONS: Record<string, string[]> = {
    up: ["--yes"],
    destroy: ["--yes"],
    stop: ["--notebook", "alice"],
    start: ["--all"],
    move: ["--zone", "us-east-1c", "--yes"],
    ssh: ["--notebook", "alice"],
    tunnel: ["--port", "9999"],
    notebook: ["--no-browser"],
    copy: ["--scp"],
    "allow-my-ip": ["--replace"],
    job: ["--name", "run1"],
    jobs: ["--json"],
    "job-logs": ["run1", "--follow"],
    "job-stop": ["run1", "--grace", "5"],
    status: ["--notebook", "alice"],
    "setup-log": ["--run"],
    "notify-test": ["--notebook", "alice"],
    notebooks: [],
    handout: ["--all", "--out", "given"],
    "ssh-config": ["--notebook=alice"],
    code: ["--yes"],
    plan: [],
    pulumi: [],
};

/** The commands that only read the stack, each with arguments that would otherwise get it going. */
const READ_ONLY: Record<string, string[]> = {
    ssh: [],
    copy: ["data.csv", ":notebooks/"],
    tunnel: [],
    notebook: ["--no-browser", "--timeout", "1"],
    status: [],
    "setup-log": [],
    "notify-test": [],
    jobs: [],
    "job-logs": ["run1"],
    notebooks: [],
    handout: ["--all"],
    "ssh-config": [],
};

/** Every file under `dir` with its size and modification time, skipping the linked node_modules. */
function snapshot(dir: string): string[] {
    const walk = (at: string): string[] => readdirSync(at, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(at, entry.name);
        if (entry.name === "node_modules") return [];
        if (entry.isDirectory()) return [`${full}/`, ...walk(full)];
        const stat = statSync(full);
        return [`${full} ${stat.size} ${stat.mtimeMs}`];
    });
    return walk(dir).sort();
}

describe("the scripts, before they touch anything (stand-in pulumi, fresh home)", function () {
    this.timeout(60_000);
    const worlds: StandInWorld[] = [];
    after(() => worlds.forEach((world) => world.cleanup()));

    function world(): StandInWorld {
        const created = new StandInWorld({ ownPassphrase: "the user's own" });
        worlds.push(created);
        return created;
    }

    /** Runs npm script `name` as `npm run name -- ARGS` does: its command line, with ARGS appended, in the project folder. */
    function npmRun(where: StandInWorld, name: string, args: string[], env: NodeJS.ProcessEnv = {}): ScriptResult {
        const started = Date.now();
        const base = where.env(env);
        const result = spawnSync("bash", ["-c", `${NPM_SCRIPTS[name]} "$@"`, name, ...args], {
            cwd: where.project, encoding: "utf8", timeout: 45_000,
            env: { ...base, PATH: `${path.join(where.project, "node_modules", ".bin")}:${base.PATH}` },
        });
        return { status: result.status, stdout: result.stdout, stderr: result.stderr, ms: Date.now() - started };
    }

    /** The user's own `pulumi ...`, to set a world up. */
    function ownPulumi(where: StandInWorld, args: string[]): void {
        const result = spawnSync("pulumi", args, { cwd: where.project, env: where.env(), encoding: "utf8" });
        assert.strictEqual(result.status, 0, result.stderr);
    }

    describe("--help", () => {
        it("knows every npm script: each is a user command here or a maintainer's tool", () => {
            assert.deepStrictEqual(Object.keys(NPM_SCRIPTS).filter((name) => !(name in OWN_OPTIONS) && !NOT_USER_COMMANDS.includes(name)), []);
        });

        it("every npm script prints its help for --help and -h, wherever among its own options, and changes nothing", () => {
            const here = world();
            // A stack someone already has: its file must come out unchanged.
            const stackFile = path.join(here.project, "Pulumi.dev.yaml");
            writeFileSync(stackFile, "config:\n  gpu-notebook:running: \"true\"\n");
            const before = { home: snapshot(here.home), project: snapshot(here.project), stack: readFileSync(stackFile, "utf8") };
            for (const [name, options] of Object.entries(OWN_OPTIONS)) {
                // plan loads the whole program first (seconds): once is enough for it.
                for (const args of name === "plan" ? [["--help"]] : [["--help"], ["-h"], [...options, "--help"]]) {
                    const ran = npmRun(here, name, args);
                    const what = `npm run ${name} -- ${args.join(" ")}`;
                    assert.strictEqual(ran.status, 0, `${what}: ${ran.stderr}`);
                    assert.match(ran.stdout, new RegExp(`npm run ${name}\\b`), `${what} prints its help`);
                    assert.deepStrictEqual(here.callLines(), [], `${what} calls no Pulumi`);
                }
            }
            assert.strictEqual(readFileSync(stackFile, "utf8"), before.stack, "the stack file is unchanged");
            assert.deepStrictEqual(snapshot(here.home), before.home, "nothing is written in the home folder");
            assert.deepStrictEqual(snapshot(here.project), before.project, "nothing is written in the project");
        });

        it("keeps the test-only settings out of every help: they are in docs/testing.md, each of them", () => {
            const here = world();
            const helps = Object.keys(OWN_OPTIONS).filter((name) => name !== "plan").map((name) => npmRun(here, name, ["--help"]).stdout).join("\n");
            assert.doesNotMatch(helps, /tests? only/i);
            // The environment variables the scripts read (with a default: ${NAME:-...}).
            const scripts = [...readdirSync(path.join(ROOT, "scripts")).map((file) => path.join("scripts", file)),
                ...readdirSync(path.join(ROOT, "scripts", "lib")).map((file) => path.join("scripts", "lib", file))]
                .filter((file) => statSync(path.join(ROOT, file)).isFile());
            const read = new Set(scripts.flatMap((file) => [...readFileSync(path.join(ROOT, file), "utf8").matchAll(/\$\{(GPU_NOTEBOOK_[A-Z_]+):-/g)]
                .map((match) => match[1])));
            const testing = readFileSync(path.join(ROOT, "docs", "testing.md"), "utf8");
            const testOnly = testing.split("## For tests only")[1] ?? "";
            assert.ok(testOnly !== "", "docs/testing.md has a section: For tests only");
            for (const name of read) {
                const inHelp = helps.includes(name);
                const inTesting = testOnly.includes(`\`${name}\``);
                assert.ok(inHelp !== inTesting, `${name} is documented in exactly one place: a --help (for users) or docs/testing.md (for tests)`);
            }
        });

        it("stop's help lists none of start's options; start's lists them all", () => {
            const here = world();
            const stop = npmRun(here, "stop", ["--help"]).stdout;
            const start = npmRun(here, "start", ["--help"]).stdout;
            for (const option of ["--wait", "--type", "--on-demand"]) {
                assert.ok(!stop.includes(option), `npm run stop -- --help does not offer ${option}:\n${stop}`);
                assert.ok(start.includes(option), `npm run start -- --help offers ${option}`);
            }
            assert.match(stop, /^npm run stop \[-- --notebook NAME \| --all\]/);
            assert.match(start, /^npm run start \[-- --notebook NAME \| --all\]/);
            assert.doesNotMatch(stop, /npm run start \[/, "stop's help is not start's too");
        });

        it("every help names commands as you type them: no script file, no internal command name", () => {
            const here = world();
            for (const name of Object.keys(OWN_OPTIONS)) {
                const help = npmRun(here, name, ["--help"]).stdout;
                assert.doesNotMatch(help, /\bscripts\/|\.sh\b/, `npm run ${name} -- --help names a file of the project's insides`);
                // A usage line is a command to type: "Usage: npm run plan", never "Usage: move".
                assert.doesNotMatch(help, /\bUsage: (?!npm run )/i, `npm run ${name} -- --help`);
                assert.doesNotMatch(help, /\bpower (stop|start)\b/, `npm run ${name} -- --help`);
            }
        });

        it("destroy's help says what is kept (the final snapshot) and to check for a spot request left behind", () => {
            const help = npmRun(world(), "destroy", ["--help"]).stdout;
            assert.match(help, /final\s+snapshot/);
            assert.match(help, /~\/notebooks/);
            assert.match(help, /spot request/);
            assert.match(help, /aws ec2 describe-spot-instance-requests/);
        });

        it("job's synopsis and its examples agree, and the parser takes each example", () => {
            const here = world();
            const help = npmRun(here, "job", ["--help"]).stdout;
            const synopsis = /^npm run job -- (.+?): /.exec(help)?.[1];
            assert.ok(synopsis, help);
            // The synopsis as a pattern: OPTIONS are --words (some with a value), [X] is optional,
            // any other word is written as it is; each part takes the space after it.
            const parts: Record<string, string> = {
                "[OPTIONS]": "(?:--[a-z-]+(?: [^- ]\\S*)? )*",
                "[--]": "(?:-- )?",
                COMMAND: "[^- ]\\S*",
                "[ARGS...]": "(?: .*)?",
            };
            const pattern = synopsis.split(" ").map((word) => parts[word] ?? `${word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} `).join("");
            const examples = [...help.matchAll(/^ {2}npm run job -- (.+)$/gm)].map((match) => match[1]);
            assert.ok(examples.length >= 2, help);
            for (const example of examples) {
                assert.match(example, new RegExp(`^${pattern}$`), `the example "${example}" fits the synopsis "${synopsis}"`);
                // Parsed, it gets as far as reading the stack (there is none here), not to a refusal of its arguments.
                const ran = npmRun(here, "job", example.split(" "));
                assert.strictEqual(ran.status, 1, ran.stdout);
                assert.match(ran.stderr, /npm run up/, `npm run job -- ${example}: ${ran.stderr}`);
                assert.doesNotMatch(ran.stderr, /unknown option|no command to run/, `npm run job -- ${example}`);
            }
        });

        it("notebooks --help describes no --notebook option: it lists them all", () => {
            const ran = npmRun(world(), "notebooks", ["--help"]);
            assert.doesNotMatch(ran.stdout, /--notebook|GPU_NOTEBOOK_NAME/);
            const refused = npmRun(world(), "notebooks", ["--notebook", "alice"]);
            assert.strictEqual(refused.status, 1);
            assert.match(refused.stderr, /unknown argument --notebook/);
        });
    });

    describe("notebooks with GPU_NOTEBOOK_OUTPUTS_FILE, which its help lists", () => {
        /** A world logged in nowhere, and a file of a class's outputs: alice runs, bob is stopped. */
        function withOutputsFile(): { here: StandInWorld; env: NodeJS.ProcessEnv } {
            const here = world();
            const notebook = (name: string, running: boolean) => ({
                instanceType: "g4dn.xlarge", running, estimatedHourlyCostUsd: 0.526, notebookUrl: `https://203.0.113.${name.length}:8888/`,
            });
            const file = path.join(here.dir, "outputs.json");
            writeFileSync(file, JSON.stringify({ notebooks: { alice: notebook("alice", true), bob: notebook("bob", false) }, estimatedHourlyCostUsd: 1.052 }));
            return { here, env: { GPU_NOTEBOOK_OUTPUTS_FILE: file } };
        }

        it("lists the file's notebooks against the stack file here, asking no Pulumi CLI", () => {
            const { here, env } = withOutputsFile();
            assert.match(npmRun(here, "notebooks", ["--help"]).stdout, /GPU_NOTEBOOK_OUTPUTS_FILE/);
            writeFileSync(path.join(here.project, "Pulumi.dev.yaml"),
                "config:\n  gpu-notebook:notebooks:\n    alice: {}\n    bob:\n      running: false\n    carol: {}\n");
            const ran = npmRun(here, "notebooks", [], env);
            assert.strictEqual(ran.status, 0, ran.stderr);
            assert.match(ran.stdout, /^Stack dev: 2 notebooks deployed\.$/m);
            assert.match(ran.stdout, /^alice +g4dn\.xlarge +running +\$0\.526 +https:\/\/203\.0\.113\.5:8888\/$/m);
            assert.match(ran.stdout, /^bob +g4dn\.xlarge +stopped +\$0\.526 /m);
            assert.match(ran.stdout, /^In the config, not deployed yet: carol\. npm run up creates them\.$/m);
            assert.deepStrictEqual(here.callLines(), [], "no Pulumi CLI was asked");
        });

        it("without a stack file, lists what is deployed and says it did not compare it with a config", () => {
            const { here, env } = withOutputsFile();
            rmSync(path.join(here.project, "Pulumi.dev.yaml"), { force: true });
            const ran = npmRun(here, "notebooks", [], env);
            assert.strictEqual(ran.status, 0, ran.stderr);
            assert.match(ran.stdout, /^alice +g4dn\.xlarge +running /m);
            assert.match(ran.stdout, /^bob +g4dn\.xlarge +stopped /m);
            assert.match(ran.stdout, /^Not compared with the config: the outputs came from a file, and there is no Pulumi\.dev\.yaml here\.$/m);
            assert.deepStrictEqual(here.callLines(), []);
        });
    });

    describe("read-only commands on a stack that is not there", () => {
        const cases: { state: string; setUp: (where: StandInWorld) => void }[] = [
            { state: "no Pulumi backend logged in", setUp: () => undefined },
            { state: "a backend but no stack", setUp: (where) => ownPulumi(where, ["login", "--local"]) },
            { state: "a stack with nothing deployed", setUp: (where) => {
                ownPulumi(where, ["login", "--local"]);
                ownPulumi(where, ["stack", "init", "dev"]);
            } },
        ];
        for (const { state, setUp } of cases) {
            it(`with ${state}, each says so in one line naming npm run up, exits non-zero, and logs in, selects and creates nothing`, () => {
                const here = world();
                setUp(here);
                const credentials = path.join(here.home, ".pulumi", "credentials.json");
                const loggedIn = existsSync(credentials) ? readFileSync(credentials, "utf8") : undefined;
                here.forgetCalls();
                const stacks = snapshot(here.home);
                for (const [name, args] of Object.entries(READ_ONLY)) {
                    const ran = npmRun(here, name, args);
                    const what = `npm run ${name} (${state})`;
                    assert.notStrictEqual(ran.status, 0, `${what}: ${ran.stdout}`);
                    assert.deepStrictEqual(ran.stderr.trim().split("\n").length, 1, `${what} says it in one line:\n${ran.stderr}`);
                    assert.match(ran.stderr, /npm run up/, what);
                    assert.strictEqual(ran.stdout, "", `${what} prints nothing else (no row, no passphrase advice)`);
                    const changing = here.callLines().filter((line) => /^(login|stack (select|init)|config (set|rm)|up|destroy)\b/.test(line));
                    assert.deepStrictEqual(changing, [], what);
                }
                assert.strictEqual(existsSync(credentials) ? readFileSync(credentials, "utf8") : undefined, loggedIn, "the login is unchanged");
                assert.deepStrictEqual(snapshot(here.home), stacks, "no stack, login or file was written");
            });
        }
    });

    describe("when the npm-provided Pulumi CLI cannot be downloaded", () => {
        /** A world whose only Pulumi CLI is the project's npm package, whose download fails as it does offline. */
        function offline(): { here: StandInWorld; env: NodeJS.ProcessEnv } {
            const here = world();
            const noNetwork = path.join(here.dir, "no-network.js");
            writeFileSync(noNetwork, 'globalThis.fetch = async () => { throw new TypeError("fetch failed"); };\n');
            const env = here.env({ NODE_OPTIONS: `--require ${noNetwork}` });
            env.PATH = (env.PATH ?? "").split(path.delimiter).filter((dir) => dir !== here.bin).join(path.delimiter);
            return { here, env };
        }

        for (const [name, args] of [["up", []], ["ssh", []], ["pulumi", ["stack", "output"]]] as [string, string[]][]) {
            it(`npm run ${name} says the download failed and what to do instead, not that npm run up is missing`, async () => {
                const { here, env } = offline();
                const before = [...snapshot(here.project), ...snapshot(here.home)];
                const ran = await runScript(name === "pulumi" ? "pulumi" : name, args, env, 30_000, here.project);
                assert.notStrictEqual(ran.status, 0);
                assert.match(ran.stderr, /downloading the Pulumi CLI failed/);
                assert.match(ran.stderr, /Install the CLI from https:\/\/www\.pulumi\.com\/\S+, or put a pulumi command on your PATH/);
                assert.doesNotMatch(ran.stderr + ran.stdout, /has npm run up run|create the notebook with npm run up/);
                assert.deepStrictEqual([...snapshot(here.project), ...snapshot(here.home)], before, "nothing was written");
            });
        }

        it("the README's promise that npm brings the CLI says how, and what to do when the download fails", () => {
            const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
            const needs = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("Create the notebook"));
            assert.match(needs, /npm brings one/);
            assert.match(needs, /downloads/);
            const installUrl = /^PULUMI_INSTALL_URL=(\S+)$/m.exec(readFileSync(path.join(ROOT, "scripts", "lib", "pulumi.sh"), "utf8"));
            assert.ok(installUrl && needs.includes(installUrl[1]), "the README names the same install page the scripts do");
        });
    });

    describe("--notebook", () => {
        let here: StandInWorld;
        before(() => {
            here = world();
            writeFileSync(path.join(here.project, "Pulumi.dev.yaml"),
                "config:\n  aws:region: us-east-1\n  gpu-notebook:allowedCidrs:\n    - 10.0.0.0/8\n  gpu-notebook:notebooks:\n    alice: {}\n    bob: {}\n");
            here.setOutputs({ notebooks: { alice: { publicIp: "203.0.113.1" }, bob: { publicIp: "203.0.113.2" } }, notebookSecrets: {} }, ["notebookSecrets"]);
            ownPulumi(here, ["login", "--local"]);
            ownPulumi(here, ["stack", "select", "--create", "dev"]);
            ownPulumi(here, ["up", "--yes"]);
        });

        /** Each script that works on one notebook, with --notebook among its own options but not first. */
        const placements: Record<string, string[]> = {
            ssh: ["--notebook=carol", "hostname"],
            copy: ["--scp", "--notebook", "carol", "a", ":b"],
            tunnel: ["--port", "9999", "--notebook", "carol"],
            notebook: ["--no-browser", "--notebook=carol"],
            status: ["--notebook", "carol"],
            "notify-test": ["--notebook", "carol"],
            jobs: ["--json", "--notebook", "carol"],
            "job-logs": ["run1", "--notebook", "carol"],
            "job-stop": ["run1", "--notebook=carol"],
            job: ["--name", "run1", "--notebook", "carol", "--", "true"],
            handout: ["--out", "given", "--notebook", "carol"],
            "ssh-config": ["--notebook", "carol"],
            code: ["--yes", "--notebook", "carol"],
            stop: ["--notebook", "carol"],
            "allow-my-ip": ["--replace", "--notebook", "carol"],
        };

        it("is taken by every script that works on one notebook, among its own options, and checked against the stack", () => {
            for (const [name, args] of Object.entries(placements)) {
                const ran = npmRun(here, name, args);
                assert.strictEqual(ran.status, 1, `npm run ${name} -- ${args.join(" ")}: ${ran.stdout}${ran.stderr}`);
                assert.match(ran.stderr, /stack dev has no notebook carol( deployed)?; its (deployed )?notebooks: alice, bob/, `npm run ${name} -- ${args.join(" ")}: ${ran.stderr}`);
            }
        });
    });
});
