// How `npm run plan` lays out its text: every line within WIDTH columns wherever a word allows it
// (a URL or an ARN longer than the room is never cut), prose and refusals wrapped under their own
// indent or bullet, tables with their last column wrapped beside the others or, where the others
// leave it too little room, below its row.

/** The widest line the plan prints: a terminal's 100 columns. */
export const WIDTH = 100;
/** A table's last column narrower than this reads as a ribbon: it goes below its row instead. */
const MIN_LAST_COLUMN = 30;
/** Where a table's last column starts when it goes below its row. */
const BELOW_INDENT = "      ";

/** The words of `text` in lines of at most `width` columns; a longer word stands alone on its line. */
export function wrapWords(text: string, width: number): string[] {
    const lines: string[] = [];
    let line = "";
    for (const word of text.split(" ").filter((each) => each !== "")) {
        if (line !== "" && line.length + 1 + word.length > width) {
            lines.push(line);
            line = word;
        } else {
            line = line === "" ? word : `${line} ${word}`;
        }
    }
    return line === "" && lines.length > 0 ? lines : [...lines, line];
}

/**
 * One line of prose as lines within `width`: the continuation lines start under the text after
 * the line's bullet ("  - "), or two further in than an indented line without one, so a wrapped
 * item still reads as one; a paragraph at the margin goes on at the margin, or at `hangAtMargin`.
 */
export function fitLine(line: string, width = WIDTH, hangAtMargin = ""): string[] {
    if (line.length <= width) {
        return [line];
    }
    const lead = /^ *(- )?/.exec(line)?.[0] ?? "";
    const hang = lead === "" ? hangAtMargin : " ".repeat(lead.length + (lead.endsWith("- ") ? 0 : 2));
    return wrapWords(line.slice(lead.length), width - hang.length).map((text, index) => `${index === 0 ? lead : hang}${text}`);
}

/** Every line of `text` fitted within `width`. */
export function fitText(text: string, width = WIDTH): string {
    return text.split("\n").flatMap((line) => fitLine(line, width)).join("\n");
}

/**
 * Rows as a table indented by two: columns padded to their widest cell, the last one wrapped
 * within `width`, beside the others while they leave it room for its widest cell or
 * MIN_LAST_COLUMN, else below each row.
 */
export function table(rows: string[][], width = WIDTH): string[] {
    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
    const head = (row: string[]) => `  ${row.slice(0, -1).map((cell, column) => cell.padEnd(widths[column])).join("  ")}`;
    const lead = head(rows[0]).length + 2;
    const widest = widths[widths.length - 1];
    const beside = width - lead >= Math.min(widest, MIN_LAST_COLUMN);
    return rows.flatMap((row) => {
        const last = row[row.length - 1];
        if (beside) {
            return wrapWords(last, width - lead).map((text, index) => `${index === 0 ? `${head(row)}  ` : " ".repeat(lead)}${text}`.trimEnd());
        }
        return [head(row).trimEnd(), ...(last === "" ? [] : wrapWords(last, width - BELOW_INDENT.length).map((text) => BELOW_INDENT + text))];
    });
}
