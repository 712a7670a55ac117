// Starts Swagger UI on /docs (static/vendor/swagger). A file of its own: the CSP allows no inline script.
// No validator badge (it would call a server elsewhere); "Try it out" talks to this server only.
// Each request carries X-CSRF-Token (the bpv-csrf cookie /docs sets), as the page's own do. A module: it runs
// after the classic script that defines SwaggerUIBundle.
/* global SwaggerUIBundle */
import { csrfToken } from "./api.js";

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  requestInterceptor: (req) => {
    req.headers["X-CSRF-Token"] = csrfToken();
    return req;
  },
});
