// Validates the Kubernetes manifests of a directory offline (default: this one).
//
//   node validate.mjs [DIR]
//
// 1. Every object of every *.yaml (except kustomization.yaml) against the Kubernetes schemas (kubernetes-models).
//    An unknown apiVersion/kind fails.
// 2. Field names: kubernetes-models does not reject unknown fields, so every field name outside free-form maps
//    (labels, data, resources, ...) must be one the Kubernetes schemas know somewhere: a misspelt field fails.
// 3. What the schemas cannot say: the gateway Deployment's probes, drain timing, security, RBAC for Orleans'
//    Kubernetes hosting, Services and the PodDisruptionBudget selecting the pods, references between objects,
//    the kustomization listing every manifest.
//
// One line per check, then "k8s-validate: N passed, N failed"; exit 1 when any failed.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.resolve(process.argv[2] ?? here);
const schemasDir = path.join(here, "node_modules", "kubernetes-models", "_schemas");

let passed = 0;
let failed = 0;
function check(name, fn) {
  try {
    const problems = fn() ?? [];
    if (problems.length === 0) {
      passed++;
      console.log(`ok    ${name}`);
    } else {
      failed++;
      console.log(`FAIL  ${name}`);
      for (const p of problems) console.log(`        ${p}`);
    }
  } catch (error) {
    failed++;
    console.log(`FAIL  ${name}`);
    console.log(`        ${String(error?.message ?? error).split("\n").join("\n        ")}`);
  }
}

// apiVersion -> module of kubernetes-models ("v1" -> kubernetes-models/v1, "apps/v1" -> kubernetes-models/apps/v1).
async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") throw new Error("apiVersion and kind are required");
  let module;
  try {
    module = await import(`kubernetes-models/${apiVersion}`);
  } catch {
    throw new Error(`unknown apiVersion ${apiVersion}`);
  }
  const model = module[kind];
  if (typeof model !== "function") throw new Error(`unknown kind ${kind} in ${apiVersion}`);
  return model;
}

// Every property name the compiled schemas check (ajv's "data.NAME"), i.e. every field Kubernetes knows.
function knownFieldNames() {
  const names = new Set();
  for (const file of fs.readdirSync(schemasDir)) {
    if (!file.endsWith(".mjs")) continue;
    const text = fs.readFileSync(path.join(schemasDir, file), "utf8");
    for (const m of text.matchAll(/data\.([A-Za-z_$][A-Za-z0-9_$]*)/g)) names.add(m[1]);
  }
  return names;
}

// Maps whose keys are the user's: not field names.
const FREE_FORM = new Set(["labels", "annotations", "matchLabels", "data", "stringData", "binaryData", "nodeSelector", "limits", "requests", "capacity"]);

function unknownFields(value, known, at, kind) {
  const problems = [];
  if (Array.isArray(value)) {
    value.forEach((item, i) => problems.push(...unknownFields(item, known, `${at}[${i}]`, kind)));
  } else if (value && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      const where = at ? `${at}.${key}` : key;
      // Map-typed fields carry no checks of their own, so the schemas never name them: they are known here.
      if (!known.has(key) && !FREE_FORM.has(key)) problems.push(`unknown field ${where}`);
      // A Service's spec.selector is a plain label map (a Deployment's is a LabelSelector).
      if (FREE_FORM.has(key) || (kind === "Service" && where === "spec.selector")) continue;
      problems.push(...unknownFields(child, known, where, kind));
    }
  }
  return problems;
}

function loadManifests() {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
  const objects = [];
  for (const file of files) {
    const docs = yaml.loadAll(fs.readFileSync(path.join(dir, file), "utf8")).filter((d) => d != null);
    docs.forEach((doc, i) => objects.push({ file, index: i, doc }));
  }
  return { files, objects };
}

const sameLabels = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

let loaded;
check(`load ${path.relative(process.cwd(), dir) || "."}/*.yaml`, () => {
  loaded = loadManifests();
  return loaded.objects.length === 0 ? ["no manifests"] : [];
});
if (!loaded) {
  console.log(`k8s-validate: ${passed} passed, ${failed} failed`);
  process.exit(1);
}

const known = knownFieldNames();
for (const { file, index, doc } of loaded.objects) {
  const name = `${file}#${index} ${doc?.kind ?? "?"}/${doc?.metadata?.name ?? "?"}`;
  const model = await modelFor(doc?.apiVersion, doc?.kind).catch((e) => e);
  check(`${name}: schema`, () => {
    if (model instanceof Error) throw model;
    new model(doc).validate();
    return doc.metadata?.name ? [] : ["metadata.name is required"];
  });
  check(`${name}: field names`, () => unknownFields(doc, known, "", doc?.kind));
}

