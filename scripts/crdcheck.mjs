// The Prometheus Operator objects of the chart's renders against the operator's own CRD schemas.
//
//   node scripts/crdcheck.mjs NODE_PREFIX FILE.crds.json...
//
// kubernetes-validate has no schema for a CRD; @kubernetes-models/prometheus-operator (npm, installed by
// .ci/tools.sh under NODE_PREFIX) ships the CRDs' OpenAPI schemas compiled into validators. Each FILE is a JSON
// list of objects (scripts/helmcheck.py writes them); a kind without a validator here fails, as does any object
// its schema refuses. Prints one line per file; exits 1 on the first refusal.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, ...files] = process.argv.slice(2);
const models = join(prefix, "node_modules", "@kubernetes-models", "prometheus-operator", "monitoring.coreos.com", "v1");
const KINDS = ["ServiceMonitor", "PrometheusRule"];
const validators = {};
for (const kind of KINDS) {
  validators[kind] = (await import(pathToFileURL(join(models, `${kind}.js`)).href))[kind];
}

for (const file of files) {
  const counts = {};
  for (const doc of JSON.parse(readFileSync(file, "utf8"))) {
    const where = `${file}: ${doc.kind}/${doc.metadata?.name}`;
    const Model = validators[doc.kind];
    if (doc.apiVersion !== "monitoring.coreos.com/v1" || !Model) {
      console.error(`[crdcheck] FAIL: ${where}: no schema for ${doc.apiVersion} ${doc.kind}`);
      process.exit(1);
    }
    try {
      new Model(doc).validate();
    } catch (err) {
      console.error(`[crdcheck] FAIL: ${where}: ${err.message}`);
      process.exit(1);
    }
    counts[doc.kind] = (counts[doc.kind] ?? 0) + 1;
  }
  const summary = Object.keys(counts).sort().map((k) => `${counts[k]} ${k}`).join(", ");
  console.log(`[crdcheck] ${file.split("/").pop()}: ${summary ? `${summary} valid` : "none"}`);
}
