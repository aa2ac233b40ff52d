// The scripts' one way to ask the program: every question the bash scripts have about the stack's
// config, its outputs and capacity is answered here, with the program's own modules, so bash
// orchestrates ssh, rsync and the Pulumi CLI and restates no rule. Loaded through the transpile
// cache (scripts/lib/query.sh: node --require ts-require.js query.ts QUESTION ARGS...). What may
// hold secrets (outputs, config) comes on stdin, never on a command line. A failure is one
// "gpu-notebook: ..." line on stderr and status 1 (cli.js runCommand).
// Each question loads only what it needs: the outputs of npm run ssh, job, status... are on every
// command's path (the config parser and the Pulumi SDK are not).
import { readFileSync } from "fs";

import { readJson, runCommand } from "./cli";
import type { ConfigListing, ConfigView } from "./config-view";
import {
    backendOf, keepOutputs, KeptOutputs, keptOutputs, loginKeyOnDisk, outputsKey, OutputsKey, projectFile, selectedStack, workingDirectory,
} from "./outputs-cache";
import {
    chooseNotebook, hasOutput, missingOutput, notebookNames, Outputs, outputText, SECRET_OUTPUTS, selectNotebook,
} from "./stack-outputs";

/** The options of a question (--name value), by name. */
function options(args: string[]): Map<string, string> {
    const found = new Map<string, string>();
    for (let i = 0; i < args.length; i += 2) {
        if (!args[i].startsWith("--") || i + 1 >= args.length) {
            throw new Error(`query.ts: expected --option value, got ${args.slice(i).join(" ")}`);
        }
        found.set(args[i].slice(2), args[i + 1]);
    }
    return found;
}

/** Writes fields for bash's `read -d ''`: each ended by a NUL byte, as no text holds one. */
function fields(values: string[]): void {
    process.stdout.write(values.map((value) => `${value}\0`).join(""));
}

function stdinText(): string {
    return readFileSync(0, "utf8");
}

/**
 * The stack outputs a script works with (outputs.sh load_outputs, read_outputs, select_notebook).
 *   --from cache     the outputs kept by an earlier call, if still current (outputs-cache.ts)
 *   --from stdin     the outputs on stdin (GPU_NOTEBOOK_OUTPUTS_FILE's, or the CLI's); with
 *                    --remember KEY --backend URL, kept under KEY (the key the cache answer gave
 *                    before the CLI was asked) if the CLI read the same backend and stack
 *   --stack NAME --named yes|no   the stack the scripts use, and whether the user named it
 *                    (GPU_NOTEBOOK_STACK); unnamed, the one `pulumi stack select` chose, else NAME
 *   --notebook NAME --option FROM   also choose a notebook (FROM names where NAME came from)
 *   --secrets "NAME..."   the secret outputs the script will read (of the chosen notebook). The
 *                    cache keeps none (outputs-cache.ts): it answers them only for the login key,
 *                    sshPrivateKey of a chosen notebook, from a .pem written from that same key;
 *                    any other, and that one without such a .pem, is a question for the CLI.
 * Answers fields: "outputs", the stack, all outputs as JSON, the secret outputs left out of them
 * (space-separated; "" unless from the cache), the chosen notebook's outputs as name, text pairs
 * (strings as they are, else JSON; none missing or empty), "end". Or, from the cache, when nothing
 * current is kept or the script reads a secret it cannot answer: "stale", the stack, the key to
 * remember them under ("" for none: another backend, no state here), "end".
 */
function outputsAnswer(args: string[]): void {
    const asked = options(args);
    const env = process.env;
    let stack = asked.get("stack") ?? "dev";
    const notebook = asked.get("notebook");
    const option = asked.get("option") ?? "--notebook";
    let outputs: Outputs;
    let withheld: string[] = [];
    let loginKey: string | undefined;
    if (asked.get("from") === "cache") {
        const project = projectFile(workingDirectory(env));
        const backend = project && backendOf(env, project);
        if (project && backend && asked.get("named") === "no") {
            stack = selectedStack(env, project) ?? stack;
        }
        const key = project && backend ? outputsKey(env, project, backend, stack) : undefined;
        const kept = key ? keptOutputs(env, key) : undefined;
        const found = kept && cachedAnswer(env, kept, (asked.get("secrets") ?? "").split(" ").filter(Boolean), notebook, option);
        if (!kept || !found) {
            fields(["stale", stack, key ? JSON.stringify(key) : "", "end"]);
            return;
        }
        ({ outputs } = kept);
        ({ loginKey } = found);
        withheld = SECRET_OUTPUTS.filter((name) => !(name === "sshPrivateKey" && loginKey !== undefined));
    } else {
        outputs = readJson("the stack outputs", stdinText()) as Outputs;
    }
    if (outputs === null || typeof outputs !== "object" || Object.keys(outputs).length === 0) {
        throw new Error(`stack ${stack} has no notebook deployed (it has no outputs): create it with npm run up`);
    }
    const remember = asked.get("remember");
    if (remember) {
        const key = JSON.parse(remember) as OutputsKey;
        if (key.stack === stack && key.backend === asked.get("backend")) {
            keepOutputs(env, key, outputs);
        }
    }
    const answer = ["outputs", stack, JSON.stringify(outputs), withheld.join(" ")];
    if (notebook !== undefined) {
        const chosen = selectNotebook(outputs, notebook, option, stack);
        if (loginKey !== undefined) {
            chosen.sshPrivateKey = loginKey;
        }
        for (const name of Object.keys(chosen).filter((name) => hasOutput(chosen, name))) {
            answer.push(name, outputText(chosen, name));
        }
    }
    fields([...answer, "end"]);
}

