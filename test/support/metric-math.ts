// A test-only evaluator of the CloudWatch metric math the idle backstop uses (numbers, metric ids,
// FILL and IF), and of a metric-math alarm's decision, so a test can check what the alarm computes
// from series of datapoints, not only the expression's text. Semantics, from the CloudWatch user
// guide ("Using metric math", "Evaluating an alarm"):
// - FILL(TS, S) gives the series a value in every period: its own where it has one, else S (a
//   metric with no datapoint at all included: AWS's own advice for vended metrics that publish
//   nothing when nothing happens, aws/aws-sdk-js-v3#6873);
// - IF(condition, trueValue, falseValue) works point by point: where the condition's value is
//   non-zero it takes trueValue's, where it is zero falseValue's; a scalar counts in every period,
//   and where the condition (or the value taken) has no datapoint there is none in the result;
// - the alarm looks at the newest `evaluationPeriods` values and goes to ALARM when at least
//   `datapointsToAlarm` of them breach; a missing value counts as treatMissingData says.

/** One value per period, oldest first; undefined where the metric has no datapoint. */
export type Series = (number | undefined)[];

type Value = number | Series;

function pointAt(value: Value, period: number): number | undefined {
    return typeof value === "number" ? value : value[period];
}

/** Evaluates `expression` over `periods` periods with `metrics` (by id). Throws on what it does not know. */
export function evaluate(expression: string, metrics: Record<string, Series>, periods: number): Series {
    const tokens = expression.match(/[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[(),]|\S/g) ?? [];
    let position = 0;
    const next = (): string => {
        const token = tokens[position++];
        if (token === undefined) {
            throw new Error(`unexpected end of ${expression}`);
        }
        return token;
    };
    const expect = (wanted: string) => {
        const token = next();
        if (token !== wanted) {
            throw new Error(`expected ${wanted}, found ${token} in ${expression}`);
        }
    };
    const argumentsOf = (count: number): Value[] => {
        expect("(");
        const values: Value[] = [];
        for (let index = 0; index < count; index++) {
            if (index > 0) {
                expect(",");
            }
            values.push(parse());
        }
        expect(")");
        return values;
    };
    const perPeriod = (value: (period: number) => number | undefined): Series => Array.from({ length: periods }, (_, period) => value(period));

    function parse(): Value {
        const token = next();
        if (/^\d/.test(token)) {
            return Number(token);
        }
        if (token === "FILL") {
            const [series, filler] = argumentsOf(2);
            if (typeof series === "number" || typeof filler !== "number") {
                throw new Error(`FILL takes a series and a number in ${expression}`);
            }
            return perPeriod((period) => series[period] ?? filler);
        }
        if (token === "IF") {
            const [condition, whenTrue, whenFalse] = argumentsOf(3);
            return perPeriod((period) => {
                const test = pointAt(condition, period);
                return test === undefined ? undefined : pointAt(test !== 0 ? whenTrue : whenFalse, period);
            });
        }
        const series = metrics[token];
        if (!series) {
            throw new Error(`unknown function or metric ${token} in ${expression}`);
        }
        return series;
    }

    const result = parse();
    if (position !== tokens.length) {
        throw new Error(`unexpected ${tokens[position]} in ${expression}`);
    }
    return typeof result === "number" ? perPeriod(() => result) : result;
}

/** The alarm settings that decide its state from the expression's values. */
export interface AlarmRule {
    comparisonOperator: string;
    threshold: number;
    evaluationPeriods: number;
    datapointsToAlarm: number;
    treatMissingData: string;
}

const COMPARISONS: Record<string, (value: number, threshold: number) => boolean> = {
    LessThanThreshold: (value, threshold) => value < threshold,
    LessThanOrEqualToThreshold: (value, threshold) => value <= threshold,
    GreaterThanThreshold: (value, threshold) => value > threshold,
    GreaterThanOrEqualToThreshold: (value, threshold) => value >= threshold,
};

/** ALARM or OK for the newest evaluationPeriods values of `values`. */
export function alarmState(values: Series, rule: AlarmRule): "ALARM" | "OK" {
    const breaches = COMPARISONS[rule.comparisonOperator];
    if (!breaches || !["breaching", "notBreaching"].includes(rule.treatMissingData)) {
        throw new Error(`this evaluator knows no ${rule.comparisonOperator} with treatMissingData ${rule.treatMissingData}`);
    }
    const breaching = values.slice(-rule.evaluationPeriods)
        .filter((value) => (value === undefined ? rule.treatMissingData === "breaching" : breaches(value, rule.threshold))).length;
    return breaching >= rule.datapointsToAlarm ? "ALARM" : "OK";
}
