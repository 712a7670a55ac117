// Starts Swagger UI on /docs (static/vendor/swagger). A file of its own: the CSP allows no inline script.
// No validator badge (it would call a server elsewhere); "Try it out" talks to this server only.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