/**
 * Whether the kept outputs answer a script that reads the secret outputs `secrets`: none, or only
 * the login key of a chosen notebook whose .pem was written from the kept key (then `loginKey`:
 * the file's text; undefined when the stack has none, as the CLI would say). Undefined: ask the CLI.
 */
function cachedAnswer(env: NodeJS.ProcessEnv, kept: KeptOutputs, secrets: string[], notebook: string | undefined, option: string):
    { loginKey?: string } | undefined {
    if (secrets.length === 0) {
        return {};
    }
    if (notebook === undefined || secrets.some((name) => name !== "sshPrivateKey")) {
        return undefined;
    }
    const name = chooseNotebook(notebookNames(kept.outputs), notebook, option, kept.key.stack, "deployed");
    const onDisk = loginKeyOnDisk(env, kept, name);
    return onDisk && { loginKey: onDisk.key };
}

/** The stack's config (`pulumi config --json --show-secrets`) on stdin, read by the deploy's parser. */
function configOnStdin(): ConfigView {
    const { ConfigView: View } = require("./config-view") as typeof import("./config-view");
    return new View(readJson("the stack config", stdinText()) as ConfigListing);
}

/** The questions, by name: each gets the arguments after its name. */
const QUESTIONS: Record<string, (args: string[]) => void | Promise<void>> = {
    outputs: outputsAnswer,
    /** missing-output NAME NOTEBOOK: fails saying the stack has no output NAME. */
    "missing-output": ([name, notebook]) => {
        throw missingOutput(name, notebook ?? "");
    },
    /** names: the fleet's deployed notebooks, one a line (none for a stack of one); outputs on stdin. */
    names: () => {
        for (const name of notebookNames(readJson("the stack outputs", stdinText())) ?? []) {
            console.log(name);
        }
    },
    /** choose NAME OPTION STACK: NAME if the config has that notebook ("" for a stack of one), else fails listing them. */
    choose: ([requested, option, stack]) => {
        console.log(chooseNotebook(configOnStdin().names(), requested, option, stack, "configured"));
    },
    /** names-setting KEY: the notebooks whose own entry sets KEY, one a line. */
    "names-setting": ([key]) => {
        console.log(configOnStdin().notebooks.filter((notebook) => notebook.name !== "" && notebook.ownKeys.has(key))
            .map((notebook) => notebook.name).join("\n"));
    },
    /** allowed-cidrs NAME: where the notebook's list is set (list, text, inherited or unset), then one network a line. */
    "allowed-cidrs": ([name]) => {
        const { origin, entries } = configOnStdin().allowedCidrs(name ?? "");
        console.log([origin, ...entries].join("\n"));
    },
    /** on-demand NAME: fails, in the program's words, unless npm run start --on-demand may replace the notebook's machine. */
    "on-demand": ([name]) => {
        const notebook = configOnStdin().notebook(name ?? "");
        if (notebook === undefined) {
            throw new Error(`the config has no notebook ${name}`);
        }
        const { onDemandRefusal } = require("../../components/capacity") as typeof import("../../components/capacity");
        const { settingProblem } = require("../../components/config") as typeof import("../../components/config");
        const refusal = onDemandRefusal(notebook.settings);
        if (refusal) {
            throw new Error(`--on-demand: ${settingProblem(refusal.key, refusal.value, refusal.accepted).message}`);
        }
    },
    /**
     * notebooks STACK [FILE]: the table of npm run notebooks. Stdin is {"outputs": ..., "config":
     * <the listing>}; with FILE, the outputs alone (from GPU_NOTEBOOK_OUTPUTS_FILE: no CLI is asked)
     * and the config read from the stack file FILE as the CLI would hand it over, if it exists.
     */
    notebooks: ([stack, file]) => {
        const { ConfigView: View } = require("./config-view") as typeof import("./config-view");
        const { notebooksTable } = require("./notebooks-table") as typeof import("./notebooks-table");
        const { existsSync } = require("fs") as typeof import("fs");
        if (file !== undefined) {
            const outputs = readJson("the stack outputs", stdinText()) as Outputs;
            console.log(notebooksTable(stack, outputs, existsSync(file) ? View.ofStackFile(file, stack) : undefined));
            return;
        }
        const { outputs, config } = readJson("the stack outputs and config", stdinText()) as { outputs: Outputs; config: ConfigListing };
        console.log(notebooksTable(stack, outputs, new View(config)));
    },
    /** zone ZONE: fails unless ZONE is an availability zone's name (npm run move --zone). */
    zone: ([zone]) => {
        const { isZoneName } = require("../../components/config/schema") as typeof import("../../components/config/schema");
        if (!isZoneName(zone ?? "")) {
            throw new Error(`--zone ${zone}: an availability zone name of the stack's region, such as us-east-1c`);
        }
    },
    /** instance-type TYPE: fails unless TYPE is an instance type's name (npm run start --type). */
    "instance-type": ([type]) => {
        const { isInstanceTypeName } = require("../../components/capacity") as typeof import("../../components/capacity");
        if (!isInstanceTypeName(type ?? "")) {
            throw new Error(`--type ${type}: an instance type of your instanceTypes, such as g6.xlarge`);
        }
    },
    /**
     * region: the region a new stack is pinned to, where it came from, and "setup" when the user's
     * AWS setup names it ("default" otherwise), as three fields; fails when it is no region name.
     */
    region: () => {
        const { awsSetupRegion, regionForNewStack } = require("./region") as typeof import("./region");
        const { region, source } = regionForNewStack();
        fields([region, source, awsSetupRegion() ? "setup" : "default"]);
    },
    /**
     * aws-identity: the account and identity the AWS credentials here are (STS GetCallerIdentity,
     * aws-identity.ts), as two fields; fails, saying what failed and how to give credentials,
     * when they do not answer.
     */
    "aws-identity": async () => {
        const { callerIdentity } = require("./aws-identity") as typeof import("./aws-identity");
        const { account, arn } = await callerIdentity();
        fields([account, arn]);
    },
    /**
     * last-stop ARN: when and why the machine last stopped and whether that was notified, read
     * from the SSM parameter ARN (the output lastStopParameter; last-stop-record.ts), or one line
     * saying why that cannot be told: it never fails, as it adds to an answer.
     */
    "last-stop": async ([arn]) => {
        const { lastStopReport } = require("./last-stop-record") as typeof import("./last-stop-record");
        console.log((await lastStopReport(arn ?? "")).join("\n"));
    },
    /** capacity-failures EVENT_LOG: EC2's "no capacity" refusals in a run (capacity.js). */
    "capacity-failures": ([file]) => {
        const { failureLines } = require("./capacity") as { failureLines(text: string): string[] };
        failureLines(logText(file)).forEach((line) => process.stdout.write(`${line}\n`));
    },
    /** capacity-errors EVENT_LOG: the run's error messages, one line each. */
    "capacity-errors": ([file]) => {
        const { diagnostics, errorLines } = require("./capacity") as typeof import("./capacity");
        errorLines(diagnostics(logText(file))).forEach((line) => console.log(line));
    },
    /** capacity-started [UNSTARTED...]: a line per notebook after npm run start --all; the `notebooks` output on stdin. */
    "capacity-started": (unstarted) => {
        const { startedReport } = require("./capacity") as typeof import("./capacity");
        const notebooks = readJson("the stack's notebooks output", stdinText()) as Record<string, { instanceType: string; availabilityZone: string }>;
        startedReport(notebooks, unstarted.join(" ").split(/\s+/).filter(Boolean)).forEach((line) => console.log(line));
    },
};

/** An event log's text; "" when the run wrote none. */
function logText(file: string | undefined): string {
    try {
        return file ? readFileSync(file, "utf8") : "";
    } catch {
        return "";
    }
}

export function ask([question, ...args]: string[]): void | Promise<void> {
    const answer = Object.prototype.hasOwnProperty.call(QUESTIONS, question ?? "") ? QUESTIONS[question] : undefined;
    if (answer === undefined) {
        throw new Error(`query.ts: unknown question ${question}; the questions: ${Object.keys(QUESTIONS).join(", ")}`);
    }
    return answer(args);
}

if (require.main === module) {
    runCommand(ask);
}