const all = loaded.objects.map((o) => o.doc).filter((d) => d && typeof d === "object");
const find = (kind, name) => all.find((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
const deployment = find("Deployment", "ssecluster-gateway");
const configMap = find("ConfigMap", "ssecluster-gateway");
const secret = find("Secret", "ssecluster-gateway");
const pod = deployment?.spec?.template;
const gateway = pod?.spec?.containers?.find((c) => c.name === "gateway");
const settings = configMap?.data ?? {};

check("gateway Deployment: 3 replicas, one pod at a time, selector matches the pod labels", () => {
  if (!deployment) return ["no Deployment ssecluster-gateway"];
  const p = [];
  if (deployment.spec.replicas !== 3) p.push(`replicas is ${deployment.spec.replicas}, expected 3`);
  if (deployment.spec.strategy?.rollingUpdate?.maxUnavailable !== 0) p.push("rollingUpdate.maxUnavailable must be 0");
  if (!sameLabels(deployment.spec.selector?.matchLabels, pod?.metadata?.labels)) p.push("selector.matchLabels does not match the template's labels");
  return p;
});

const probePath = (probe) => probe?.httpGet?.path;
check("gateway container: /readyz readiness, /healthz liveness and startup probes on the http port", () => {
  if (!gateway) return ["no container named gateway"];
  const p = [];
  if (probePath(gateway.readinessProbe) !== "/readyz") p.push("readinessProbe must GET /readyz");
  if (probePath(gateway.livenessProbe) !== "/healthz") p.push("livenessProbe must GET /healthz");
  if (probePath(gateway.startupProbe) !== "/healthz") p.push("startupProbe must GET /healthz");
  const ports = new Map((gateway.ports ?? []).map((port) => [port.name, port.containerPort]));
  for (const [probe, value] of Object.entries({ readiness: gateway.readinessProbe, liveness: gateway.livenessProbe, startup: gateway.startupProbe })) {
    const port = value?.httpGet?.port;
    if (typeof port === "string" ? !ports.has(port) : port !== ports.get("http")) p.push(`${probe} probe port ${port} is not the http container port`);
  }
  for (const [name, number] of [["http", 8080], ["silo", 11111], ["orleans", 30000]]) {
    if (ports.get(name) !== number) p.push(`container port ${name} must be ${number} (it is ${ports.get(name)})`);
  }
  return p;
});

check("drain: preStop + DrainSeconds + 10 s host margin fit in terminationGracePeriodSeconds", () => {
  const grace = pod?.spec?.terminationGracePeriodSeconds ?? 30;
  const command = gateway?.lifecycle?.preStop?.exec?.command ?? [];
  const preStop = gateway?.lifecycle?.preStop?.sleep?.seconds ?? (command[0] === "sleep" ? Number(command[1]) : NaN);
  const drain = Number(settings.SseCluster__Shutdown__DrainSeconds ?? 10);
  if (!Number.isFinite(preStop)) return ["the gateway needs a preStop sleep (endpoints are removed before SIGTERM starts the drain)"];
  return preStop + drain + 10 <= grace ? [] : [`preStop ${preStop} s + drain ${drain} s + 10 s > terminationGracePeriodSeconds ${grace}`];
});

check("security: non-root, no privilege escalation, read-only root with a writable /tmp, resources set", () => {
  const p = [];
  const podSecurity = pod?.spec?.securityContext ?? {};
  const security = gateway?.securityContext ?? {};
  if (podSecurity.runAsNonRoot !== true && security.runAsNonRoot !== true) p.push("runAsNonRoot must be true");
  if (security.allowPrivilegeEscalation !== false) p.push("allowPrivilegeEscalation must be false");
  if (security.readOnlyRootFilesystem !== true) p.push("readOnlyRootFilesystem must be true");
  if (!(gateway?.volumeMounts ?? []).some((m) => m.mountPath === "/tmp")) p.push("/tmp must be a writable volume");
  if (!gateway?.resources?.requests?.memory || !gateway?.resources?.limits?.memory) p.push("memory request and limit are required");
  return p;
});

check("Orleans Kubernetes hosting: POD_NAME, POD_NAMESPACE, POD_IP, labels equal to the ClusterId/ServiceId settings", () => {
  const p = [];
  const env = new Map((gateway?.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  for (const [name, field] of [["POD_NAME", "metadata.name"], ["POD_NAMESPACE", "metadata.namespace"], ["POD_IP", "status.podIP"]]) {
    if (env.get(name) !== field) p.push(`env ${name} must come from ${field}`);
  }
  if (settings.SseCluster__Orleans__Kubernetes !== "true") p.push("configmap: SseCluster__Orleans__Kubernetes must be \"true\"");
  if (!settings.SseCluster__Redis__Configuration) p.push("configmap: SseCluster__Redis__Configuration is required (Kubernetes hosting needs cluster mode)");
  const labels = pod?.metadata?.labels ?? {};
  const clusterId = settings.SseCluster__Orleans__ClusterId ?? "ssecluster";
  const serviceId = settings.SseCluster__Orleans__ServiceId ?? "ssecluster";
  if (labels["orleans/clusterId"] !== clusterId) p.push(`pod label orleans/clusterId must be ${clusterId}`);
  if (labels["orleans/serviceId"] !== serviceId) p.push(`pod label orleans/serviceId must be ${serviceId}`);
  for (const e of gateway?.env ?? []) {
    if (e.name === "ORLEANS_CLUSTER_ID" || e.name === "ORLEANS_SERVICE_ID") p.push(`${e.name} is ignored: set SseCluster__Orleans__ClusterId / ServiceId`);
  }
  return p;
});

check("references: ServiceAccount, ConfigMap and Secret exist; the Secret holds the keys", () => {
  const p = [];
  const account = pod?.spec?.serviceAccountName;
  if (!account || !find("ServiceAccount", account)) p.push(`ServiceAccount ${account} is missing`);
  for (const from of gateway?.envFrom ?? []) {
    if (from.configMapRef && !find("ConfigMap", from.configMapRef.name)) p.push(`ConfigMap ${from.configMapRef.name} is missing`);
    if (from.secretRef && !find("Secret", from.secretRef.name)) p.push(`Secret ${from.secretRef.name} is missing`);
  }
  const keys = { ...(secret?.data ?? {}), ...(secret?.stringData ?? {}) };
  if (!("SseCluster__Auth__SigningKey" in keys) && !("SseCluster__Auth__PublicKeyPem" in keys)) p.push("the Secret needs SseCluster__Auth__SigningKey or PublicKeyPem");
  if (!("SseCluster__Auth__SessionKey" in keys)) p.push("the Secret needs SseCluster__Auth__SessionKey (the same on every node)");
  for (const key of Object.keys(settings)) {
    if (/SigningKey|SessionKey|ApiKeys|Password/i.test(key)) p.push(`configmap: ${key} is a secret; keep it in the Secret`);
  }
  return p;
});

check("RBAC: the gateway's ServiceAccount may get, list, watch and patch pods", () => {
  const account = pod?.spec?.serviceAccountName;
  const binding = all.find((d) => d.kind === "RoleBinding" && (d.subjects ?? []).some((s) => s.kind === "ServiceAccount" && s.name === account));
  if (!binding) return [`no RoleBinding for ServiceAccount ${account}`];
  const role = find(binding.roleRef?.kind, binding.roleRef?.name);
  if (!role) return [`the RoleBinding's ${binding.roleRef?.kind} ${binding.roleRef?.name} is missing`];
  const verbs = new Set((role.rules ?? []).filter((r) => (r.apiGroups ?? []).includes("") && (r.resources ?? []).includes("pods")).flatMap((r) => r.verbs ?? []));
  return ["get", "list", "watch", "patch"].filter((v) => !verbs.has(v)).map((v) => `verb ${v} on pods is missing`);
});

check("Services: HTTP and headless silo Services select the gateway pods and target named ports", () => {
  const p = [];
  const labels = pod?.metadata?.labels;
  const ports = new Set((gateway?.ports ?? []).map((port) => port.name));
  const services = all.filter((d) => d.kind === "Service" && sameLabels(d.spec?.selector, labels) && Object.keys(d.spec?.selector ?? {}).length > 0);
  const http = services.find((s) => (s.spec.ports ?? []).some((port) => port.targetPort === "http"));
  const silo = services.find((s) => s.spec.clusterIP === "None");
  if (!http) p.push("no Service targets the http port of the gateway pods");
  if (!silo) p.push("no headless Service for the silo ports");
  else {
    if (silo.spec.publishNotReadyAddresses !== true) p.push("the silo Service must publish not-ready addresses (silos join before they are ready)");
    for (const name of ["silo", "orleans"]) if (!(silo.spec.ports ?? []).some((port) => port.targetPort === name)) p.push(`the silo Service lacks port ${name}`);
  }
  for (const s of services) for (const port of s.spec.ports ?? []) if (typeof port.targetPort === "string" && !ports.has(port.targetPort)) p.push(`Service ${s.metadata.name} targets unknown port ${port.targetPort}`);
  return p;
});

check("PodDisruptionBudget selects the gateway pods and lets one go at a time", () => {
  const pdb = all.find((d) => d.kind === "PodDisruptionBudget" && sameLabels(d.spec?.selector?.matchLabels, pod?.metadata?.labels));
  if (!pdb) return ["no PodDisruptionBudget selects the gateway pods"];
  return pdb.spec.maxUnavailable === 1 || pdb.spec.minAvailable === 2 ? [] : ["expected maxUnavailable 1 (or minAvailable 2)"];
});

check("kustomization.yaml lists every manifest, and only existing ones", () => {
  const file = path.join(dir, "kustomization.yaml");
  if (!fs.existsSync(file)) return ["kustomization.yaml is missing"];
  const kustomization = yaml.load(fs.readFileSync(file, "utf8"));
  const p = [];
  if (kustomization?.kind !== "Kustomization" || kustomization?.apiVersion !== "kustomize.config.k8s.io/v1beta1") p.push("not a kustomize.config.k8s.io/v1beta1 Kustomization");
  const resources = kustomization?.resources ?? [];
  for (const r of resources) if (!fs.existsSync(path.join(dir, r))) p.push(`resource ${r} does not exist`);
  for (const f of loaded.files) if (!resources.includes(f)) p.push(`${f} is not in resources`);
  const image = gateway?.image?.split(":")[0];
  if (!(kustomization?.images ?? []).some((i) => i.name === image)) p.push(`images does not name the gateway image ${image}`);
  return p;
});

console.log(`k8s-validate: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
