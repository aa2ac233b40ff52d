// What a script asks of a stack's config: what `pulumi config --json --show-secrets` prints (it may
// hold secrets, so it travels on stdin), read by the deploy's own parser (components/config/), so a
// rule of the config exists once. The query program (query.ts) answers the scripts with it; what is
// deployed is read from the stack outputs instead (stack-outputs.ts).
import { ConfiguredNotebook, configuredStack, CONFIG_NAMESPACE } from "../../components/config";

import { readStackConfig } from "./stack-file";

/** One key as `pulumi config --json` lists it. */
interface ListedValue { value?: string; objectValue?: unknown; secret?: boolean }

/** The listing of `pulumi config --json --show-secrets`, by full key. */
export type ConfigListing = Record<string, ListedValue>;

/** What a script asks about the config: each notebook as the deploy would read it. */
export class ConfigView {
    readonly kind: "single" | "fleet";
    readonly notebooks: ConfiguredNotebook[];

    constructor(private readonly listing: ConfigListing) {
        ({ kind: this.kind, notebooks: this.notebooks } = configuredStack(rawConfig(listing)));
    }

    /**
     * The config of the stack file as the CLI would hand it to the program (scripts/stack-file.ts,
     * which refuses what the CLI refuses), each value listed as its text: what the table needs
     * (names, running) reads the same; an encrypted value is a stand-in.
     */
    static ofStackFile(file: string, stack: string): ConfigView {
        const { config } = readStackConfig(file, stack);
        return new ConfigView(Object.fromEntries(Object.entries(config).map(([key, value]) => [key, { value }])));
    }

    /** The notebooks' names, sorted; null for a stack of one notebook (no `notebooks`). */
    names(): string[] | null {
        return this.kind === "fleet" ? this.notebooks.map((notebook) => notebook.name) : null;
    }

    /** The notebook ("" for the one of a stack without names); undefined when the config has none such. */
    notebook(name: string): ConfiguredNotebook | undefined {
        return this.notebooks.find((notebook) => notebook.name === name);
    }

    /**
     * The networks that may reach the notebook, and where they are set, which decides how to change
     * them: "list" or "text" (networks separated by commas, which the deploy also reads) at the
     * notebook's own key, "inherited" from the top-level list, or "unset". Refuses a list the
     * deploy would refuse, with the deploy's words.
     */
    allowedCidrs(name: string): { origin: "list" | "text" | "inherited" | "unset"; entries: string[] } {
        const notebook = this.notebook(name);
        if (notebook === undefined) {
            throw new Error(`the config has no notebook ${name}`);
        }
        const unparsed = notebook.problems.filter((problem) => problem.key === "allowedCidrs");
        if (unparsed.length > 0) {
            throw new Error(unparsed.map((problem) => problem.message).join("; "));
        }
        const entries = notebook.settings.allowedCidrs;
        if (!notebook.ownKeys.has("allowedCidrs")) {
            return { origin: entries.length > 0 ? "inherited" : "unset", entries };
        }
        return { origin: Array.isArray(this.ownValue(name, "allowedCidrs")) ? "list" : "text", entries };
    }

    /** A notebook's own value of `key` as the stack file holds it (a list stays a list). */
    private ownValue(name: string, key: string): unknown {
        if (name === "") {
            const listed = this.listing[`${CONFIG_NAMESPACE}:${key}`];
            return listed?.objectValue ?? listed?.value;
        }
        const notebooks = this.listing[`${CONFIG_NAMESPACE}:notebooks`]?.objectValue as Record<string, Record<string, unknown> | null>;
        return notebooks?.[name]?.[key];
    }
}

/** The config as the engine hands it to the program: every value text, lists and maps as JSON. */
function rawConfig(listing: ConfigListing): Record<string, string> {
    const raw: Record<string, string> = {};
    for (const [key, listed] of Object.entries(listing)) {
        if (listed.objectValue === undefined && listed.value === undefined) {
            // Without --show-secrets the CLI leaves out a value holding any secret, even nested.
            throw new Error(`the stack config ${key} holds a secret and was read without --show-secrets`);
        }
        raw[key] = listed.objectValue !== undefined ? JSON.stringify(listed.objectValue) : listed.value ?? "";
    }
    return raw;
}
