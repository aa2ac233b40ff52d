// The on-instance programs as the user data carries them: without comments, docstrings and blank
// lines. EC2 takes at most 16 KB of user data, and the commented sources no longer fit; the
// repository keeps them as they are, and tests prove each shipped program is the same program.
// Pure and deterministic, like the rest of the renderer.

/**
 * Python without comments, docstrings or blank lines, indented by one space per level; the same
 * program to the interpreter.
 */
export function minifyPython(source: string): string {
    const lines: string[] = [];
    let line = ""; // the statement's text so far (a string spanning lines keeps its newlines)
    let quote: string | undefined; // the open string's delimiter
    let stringStart = -1; // where the open string began in `line`
    let depth = 0; // open brackets: a newline inside them does not end the statement
    let continued = false; // the previous physical line ended with a backslash
    let statementStart = true; // `line` begins a statement, not a continuation of one
    let lastCodeEnd = ""; // the last character of the previous statement
    let pendingPass: number | undefined; // a body emptied by a removed docstring, at this indentation

    const indentation = (text: string) => text.length - text.trimStart().length;
    const endLine = () => {
        const text = line.replace(/\s+$/, "");
        const wasStart = statementStart;
        line = "";
        statementStart = depth === 0 && !continued;
        if (text.trim() === "") {
            return;
        }
        const spaces = indentation(text);
        if (pendingPass !== undefined && spaces < pendingPass) {
            lines.push(" ".repeat(pendingPass / 4) + "pass");
        }
        pendingPass = undefined;
        if (!wasStart) {
            lines.push(text);
            return;
        }
        // One space per level instead of four: Python only compares a statement's indentation
        // with its neighbours'.
        if (spaces % 4 !== 0 || text.includes("\t")) {
            throw new Error(`minifyPython: indentation other than four spaces a level: ${text.trim()}`);
        }
        lines.push(" ".repeat(spaces / 4) + text.trimStart());
    };

    for (let i = 0; i < source.length; i++) {
        const char = source[i];
        if (quote !== undefined) {
            if (char === "\\") {
                line += char + (source[i + 1] ?? "");
                i++;
            } else if (source.startsWith(quote, i)) {
                line += quote;
                i += quote.length - 1;
                quote = undefined;
                const alone = statementStart && stringStart === indentation(line) && depth === 0;
                const lineEnd = source.indexOf("\n", i + 1);
                const rest = source.slice(i + 1, lineEnd === -1 ? source.length : lineEnd);
                // A docstring: a string that is a whole statement and the first of a module or a body.
                if (alone && /^\s*(#.*)?$/.test(rest) && (lastCodeEnd === "" || lastCodeEnd === ":")) {
                    pendingPass = stringStart;
                    line = line.slice(0, stringStart);
                    i += rest.length;
                }
            } else {
                line += char; // newlines too: a string's lines are kept exactly, blank ones included
            }
            continue;
        }
        if (char === "#" && !(i === 0 && source.startsWith("#!"))) {
            while (i + 1 < source.length && source[i + 1] !== "\n") {
                i++;
            }
        } else if (char === "\"" || char === "'") {
            quote = source.startsWith(char.repeat(3), i) ? char.repeat(3) : char;
            stringStart = line.length - (line.match(/[rRbBuUfF]*$/)?.[0].length ?? 0);
            line += quote;
            i += quote.length - 1;
        } else if (char === "\n") {
            const code = line.replace(/\s+$/, "");
            continued = code.endsWith("\\");
            if (depth === 0 && !continued && code.trim() !== "" && !(i === code.length && code.startsWith("#!"))) {
                lastCodeEnd = code[code.length - 1];
            }
            endLine();
        } else {
            depth += "([{".includes(char) ? 1 : ")]}".includes(char) ? -1 : 0;
            line += char;
        }
    }
    endLine();
    if (pendingPass !== undefined) {
        lines.push(" ".repeat(pendingPass / 4) + "pass");
    }
    return lines.join("\n") + "\n";
}

/**
 * A shell script without its comment lines and blank lines; the shebang and shellcheck directives
 * stay. Only whole-line comments outside quotes go; a script with a here-document, where such a
 * line could be data, is refused rather than guessed at.
 */
export function minifyShell(source: string, name: string): string {
    if (/(?<!<)<<(?!<)/.test(source)) {
        throw new Error(`${name}: has a here-document; the shell minifier cannot tell its data from comments`);
    }
    let quote: string | undefined; // an open '...' or "..." carried over from an earlier line
    const kept = source.split("\n").filter((text, index) => {
        const trimmed = text.trim();
        const directive = (index === 0 && trimmed.startsWith("#!")) || trimmed.startsWith("# shellcheck");
        if (quote === undefined && (trimmed === "" || (trimmed.startsWith("#") && !directive))) {
            return false;
        }
        for (let i = 0; i < text.length; i++) {
            const char = text[i];
            if (quote === undefined && char === "#" && (i === 0 || /\s/.test(text[i - 1]))) {
                break; // the rest of the line is a comment
            } else if (char === "\\" && quote !== "'") {
                i++;
            } else if (quote === undefined && (char === "'" || char === "\"")) {
                quote = char;
            } else if (char === quote) {
                quote = undefined;
            }
        }
        return true;
    });
    return kept.join("\n") + "\n";
}
