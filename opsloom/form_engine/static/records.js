/* The record pages' glue (list, form, record). No inline scripts: behaviour hangs off data-
   attributes and Alpine components registered here. Loaded (deferred) in <head>, so it runs
   before Alpine's CSP build starts and the components exist when Alpine looks for them.
   Text from the server is put into the page with textContent only, never as HTML. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function jsonAttr(el, name, fallback) {
    try { return JSON.parse(el.getAttribute(name) || ""); } catch (e) { return fallback; }
  }

  // ------------------------------------------------------------ the filter builder
  // Writes the expression JSON ({"and": [...]}) into the list form's hidden `filter` input; the rows
  // themselves are condition_builder.js (shared with the designer's rollup filter).

  function filterBuilder() {
    return {
      builder: null,
      init: function () {
        var root = this.$el;
        var labels = jsonAttr(root, "data-ops", {});
        labels.yes = root.getAttribute("data-yes");
        labels.no = root.getAttribute("data-no");
        this.builder = window.opsloomConditions.mount({
          rows: this.$refs.rows,
          template: this.$refs.row,
          fields: jsonAttr(root, "data-fields", []),
          labels: labels,
          hint: root.getAttribute("data-hint"),
        });
        var input = document.querySelector("[data-filter-input]");
        var current = input && input.value ? jsonAttr(input, "value", null) : null;
        if (current && !this.builder.load(current)) {
          this.$refs.note.textContent = root.getAttribute("data-unreadable");
          this.$refs.note.hidden = false;
        }
      },
      addRow: function () { this.builder.addRow(); },
      expression: function () {
        var expression = this.builder.expression();
        return expression ? JSON.stringify(expression) : "";
      },
      submit: function () {
        var form = document.getElementById("records-query");
        var view = form.querySelector("input[name=view]");
        if (view) { view.remove(); }  // a changed filter is no longer the saved view
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      },
      apply: function () {
        document.querySelector("[data-filter-input]").value = this.expression();
        this.submit();
      },
      clear: function () {
        this.builder.clear();
        this.$refs.note.hidden = true;
        document.querySelector("[data-filter-input]").value = "";
        this.submit();
      },
    };
  }

  // ------------------------------------------------------------ subtables and the timeline

  function subtable() {
    return {
      next: 0,
      init: function () { this.next = parseInt(this.$el.getAttribute("data-next-row") || "0", 10); },
      addRow: function () {
        var html = this.$refs.template.innerHTML.split("__row__").join(String(this.next));
        this.next += 1;
        var holder = document.createElement("tbody");
        holder.innerHTML = html;  // our own template, with a number put in: no server text involved
        var row = holder.firstElementChild;
        this.$refs.rows.appendChild(row);
        var first = row.querySelector("input:not([type=hidden]), select");
        if (first) { first.focus(); }
      },
      removeRow: function (event) {
        var row = event.target.closest("tr");
        var form = row.closest("form");
        row.remove();
        if (form) { form.dispatchEvent(new Event("change", { bubbles: true })); }
      },
    };
  }

  function timeline() {
    return {
      cursor: null,
      init: function () { this.load(); },
      more: function () { this.load(); },
      load: function () {
        var root = this.$el;
        var self = this;
        var url = root.getAttribute("data-url") + (this.cursor ? "?cursor=" + encodeURIComponent(this.cursor) : "");
        fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { items: [], next_cursor: null }; })
          .catch(function () { return { items: [], next_cursor: null }; })
          .then(function (page) { self.render(page || {}); });
      },
      render: function (page) {
        var root = this.$el;
        var list = this.$refs.items;
        var items = Array.isArray(page.items) ? page.items : [];
        items.forEach(function (item) {
          var li = document.createElement("li");
          li.className = "timeline-item";
          li.setAttribute("data-kind", item.kind || "");
          var when = document.createElement("time");
          when.dateTime = item.at || "";
          var moment = item.at ? new Date(item.at) : null;
          when.textContent = moment && !isNaN(moment) ? moment.toLocaleString() : (item.at || "");
          var title = document.createElement("strong");
          title.textContent = item.title || item.kind || "";
          li.appendChild(when);
          li.appendChild(document.createTextNode(" "));
          if (item.link && item.link.entity && item.link.id) {
            var a = document.createElement("a");
            a.href = root.getAttribute("data-record-base").replace(/\/apps\/[^/]+\//, "/apps/" +
              encodeURIComponent(item.link.app || "") + "/") + encodeURIComponent(item.link.entity) + "/" +
              encodeURIComponent(item.link.id);
            a.appendChild(title);
            li.appendChild(a);
          } else {
            li.appendChild(title);
          }
          if (item.actor && item.actor.name) {
            var who = document.createElement("span");
            who.className = "muted small";
            who.textContent = " · " + item.actor.name;
            li.appendChild(who);
          }
          if (item.kind) {
            var badge = document.createElement("span");
            badge.className = "badge";
            badge.textContent = item.kind;
            li.appendChild(document.createTextNode(" "));
            li.appendChild(badge);
          }
          list.appendChild(li);
        });
        this.cursor = page.next_cursor || null;
        this.$refs.more.hidden = !this.cursor;
        this.$refs.status.textContent = list.children.length ? "" : root.getAttribute("data-empty");
        this.$refs.status.hidden = list.children.length > 0;
      },
    };
  }

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("filterBuilder", filterBuilder);
    window.Alpine.data("subtable", subtable);
    window.Alpine.data("timeline", timeline);
  });

  // ------------------------------------------------------------ live visibility (the server decides)
  // htmx posts the form to the rules endpoint on change; its answer arrives as this event and
  // form_rules.js (shared with the designer's preview) shows it

  document.addEventListener("opsloom:rules", function (event) {
    var form = event.target.closest ? event.target.closest("form") : null;
    if (form && window.opsloomFormRules) { window.opsloomFormRules.apply(form, event.detail || {}); }
  });

  // ------------------------------------------------------------ pickers, files, views, selection

  function remotePickers(root) {
    if (!window.TomSelect) { return; }
    root.querySelectorAll("select[data-remote-picker]").forEach(function (select) {
      if (select.tomselect) { return; }
      var source = select.getAttribute("data-source");
      var titleField = select.getAttribute("data-title-field");
      var records = source.indexOf("/api/") === 0;
      new window.TomSelect(select, {
        plugins: select.multiple ? ["remove_button"] : [],
        valueField: "value",
        labelField: "text",
        searchField: ["text"],
        placeholder: select.getAttribute("data-placeholder") || "",
        preload: "focus",
        load: function (query, callback) {
          var url = source + "?" + (records ? "limit=20&" : "") + (query ? "q=" + encodeURIComponent(query) : "");
          fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.json() : { items: [] }; })
            .then(function (page) {
              callback((page.items || []).map(function (item) {
                var text = item.text;
                if (text === undefined) {
                  var title = titleField ? item[titleField] : null;
                  if (title === null || title === undefined) {
                    title = Object.keys(item).filter(function (k) { return k[0] !== "_" && k !== "id"; })
                      .map(function (k) { return item[k]; }).filter(function (v) { return typeof v === "string"; })[0];
                  }
                  text = "#" + item.id + (title ? " " + title : "");
                }
                return { value: String(item.id), text: text };
              }));
            })
            .catch(function () { callback(); });
        },
      });
    });
  }

  function uploads(root) {
    root.querySelectorAll("[data-upload] [data-file-input]").forEach(function (input) {
      if (input.dataset.bound) { return; }
      input.dataset.bound = "1";
      var box = input.closest("[data-upload]");
      var error = box.querySelector("[data-upload-error]");
      input.addEventListener("change", function () {
        var file = input.files && input.files[0];
        if (!file) { return; }
        var body = new FormData();
        body.append("file", file);
        error.hidden = true;
        fetch(box.getAttribute("data-upload"), {
          method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() },
        }).then(function (r) {
          return r.json().then(function (data) { return { ok: r.ok, data: data }; });
        }).then(function (answer) {
          if (!answer.ok) {
            error.textContent = answer.data.detail || String(answer.data.status || "");
            error.hidden = false;
            return;
          }
          var li = document.createElement("li");
          var hidden = document.createElement("input");
          hidden.type = "hidden";
          hidden.name = box.getAttribute("data-name");
          hidden.value = String(answer.data.id);
          var link = document.createElement("a");
          link.href = box.getAttribute("data-file-url") + answer.data.id;
          link.target = "_blank";
          link.rel = "noopener";
          link.textContent = answer.data.name;
          var remove = document.createElement("button");
          remove.type = "button";
          remove.className = "btn btn-small";
          remove.setAttribute("data-remove-file", "");
          remove.textContent = box.getAttribute("data-remove-label");
          li.appendChild(hidden);
          li.appendChild(link);
          li.appendChild(document.createTextNode(" "));
          li.appendChild(remove);
          box.querySelector(".rf-file-list").appendChild(li);
          input.value = "";
        });
      });
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target.closest) { return; }
    var removeFile = target.closest("[data-remove-file]");
    if (removeFile) { removeFile.closest("li").remove(); return; }
    var saveView = target.closest("[data-view-save]");
    if (saveView) { saveCurrentView(saveView.closest(".saved-views")); return; }
    var deleteView = target.closest("[data-delete-view]");
    if (deleteView) { removeView(deleteView.closest(".saved-views"), deleteView.getAttribute("data-delete-view")); }
  });

  document.addEventListener("change", function (event) {
    var all = event.target.closest && event.target.closest("[data-select-all]");
    if (!all) { return; }
    var table = all.closest("table");
    table.querySelectorAll("tbody input[name=ids]").forEach(function (box) { box.checked = all.checked; });
  });

  function currentBody() {
    var form = document.getElementById("records-query");
    var data = new FormData(form);
    var body = {};
    var filter = data.get("filter");
    if (filter) { try { body.filter = JSON.parse(filter); } catch (e) { /* the API reports it */ } }
    if (data.get("sort")) { body.sort = data.get("sort"); }
    if (data.get("q")) { body.q = data.get("q"); }
    var cols = data.getAll("col");
    if (cols.length) { body.fields = cols; }
    return body;
  }

  function saveCurrentView(panel) {
    var name = panel.querySelector("[data-view-name]").value.trim();
    var error = panel.querySelector("[data-view-error]");
    fetch(panel.getAttribute("data-views-api"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify({ name: name, shared: panel.querySelector("[data-view-shared]").checked, body: currentBody() }),
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    }).then(function (answer) {
      if (answer.ok) {
        window.location.assign(panel.getAttribute("data-list-url") + "?view=" + answer.data.id +
          (answer.data.body.filter ? "&filter=" + encodeURIComponent(JSON.stringify(answer.data.body.filter)) : "") +
          (answer.data.body.sort ? "&sort=" + encodeURIComponent(answer.data.body.sort) : "") +
          (answer.data.body.q ? "&q=" + encodeURIComponent(answer.data.body.q) : "") +
          (answer.data.body.fields ? "&cols=" + encodeURIComponent(answer.data.body.fields.join(",")) : ""));
        return;
      }
      var errors = answer.data.errors || {};
      error.textContent = panel.getAttribute("data-failed") + " " + (answer.data.detail || "") + " " +
        Object.keys(errors).map(function (k) { return k + ": " + errors[k]; }).join("; ");
      error.hidden = false;
    });
  }

  function removeView(panel, id) {
    if (!window.confirm(panel.getAttribute("data-confirm-delete"))) { return; }
    fetch(panel.getAttribute("data-views-api") + "/" + encodeURIComponent(id), {
      method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() },
    }).then(function () { window.location.assign(panel.getAttribute("data-list-url")); });
  }

  function onReady(root) {
    remotePickers(root);
    uploads(root);
  }

  document.addEventListener("DOMContentLoaded", function () { onReady(document); });
  document.addEventListener("htmx:load", function (event) { onReady(event.detail.elt); });
})();
