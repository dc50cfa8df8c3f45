// Prints, one VAR=value a line, the environment a gateway gets from the deployment files, so deploy/validate.sh can
// start the real gateway with it:
//
//   node env-of.mjs compose RENDERED.yml SERVICE   the service's environment in "docker-compose config" output
//   node env-of.mjs k8s DIR                        the ConfigMap's data and the Secret's keys (envFrom of deployment.yaml)
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";

const [mode, source, service] = process.argv.slice(2);
let environment = {};
if (mode === "compose") {
  const rendered = yaml.load(fs.readFileSync(source, "utf8"));
  environment = rendered?.services?.[service]?.environment;
  if (!environment) throw new Error(`no environment for service ${service}`);
} else if (mode === "k8s") {
  const docs = fs.readdirSync(source).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .flatMap((f) => yaml.loadAll(fs.readFileSync(path.join(source, f), "utf8")))
    .filter((d) => d && typeof d === "object");
  const deployment = docs.find((d) => d.kind === "Deployment" && d.metadata?.name === "ssecluster-gateway");
  const container = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === "gateway");
  if (!container) throw new Error("no gateway container in a Deployment ssecluster-gateway");
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      Object.assign(environment, docs.find((d) => d.kind === "ConfigMap" && d.metadata?.name === from.configMapRef.name)?.data ?? {});
    }
    if (from.secretRef) {
      const secret = docs.find((d) => d.kind === "Secret" && d.metadata?.name === from.secretRef.name) ?? {};
      for (const [key, value] of Object.entries(secret.data ?? {})) environment[key] = Buffer.from(value, "base64").toString("utf8");
      Object.assign(environment, secret.stringData ?? {});
    }
  }
  for (const e of container.env ?? []) if (typeof e.value === "string") environment[e.name] = e.value;
} else {
  throw new Error("usage: env-of.mjs compose RENDERED.yml SERVICE | env-of.mjs k8s DIR");
}
for (const [key, value] of Object.entries(environment)) {
  if (String(value).includes("\n")) throw new Error(`${key} spans several lines`);
  console.log(`${key}=${value ?? ""}`);
}
