// The on-instance programs as the user data carries them (components/minify.ts): the same
// programs as their commented sources, which Python itself and bash check here.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";

import { bootFile, shipped } from "../components/boot";
import { minifyPython, minifyShell } from "../components/minify";
import { DEBIAN_PYTHON, requireCommands } from "./support/system";

/**
 * Python's own view of a program: its syntax tree, with docstrings dropped (a body left empty by
 * that reads as `pass`). Two sources with the same result are the same program.
 */
const AST_WITHOUT_DOCSTRINGS = [
    "import ast, sys",
    "def program(source):",
    "    tree = ast.parse(source)",
    "    for node in ast.walk(tree):",
    "        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body \\",
    "                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \\",
    "                and isinstance(node.body[0].value.value, str):",
    "            node.body = node.body[1:] or [ast.Pass()]",
    "    return ast.dump(tree)",
    "sources = sys.stdin.read().split('\\0')",
    "print(all(program(source) == program(sources[0]) for source in sources))",
].join("\n");

function samePrograms(...sources: string[]): boolean {
    return execFileSync(DEBIAN_PYTHON, ["-c", AST_WITHOUT_DOCSTRINGS], { input: sources.join("\0"), encoding: "utf8" }).trim() === "True";
}

describe("the programs the user data carries", function () {
    before(function () {
        requireCommands(this, DEBIAN_PYTHON, "bash");
    });

    describe("Python", () => {
        it("is each shipped program without comments, docstrings or blank lines, and still the same program", () => {
            assert.ok(!samePrograms("x = 1\n", "x = 2\n"), "the comparison tells programs apart");
            assert.ok(!samePrograms("def f():\n    'Doc.'\n    g()\n", "def f():\n    g()\n    'Doc.'\n"), "a string that moved is no docstring");
            for (const name of ["idle-watcher.py", "gpu-notebook-job"]) {
                const source = bootFile(name);
                const carried = shipped(name, source);
                assert.ok(samePrograms(source, carried), `${name} is another program once minified`);
                assert.ok(carried.length < source.length * 0.9, `${name}: ${source.length} → ${carried.length} bytes`);
                assert.ok(carried.startsWith("#!/usr/bin/python3\n"), "the interpreter line stays");
                assert.doesNotMatch(carried, /^\s*#(?!!)/m, "no comment line is left");
                assert.doesNotMatch(carried, /\n\s*\n/, "no blank line is left");
            }
        });

        it("keeps what only looks like a comment or a docstring", () => {
            const source = [
                "#!/usr/bin/python3",
                '"""Module docstring, # not a comment."""',
                "import re  # a comment",
                "",
                "URL = 'https://example.org/#fragment'  # the fragment stays",
                'TEXT = """first',
                "",
                "# inside a string, kept",
                '    indented line"""',
                "RAW = r'\\' # still a string'",
                "ESCAPED = \"say \\\"#hi\\\"\"",
                "FORMAT = f\"{URL!r} # {len(TEXT)}\"",
                "",
                "",
                "class Empty(Exception):",
                '    """Only a docstring: the body becomes pass."""',
                "",
                "",
                "def function(a,",
                "             b):  # a continuation keeps its own indentation",
                "    '''Docstring in single quotes.'''",
                "    total = (a +",
                "        b)",
                "    if total:",
                "        return [",
                "            total,  # trailing",
                "        ]",
                "    return 'not a docstring'",
                "",
                "",
                "def other():",
                '    """Docstring."""',
                "    value = 1 \\",
                "        + 2",
                "    return value",
                "",
            ].join("\n");
            const carried = minifyPython(source);
            assert.ok(samePrograms(source, carried), carried);
            for (const kept of ["#fragment", "# inside a string, kept", "# still a string", '\\"#hi\\"', " # {len(TEXT)}", "\n\n# inside", "'not a docstring'"]) {
                assert.ok(carried.includes(kept), `keeps ${kept}:\n${carried}`);
            }
            for (const gone of ["# a comment", "# the fragment stays", "# trailing", "Module docstring", "Only a docstring", "Docstring"]) {
                assert.ok(!carried.includes(gone), `drops ${gone}:\n${carried}`);
            }
            assert.match(carried, /^class Empty\(Exception\):\n pass$/m);
            assert.match(carried, /^def function\(a,\n {13}b\):\n total = \(a \+\n {8}b\)\n if total:\n  return \[$/m);
        });

        it("refuses indentation it cannot shorten safely", () => {
            assert.throws(() => minifyPython("if True:\n  x = 1\n"), /indentation other than four spaces a level: x = 1/);
            assert.throws(() => minifyPython("if True:\n\tx = 1\n"), /indentation other than four spaces a level/);
            assert.strictEqual(minifyPython("if True:\n    x = 1\n"), "if True:\n x = 1\n");
        });
    });

    describe("shell", () => {
        it("is each shipped script without comment lines and blank lines, and still valid bash", () => {
            for (const name of ["mount-data-volume.sh", "prepare-jupyter.sh"]) {
                const source = bootFile(name);
                const carried = shipped(name, source);
                const kept = source.split("\n").filter((line) => line.trim() !== "" && !/^\s*#(?!!)(?! shellcheck)/.test(line));
                assert.deepStrictEqual(carried.trimEnd().split("\n"), kept, `${name}: only whole comment lines and blank lines go`);
                const syntax = spawnSync("bash", ["-n"], { input: carried, encoding: "utf8" });
                assert.strictEqual(syntax.status, 0, syntax.stderr);
            }
        });

        it("keeps a # that is not a comment and a comment line inside a multi-line string", () => {
            const source = ["#!/bin/bash", "# shellcheck disable=SC2034", "# a comment", "", 'n="$#" # count', "text='line one", "# part of the text", "'", ""].join("\n");
            assert.strictEqual(minifyShell(source, "x.sh"), ["#!/bin/bash", "# shellcheck disable=SC2034", 'n="$#" # count', "text='line one", "# part of the text", "'", ""].join("\n"));
        });

        it("refuses a here-document, whose lines may be data, and accepts a here-string", () => {
            assert.throws(() => minifyShell("cat <<EOF\n# data\nEOF\n", "x.sh"), /x\.sh: has a here-document/);
            assert.strictEqual(minifyShell("read -r a <<<\"$b\"\n", "x.sh"), "read -r a <<<\"$b\"\n");
        });
    });

    it("keeps systemd units and tmpfiles entries whole, but for comment lines and blank lines", () => {
        assert.strictEqual(shipped("x.service", "[Unit]\n# why\nDescription=x # not a comment to systemd\n\n[Service]\nExecStart=/bin/true\n"),
            "[Unit]\nDescription=x # not a comment to systemd\n[Service]\nExecStart=/bin/true\n");
    });
});
