/* opsloom's page glue: no inline scripts anywhere, so behaviour hangs off data- attributes here.
   Loaded (deferred) after htmx and before Alpine's CSP build, so the components registered on
   "alpine:init" exist when Alpine starts. Works without it: every form also submits normally. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // htmx requests carry the session's CSRF token as a header (forms also send the hidden field)
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // Alpine components (the CSP build evaluates no strings: components are plain objects)
  document.addEventListener("alpine:init", function () {
    window.Alpine.data("shell", function () {
      return {
        navOpen: false,
        toggleNav: function () { this.navOpen = !this.navOpen; },
        get shellClass() { return this.navOpen ? "nav-open" : ""; },
      };
    });
  });

  function onReady(root) {
    // selects that submit their form on change (the workspace switcher)
    root.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () {
        var form = select.form;
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      });
    });
    // searchable pickers for multi-selects (roles of a user, ...)
    if (window.TomSelect) {
      root.querySelectorAll("select[data-picker]").forEach(function (select) {
        if (!select.tomselect) { new window.TomSelect(select, { plugins: ["remove_button"] }); }
      });
    }
  }

  // destructive buttons ask first: <form data-confirm="Delete this role?">
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);

  // copy buttons: <button data-copy="#token-value">
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.setAttribute("data-copied", "1");
      });
    }
  });

  document.addEventListener("DOMContentLoaded", function () { onReady(document); });
  document.addEventListener("htmx:load", function (event) { onReady(event.detail.elt); });
})();
