// The program's import graph, as numbers: modules, arrows that run back up the layers, circles.
// Layers, bottom up: components/ (the program's parts), index.ts (the program), scripts/lib/ (what
// the scripts share, the query program among them), scripts/ (the user's commands). An arrow is a
// TypeScript/JavaScript import or require of a relative path, a shell `.` (source) of a file, or a
// shell line that runs a .ts/.js file with node (`node … file.js`, the transpile cache's
// `--require ts-require.js … file.ts`). An arrow from a layer to one above it runs back up; a
// circle is a set of modules that reach each other (a strongly connected component).
//   node --require ./scripts/lib/ts-require.js test/bench/import-graph.ts [ROOT]
// prints the numbers and each back arrow and circle; exits 1 when there is either.
import { existsSync, readdirSync, readFileSync, statSync } from "fs";
import * as path from "path";

const root = path.resolve(process.argv[2] ?? path.join(__dirname, "..", ".."));

const LAYERS: [string, (file: string) => boolean][] = [
    ["components", (file) => file.startsWith("components/")],
    ["index.ts", (file) => file === "index.ts"],
    ["scripts/lib", (file) => file.startsWith("scripts/lib/")],
    ["scripts", (file) => file.startsWith("scripts/")],
];

function layerOf(file: string): number {
    return LAYERS.findIndex(([, holds]) => holds(file));
}

/** Every module: .ts and .js files, and shell files (.sh, or a #! bash script) in the layers. */
function modules(): string[] {
    const found: string[] = [];
    const walk = (dir: string) => {
        for (const entry of readdirSync(path.join(root, dir))) {
            const file = dir ? `${dir}/${entry}` : entry;
            if (statSync(path.join(root, file)).isDirectory()) {
                walk(file);
            } else if (layerOf(file) >= 0 && (/\.(ts|js|sh)$/.test(file) || /^#!.*bash/.test(readFileSync(path.join(root, file), "utf8")))) {
                found.push(file);
            }
        }
    };
    for (const top of ["components", "scripts"]) {
        walk(top);
    }
    return existsSync(path.join(root, "index.ts")) ? [...found, "index.ts"] : found;
}

/** The module a relative reference from `from` names, if it is one. */
function resolve(from: string, reference: string, known: Set<string>): string | undefined {
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), reference));
    return [base, `${base}.ts`, `${base}.js`, `${base}/index.ts`].find((candidate) => known.has(candidate));
}

function arrows(file: string, known: Set<string>): string[] {
    const text = readFileSync(path.join(root, file), "utf8");
    const found = new Set<string>();
    if (/\.(ts|js)$/.test(file)) {
        for (const match of text.matchAll(/(?:from\s+|require\(\s*|import\s+)["'](\.{1,2}\/[^"']+)["']/g)) {
            const target = resolve(file, match[1], known);
            if (target) found.add(target);
        }
    } else {
        for (const line of text.split("\n").filter((line) => !/^\s*#/.test(line))) {
            // A sourced file: `. "$(dirname …)/x.sh"`, `. "${BASH_SOURCE[0]%/*}/x.sh"`, `. scripts/lib/x.sh`.
            const sourced = /^\s*\.\s+"?([^"\s]+)"?/.exec(line)?.[1];
            // A file run with node, named as a path that ends in .ts or .js.
            const run = /\bnode\b/.test(line) ? [...line.matchAll(/([\w.${}\[\]%*/"()-]*?)([\w.-]+\.(?:ts|js))\b/g)].map((m) => m[2]) : [];
            for (const name of [...(sourced ? [path.posix.basename(sourced)] : []), ...run]) {
                const target = [...known].find((candidate) => candidate.startsWith("scripts/") && path.posix.basename(candidate) === name);
                if (target && target !== file) found.add(target);
            }
        }
    }
    return [...found];
}

/** Tarjan's strongly connected components with more than one module. */
function circles(graph: Map<string, string[]>): string[][] {
    let index = 0;
    const order = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>();
    const found: string[][] = [];
    const visit = (node: string) => {
        order.set(node, index);
        low.set(node, index++);
        stack.push(node);
        onStack.add(node);
        for (const next of graph.get(node) ?? []) {
            if (!order.has(next)) {
                visit(next);
                low.set(node, Math.min(low.get(node)!, low.get(next)!));
            } else if (onStack.has(next)) {
                low.set(node, Math.min(low.get(node)!, order.get(next)!));
            }
        }
        if (low.get(node) === order.get(node)) {
            const component: string[] = [];
            let member: string;
            do {
                member = stack.pop()!;
                onStack.delete(member);
                component.push(member);
            } while (member !== node);
            if (component.length > 1) found.push(component.sort());
        }
    };
    for (const node of graph.keys()) {
        if (!order.has(node)) visit(node);
    }
    return found;
}

const all = modules();
const known = new Set(all);
const graph = new Map(all.map((file) => [file, arrows(file, known)]));
const upward = [...graph].flatMap(([from, targets]) => targets.filter((to) => layerOf(to) > layerOf(from)).map((to) => `${from} -> ${to}`));
const loops = circles(graph);
console.log(`modules: ${all.length}, arrows: ${[...graph.values()].reduce((sum, targets) => sum + targets.length, 0)}, ` +
    `arrows back up the layers: ${upward.length}, circles: ${loops.length}`);
upward.forEach((arrow) => console.log(`  up: ${arrow}`));
loops.forEach((loop) => console.log(`  circle: ${loop.join(" <-> ")}`));
process.exit(upward.length + loops.length > 0 ? 1 : 0);
