// REST calls, each returning parsed JSON or throwing an ApiError whose message a person can read.

export class ApiError extends Error {
  constructor(message, status, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

/** A readable sentence from a FastAPI `detail`: a string, a list of {loc, msg}, or {message, …}. */
export function formatDetail(detail) {
  if (detail == null) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        if (typeof d === "string") return d;
        const loc = (d.loc || []).filter((p) => p !== "body").join(".");
        return loc ? `${loc}: ${d.msg}` : d.msg;
      })
      .join("; ");
  }
  if (typeof detail === "object" && detail.message) return String(detail.message);
  return JSON.stringify(detail);
}

/** The bpv-csrf cookie the server sets with the page: sent back as X-CSRF-Token, which no other site can do. */
export function csrfToken() {
  const pair = document.cookie.split("; ").find((c) => c.startsWith("bpv-csrf="));
  return pair ? decodeURIComponent(pair.slice("bpv-csrf=".length)) : "";
}

async function request(method, url, { json, form, binary = false } = {}) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") init.headers["X-CSRF-Token"] = csrfToken();
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = form;
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new ApiError("cannot reach the server — is it still running?", 0, null);
  }
  if (!res.ok) {
    let detail = null;
    try {
      detail = (await res.json()).detail;
    } catch {
      detail = null;
    }
    const text = formatDetail(detail) || `${res.status} ${res.statusText}`;
    throw new ApiError(text, res.status, detail);
  }
  if (res.status === 204) return null;
  return binary ? res.arrayBuffer() : res.json();
}

const run = (id) => `/api/runs/${encodeURIComponent(id)}`;

export const api = {
  catalog: () => request("GET", "/api/catalog"),
  health: () => request("GET", "/healthz"),
  datasets: () => request("GET", "/api/datasets"),
  preview: (name, query) => request("GET", `/api/datasets/${encodeURIComponent(name)}?${new URLSearchParams(query)}`),
  createRun: (body) => request("POST", "/api/runs", { json: body }),
  listRuns: (limit = 20, offset = 0) => request("GET", `/api/runs?limit=${limit}&offset=${offset}`),
  getRun: (id) => request("GET", run(id)),
  deleteRun: (id) => request("DELETE", run(id)),
  control: (id, action) => request("POST", `${run(id)}/${action}`),
  step: (id, unit) => request("POST", `${run(id)}/step`, { json: { unit } }),
  patch: (id, body) => request("PATCH", run(id), { json: body }),
  history: (id) => request("GET", `${run(id)}/history`),
  snapshots: (id) => request("GET", `${run(id)}/snapshots`),
  snapshotBinary: (id, epoch) => request("GET", `${run(id)}/snapshots/${epoch}?format=binary`, { binary: true }),
  data: (id) => request("GET", `${run(id)}/data`),
  exportUrl: (id) => `${run(id)}/export`,
  uploadCsv: (form) => request("POST", "/api/datasets", { form }),
  // one step taken apart (docs/walkthrough.md): the run must be paused
  walkthrough: (id, body) => request("POST", `${run(id)}/walkthrough`, { json: body }),
  gradcheck: (id, body) => request("POST", `${run(id)}/gradcheck`, { json: body }),
  whatif: (id, body) => request("POST", `${run(id)}/whatif`, { json: body }),
};
