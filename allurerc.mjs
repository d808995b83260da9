// Allure 3 (npm `allure`, pinned in package.json) report config for stackproof.
// `npx --no-install allure generate allure-results -o allure-report` picks this file up
// from the working directory; scripts/allure-report.sh wraps it.
import { defineConfig } from "allure";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const label = (d, name, value) =>
  (d.labels ?? []).some((l) => l.name === name && (value === undefined || l.value === value));

// One category per root cause of this report's results (label `root_cause` = "<check id> @
// <host>", stackproof.report): the cause and every symptom it explains, together.
// scripts/allure-report.sh names the results directory in STACKPROOF_ALLURE_RESULTS.
const rootCauses = (dir) => {
  if (!dir) return [];
  const roots = new Set();
  for (const f of readdirSync(dir).filter((n) => n.endsWith("-result.json"))) {
    try {
      const r = JSON.parse(readFileSync(join(dir, f), "utf8"));
      if (r.status === "passed") continue;
      for (const l of r.labels ?? []) if (l.name === "root_cause") roots.add(l.value);
    } catch { /* a half-written result: Allure reports it itself */ }
  }
  return [...roots].sort().map((root) => ({
    name: `Root cause: ${root}`,
    matchers: [(d) => d.status !== "passed" && label(d, "root_cause", root)],
  }));
};

export default defineConfig({
  name: "stackproof",
  output: "./allure-report",
  // runs labelled with `--run-label` (make demo: acceptance, remediation, idempotence,
  // after-reboot) are environments of their own: the red run stays red beside the green one
  environments: {
    acceptance: { name: "1 acceptance (before)", matcher: ({ labels }) =>
      labels.some((l) => l.name === "run" && l.value === "acceptance") },
    remediation: { name: "2 --remediate (after)", matcher: ({ labels }) =>
      labels.some((l) => l.name === "run" && l.value === "remediation") },
    idempotence: { name: "3 second --remediate", matcher: ({ labels }) =>
      labels.some((l) => l.name === "run" && l.value === "idempotence") },
    "after-reboot": { name: "4 after a reboot of every host", matcher: ({ labels }) =>
      labels.some((l) => l.name === "run" && l.value === "after-reboot") },
  },
  // what failed, what was fixed, what still fails: root causes apart from their symptoms
  categories: {
    rules: [
      { name: "Remediated", matchers: [(d) => d.status === "passed" && label(d, "remediation")] },
      // symptoms that held once their root cause was fixed: their own fix never ran
      { name: "Cleared when their root cause was fixed", matchers: [(d) =>
          d.status === "passed" && label(d, "cleared_after")] },
      ...rootCauses(process.env.STACKPROOF_ALLURE_RESULTS),
      { name: "Root causes", matchers: [(d) => d.status !== "passed" &&
          label(d, "finding", "root-cause")] },
      { name: "Symptoms (caused elsewhere)", matchers: [(d) => d.status !== "passed" &&
          label(d, "finding", "symptom")] },
    ],
  },
  plugins: {
    awesome: {
      options: {
        reportName: "stackproof",
        // one self-contained index.html: opens from disk, no web server needed
        singleFile: true,
        // the tree: feature, then the inventory host each scenario ran against
        groupBy: ["feature", "target"],
      },
    },
  },
});
