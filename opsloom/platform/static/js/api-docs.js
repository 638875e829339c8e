/* The API reference page: Swagger UI from our own static files, pointed at our OpenAPI document.
   Calls made from the page use the session cookie, so writes carry the CSRF header. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var target = document.getElementById("swagger-ui");
    if (!target || !window.SwaggerUIBundle) { return; }
    var meta = document.querySelector('meta[name="csrf-token"]');
    window.SwaggerUIBundle({
      url: target.getAttribute("data-spec-url"),
      domNode: target,
      deepLinking: false,
      // no calls to the public validator service: nothing leaves this server
      validatorUrl: null,
      tryItOutEnabled: false,
      requestInterceptor: function (req) {
        if (meta) { req.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
        return req;
      },
    });
  });
})();
