// A stack of several notebooks (`notebooks`): the entries, what each inherits from the top level,
// the budget set once for the account, and the problems of all of them as one list.
import { budgetOf, ConfigValues } from "./parse";
import { unknownKeyProblem } from "./keys";
import { DeployRefused, Problem, show } from "./problems";
import { ACCOUNT_KEYS, AccountKey, CONFIG_NAMESPACE, PER_NOTEBOOK_KEYS, settingName } from "./schema";
import { budgetProblems, checkValues, ValidSettings } from "./validate";
import { inWords, pulumiCommand } from "./words";

/** A notebook's name in `notebooks`: it ends resource names, tags and local file names. */
const NOTEBOOK_NAME = /^[a-z][a-z0-9-]{0,19}$/;

/** The account's monthly budget with its alerts, for the whole stack. */
export interface Budget {
    monthlyBudgetUsd: number;
    alertEmail: string;
}

/** One notebook of a stack with `notebooks`: its entry's keys over the top-level ones, validated. */
export interface NamedSettings {
    name: string;
    /** Its settings; the budget is the stack's (StackSettings budget), never a notebook's. */
    settings: ValidSettings;
    /** The keys its entry sets itself; the others it inherits from the top level. */
    ownKeys: ReadonlySet<string>;
}

/** A stack of several notebooks, validated. */
export interface FleetSettings {
    kind: "fleet";
    notebooks: NamedSettings[];
    budget?: Budget;
}

/** What was found wrong with one notebook of a stack of several. */
export interface NotebookProblems {
    name: string;
    /** The keys its entry sets itself. */
    ownKeys: ReadonlySet<string>;
    problems: Problem[];
}

/** A notebook's entry, or one of its settings, named as `pulumi config set --path` takes it. */
function notebookPath(notebook: string, key?: string): string {
    return `${CONFIG_NAMESPACE}:notebooks.${notebook}${key === undefined ? "" : `.${key}`}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why each account key stays top-level, for the refusal of one inside an entry. */
const WHY_TOP_LEVEL: Record<AccountKey, string> = {
    monthlyBudgetUsd: "one budget covers the whole AWS account",
    alertEmail: "one budget covers the whole AWS account",
    requestQuotaIncrease: "quotas are the account's, and the stack asks for what all its notebooks need together",
    vpcId: "the notebooks of a stack share one network",
    subnetId: "the notebooks of a stack share one network",
};

/**
 * An entry's value as the text a top-level key holds: `pulumi config set --path` stores true,
 * false and whole numbers as JSON booleans and numbers, lists as lists.
 */
function entryText(value: unknown): string {
    return value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
}

/** The entries of `notebooks` with valid names and object values, sorted by name; the others are problems. */
export function notebookEntries(text: string, problems: Problem[]): [string, Record<string, unknown>][] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        parsed = undefined;
    }
    // The value is never shown: a notebook's own password makes all of it a secret.
    const example = `such as {"alice": {}, "bob": {"instanceType": "g5.xlarge"}}, or one key at a time: ` +
        `${pulumiCommand("config set --path 'notebooks.alice.instanceType' g5.xlarge")}`;
    if (!isObject(parsed) || Object.keys(parsed).length === 0) {
        problems.push({
            key: "notebooks",
            message: `${CONFIG_NAMESPACE}:notebooks is not accepted: ` + (isObject(parsed)
                ? `it has no notebook; name at least one (${example}), or remove it for a stack of one notebook: ${pulumiCommand("config rm notebooks")}`
                : `an object of notebook names to their settings, ${example}`),
        });
        return [];
    }
    const entries: [string, Record<string, unknown>][] = [];
    for (const name of Object.keys(parsed).sort()) {
        const entry = parsed[name];
        if (!NOTEBOOK_NAME.test(name)) {
            problems.push({
                key: "notebooks", notebooks: [name],
                message: `${notebookPath(name)} is not accepted: a notebook's name has lowercase letters, digits and hyphens, ` +
                    `1 to 20 characters, starting with a letter, such as alice or team-3 (it ends resource names, tags and file names)`,
            });
        } else if (entry === null || entry === "" || isObject(entry)) {
            // `alice:` with nothing after it is YAML's null: a notebook with every default, like `alice: {}`.
            entries.push([name, isObject(entry) ? entry : {}]);
        } else {
            problems.push({
                key: "notebooks", notebooks: [name],
                message: `${notebookPath(name)} is not accepted: the notebook's own settings, such as {} for every default ` +
                    `or {"instanceType": "g5.xlarge"}`,
            });
        }
    }
    return entries;
}

