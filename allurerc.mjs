// Allure 3 (npm `allure`, pinned in package.json) report config for stackproof.
// `npx --no-install allure generate allure-results -o allure-report` picks this file up
// from the working directory; scripts/allure-report.sh wraps it.
import { defineConfig } from "allure";

export default defineConfig({
  name: "stackproof",
  output: "./allure-report",
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
