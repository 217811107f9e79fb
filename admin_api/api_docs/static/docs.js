// The admin API's interactive docs: Swagger UI on this engine's OpenAPI document, nothing
// fetched from elsewhere (no validator badge). "Authorize" signs in with email and password
// (the OAuth2 password flow at /api/v1/auth/token) or takes a pasted access token.
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", window.location.href).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