/**
 * The values a notebook's entry is read with: the top-level values it inherits (all but the
 * entries and the account's budget, and the candidate types when the entry names its own,
 * instanceType or instanceTypes), its own over them.
 */
export function entryLayers(values: ConfigValues, own: ReadonlyMap<string, string>): Map<string, string> {
    const ownTypes = own.has("instanceType") || own.has("instanceTypes");
    const inherited = [...values].filter(([key]) => !["notebooks", "monthlyBudgetUsd", "alertEmail"].includes(key) &&
        !(ownTypes && (key === "instanceType" || key === "instanceTypes")));
    return new Map([...inherited, ...own]);
}

/** An entry's own values, as the text a top-level key holds; a key an entry may not set is a problem. */
export function entryValues(name: string, entry: Record<string, unknown>, problems: Problem[]): Map<string, string> {
    const own = new Map<string, string>();
    for (const [key, value] of Object.entries(entry)) {
        if ((PER_NOTEBOOK_KEYS as readonly string[]).includes(key)) {
            own.set(key, entryText(value));
        } else if ((ACCOUNT_KEYS as readonly string[]).includes(key)) {
            problems.push({
                key, notebooks: [name],
                message: `${notebookPath(name, key)} = ${show(value)} is not accepted: ${WHY_TOP_LEVEL[key as AccountKey]}, ` +
                    `so it is set once, at the top level (${CONFIG_NAMESPACE}:${key}), for every notebook`,
            });
        } else {
            problems.push({ ...unknownKeyProblem(key, PER_NOTEBOOK_KEYS, (known) => notebookPath(name, known)), notebooks: [name] });
        }
    }
    return own;
}

/** A stack of several notebooks: each entry of `notebooks` over the top-level keys, the budget once. */
export function parseFleet(values: ConfigValues, text: string, problems: Problem[]): FleetSettings {
    const entries = notebookEntries(text, problems);
    const budgetParse: Problem[] = [];
    const budget = budgetOf(values, budgetParse);
    problems.push(...budgetParse, ...budgetProblems(budget).filter((p) => !budgetParse.some((parse) => parse.key === p.key)));

    const notebooks: NamedSettings[] = [];
    const found: NotebookProblems[] = [];
    for (const [name, entry] of entries) {
        const own = entryValues(name, entry, problems);
        const checked = checkValues(entryLayers(values, own));
        found.push({ name, ownKeys: new Set(own.keys()), problems: checked.problems });
        if (checked.settings) {
            notebooks.push({ name, settings: checked.settings, ownKeys: new Set(own.keys()) });
        }
    }
    problems.push(...notebookProblems(found));
    if (problems.length > 0) {
        throw new DeployRefused(problems);
    }
    const { monthlyBudgetUsd, alertEmail } = budget;
    return {
        kind: "fleet",
        notebooks,
        budget: monthlyBudgetUsd !== undefined && alertEmail !== undefined ? { monthlyBudgetUsd, alertEmail } : undefined,
    };
}

/** "notebook alice", "notebooks alice and bob". */
function notebooksNamed(names: string[]): string {
    return `notebook${names.length === 1 ? "" : "s"} ${inWords(names)}`;
}

/**
 * The problems of a stack's notebooks as one list. A setting a notebook's entry sets is named by
 * its path in that entry. A problem of an inherited setting or of the account, which several
 * notebooks may share, is listed once, after the notebooks it concerns, or without names when
 * it concerns them all; those come first, as fixing the top level fixes them everywhere.
 */
export function notebookProblems(found: NotebookProblems[]): Problem[] {
    const shared = new Map<string, Problem & { notebooks: string[] }>();
    const own: Problem[] = [];
    for (const { name, ownKeys, problems } of found) {
        for (const each of problems) {
            const setting = settingName(each.key ?? "");
            if (each.key !== undefined && ownKeys.has(each.key) && each.message.startsWith(setting)) {
                own.push({ ...each, notebooks: [name], message: notebookPath(name, each.key) + each.message.slice(setting.length) });
                continue;
            }
            const id = `${each.key} ${each.message}`;
            const same = shared.get(id);
            if (same) {
                same.notebooks.push(name);
            } else {
                shared.set(id, { ...each, notebooks: [name] });
            }
        }
    }
    const everywhere = (names: string[]) => names.length === found.length && found.length > 1;
    return [
        ...[...shared.values()].map((p) => everywhere(p.notebooks) ? p : { ...p, message: `${notebooksNamed(p.notebooks)}: ${p.message}` }),
        ...own,
    ];
}
