// Which keys of the raw config map this program reads, and what a key it does not read was most
// likely meant to be: a typo in the name, or this program's key in another namespace.
import { Problem } from "./problems";
import { CONFIG_KEYS, CONFIG_NAMESPACE, settingName } from "./schema";
import { editDistance, nearest } from "./words";

/** A key this program does not read, named as the user wrote it, with the known key it likely misspells. */
export function unknownKeyProblem(key: string, known: readonly string[], nameOf: (key: string) => string): Problem {
    const near = nearest(key, known);
    return {
        key,
        message: `${nameOf(key)} is not a setting this program reads` +
            (near ? `; did you mean ${nameOf(near)}?` : "; docs/configuration.md lists every setting"),
    };
}

/**
 * A key of another namespace that was surely meant for this program: its namespace is a slip away
 * from this one (gpu_notebook:), or its name is one of the settings (notebook:instanceType). Left
 * alone, it would deploy the defaults without a word. Undefined for any other key (aws:region).
 */
function misplacedKeyProblem(namespace: string, key: string): Problem | undefined {
    const setting = nearest(key, CONFIG_KEYS);
    if (editDistance(namespace, CONFIG_NAMESPACE) > 2 && !(CONFIG_KEYS as readonly string[]).includes(key)) {
        return undefined;
    }
    return {
        key: `${namespace}:${key}`,
        message: `${namespace}:${key} is not read: this program's settings are in the namespace ${CONFIG_NAMESPACE}; ` +
            `did you mean ${settingName(setting ?? key)}?`,
    };
}

/** This project's values of the raw config map, by key without the namespace; an unknown key is a problem. */
export function namespaceValues(raw: Record<string, string>, problems: Problem[]): Map<string, string> {
    const values = new Map<string, string>();
    for (const [fullKey, value] of Object.entries(raw)) {
        const [namespace, key] = fullKey.includes(":") ? fullKey.split(":", 2) : [CONFIG_NAMESPACE, fullKey];
        if (namespace !== CONFIG_NAMESPACE) {
            const misplaced = misplacedKeyProblem(namespace, key);
            problems.push(...(misplaced ? [misplaced] : []));
            continue;
        }
        if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
            problems.push(unknownKeyProblem(key, CONFIG_KEYS, settingName));
            continue;
        }
        values.set(key, value);
    }
    return values;
}
