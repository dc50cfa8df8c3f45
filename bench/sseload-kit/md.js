// node md.js OUT.jsonl BASELABEL: a markdown row per peer: repeats of deliveries/s, p99, server CPU µs/delivery, KiB/conn, others' CPU; ratios of medians to BASELABEL
const rows = require("fs").readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse);
const base = process.argv[3];
const by = {};
for (const r of rows) { const k = r.label.split("|")[0]; (by[k] ??= []).push(r); }
const med = a => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const short = k => k.replace(/ssecluster@(?:[^+]*\/)?/, "").replace(/DOTNET_/g, "");
const stat = rs => ({ dps: med(rs.map(r => r.deliveries_per_s)), p99: med(rs.map(r => r.lat_ms_p99)), cpu: med(rs.map(r => r.server_cpu_s_scenario * 1e6 / Math.max(1, r.received))), kib: med(rs.map(r => r.server_kb_per_conn)) });
const b = by[base] ? stat(by[base]) : null;
console.log("| peer | deliveries/s (each repeat) | p99 ms | server CPU µs/delivery | KiB/conn | others' CPU (cores) | vs " + short(base || "-") + ": dps / p99 / CPU |");
console.log("|---|---|---|---|---|---|---|");
for (const [k, rs] of Object.entries(by)) {
  const s = stat(rs);
  const rat = b ? `${(s.dps / b.dps).toFixed(2)} / ${(s.p99 / b.p99).toFixed(2)} / ${(s.cpu / b.cpu).toFixed(2)}` : "";
  console.log(`| ${short(k)} | ${rs.map(r => Math.round(r.deliveries_per_s)).join(", ")} | ${rs.map(r => Math.round(r.lat_ms_p99)).join(", ")} | ${rs.map(r => (r.server_cpu_s_scenario * 1e6 / Math.max(1, r.received)).toFixed(1)).join(", ")} | ${rs.map(r => r.server_kb_per_conn).join(", ")} | ${rs.map(r => (r.others_cpu_s_scenario / r.scenario_s).toFixed(2)).join(", ")} | ${rat} |`);
}
