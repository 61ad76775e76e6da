/* The API reference, rendered from /openapi.json with no external assets (works offline). */
(function () {
  "use strict";
  const main = document.getElementById("docs");
  const h = (tag, attrs, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined) node.append(kid instanceof Node ? kid : String(kid));
    return node;
  };
  const prose = (text) => String(text).split("``").map((part, i) => (i % 2 ? h("code", {}, part) : part));
  let spec = {};
  const ref = (schema) => {
    if (schema && schema.$ref) return ref(spec.components.schemas[schema.$ref.split("/").pop()]);
    return schema || {};
  };
  const typeOf = (schema) => {
    const s = ref(schema);
    if (s.anyOf) return s.anyOf.map(typeOf).join(" | ");
    if (s.type === "array") return `${typeOf(s.items)}[]`;
    return s.type || (s.properties ? "object" : "any");
  };
  function fields(schema) {
    const s = ref(schema);
    if (!s.properties) return h("code", {}, typeOf(s));
    const required = new Set(s.required || []);
    return h("table", {}, h("tbody", {}, Object.entries(s.properties).map(([name, p]) =>
      h("tr", {}, h("td", {}, h("code", {}, name), required.has(name) ? " *" : ""), h("td", { class: "mono" }, typeOf(p)),
        h("td", { class: "muted" }, ref(p).description || p.description || (p.default !== undefined ? `default ${JSON.stringify(p.default)}` : ""))))));
  }
  function operation(path, method, op) {
    const params = (op.parameters || []).map((p) => h("tr", {}, h("td", {}, h("code", {}, p.name), p.required ? " *" : ""),
      h("td", { class: "muted" }, p.in), h("td", { class: "mono" }, typeOf(p.schema)), h("td", { class: "muted" }, p.description || "")));
    const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
    return h("div", { class: "card" },
      h("h2", {}, h("span", { class: `badge ${method === "get" ? "completed" : method === "delete" ? "failed" : "running"}` }, method.toUpperCase()), " ",
        h("code", {}, path), " ", h("span", { class: "muted" }, op.summary || "")),
      op.description ? h("p", {}, prose(op.description)) : "",
      params.length ? h("div", {}, h("h3", {}, "Parameters"), h("table", {}, h("tbody", {}, params))) : "",
      body ? h("div", {}, h("h3", {}, "JSON body"), fields(body.schema)) : "",
      h("h3", {}, "Responses"), h("p", { class: "muted" }, Object.entries(op.responses || {}).map(([code, r]) => `${code} ${r.description}`).join(" · ")));
  }
  fetch("/openapi.json").then((r) => r.json()).then((data) => {
    spec = data;
    const groups = {};
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) (groups[(op.tags || ["other"])[0]] = groups[(op.tags || ["other"])[0]] || []).push([path, method, op]);
    }
    main.replaceChildren(h("h1", {}, `${spec.info.title} ${spec.info.version}`), h("p", { class: "muted" }, spec.info.description || ""),
      h("p", {}, "Errors are ", h("code", {}, '{"error": {"type", "message"}}'), ". With tokens configured, send ", h("code", {}, "Authorization: Bearer TOKEN"), "."),
      ...Object.entries(groups).flatMap(([tag, ops]) => [h("h1", {}, tag), ...ops.map(([p, m, op]) => operation(p, m, op))]));
  }).catch((e) => main.replaceChildren(h("p", { class: "error" }, `Cannot load /openapi.json: ${e}`)));
})();
