/* The condition builder: rows of (field, operator, value) read from and written as an expression
   (the JSON spelling of docs/expressions.md). Shared by the record list's filter (records.js) and
   the entity designer's rollup filter (designer.js); plain script, loaded before them, no build.

   A field the builder offers is {key, label, ops, kind, options}: ``ops`` are the operators its
   type says it can filter by (FieldType.filter_operators, as the server hands them over; never a
   list of our own), ``kind`` (number, boolean, id, list or text) decides how a typed value is
   read, ``options`` are (value, label) pairs offered as a select for "is" and "is not".

   It writes what it can read back: one condition, or {"and": [conditions]} for several. An
   expression of another shape (or, not, a field not offered, an operator the field does not
   take) is not readable: read() answers null and the page shows it some other way (the list's
   note, the designer's JSON box). The rows are plain DOM built from a <template> the page gives
   (data-part="field|op|value|remove"), with text only (never HTML) from the server. */
(function () {
  "use strict";

  function option(value, text, selected) {
    var opt = document.createElement("option");
    opt.value = value;
    opt.textContent = text;
    if (selected) { opt.selected = true; }
    return opt;
  }

  function fieldByKey(fields, key) {
    return (fields || []).filter(function (f) { return f.key === key; })[0] || null;
  }

  // ------------------------------------------------------------ rows <-> expression (pure)

  // one row as an expression: the value text is read as the field's kind wants it
  function conditionOf(field, op, text) {
    var v = { "var": field.key };
    function typed(raw) {
      raw = raw.trim();
      if (field.kind === "number" || field.kind === "id") {
        var n = Number(raw);
        return raw === "" || isNaN(n) ? raw : n;
      }
      if (field.kind === "boolean") { return raw === "true"; }
      return raw;
    }
    var parts = String(text).split(/[,，]/).map(function (p) { return p.trim(); }).filter(Boolean);
    if (op === "missing") { return { "==": [v, null] }; }
    if (op === "in") {
      if (field.kind === "list") { return { "in": [typed(String(text)), v] }; }
      return { "in": [v, parts.map(typed)] };
    }
    if (op === "between") { return { "between": [v, typed(parts[0] || ""), typed(parts[1] || "")] }; }
    var c = {};
    c[op] = [v, typed(String(text))];
    return c;
  }

  // the shapes conditionOf writes, back into [field key, operator, text]; null when unknown
  function readCondition(cond, fields) {
    if (!cond || typeof cond !== "object" || Array.isArray(cond) || Object.keys(cond).length !== 1) { return null; }
    var op = Object.keys(cond)[0];
    var args = cond[op];
    if (!Array.isArray(args)) { return null; }
    function isVar(a) { return a && typeof a === "object" && typeof a["var"] === "string" && Object.keys(a).length === 1; }
    function scalar(a) { return a === null || ["string", "number", "boolean"].indexOf(typeof a) >= 0; }
    function text(a) { return a === null || a === undefined ? "" : String(a); }
    function offered(key, name) {
      var field = fieldByKey(fields, key);
      return field && (field.ops || []).indexOf(name) >= 0 ? [key, name] : null;
    }
    var found = null;
    var value = "";
    if (op === "==" && args.length === 2 && isVar(args[0]) && args[1] === null) {
      found = offered(args[0]["var"], "missing");
    } else if (op === "in" && args.length === 2 && isVar(args[1]) && scalar(args[0])) {
      found = offered(args[1]["var"], "in");
      value = text(args[0]);
      if (found && fieldByKey(fields, found[0]).kind !== "list") { found = null; }
    } else if (op === "in" && args.length === 2 && isVar(args[0]) && Array.isArray(args[1]) && args[1].every(scalar)) {
      found = offered(args[0]["var"], "in");
      value = args[1].map(text).join(", ");
    } else if (op === "between" && args.length === 3 && isVar(args[0]) && scalar(args[1]) && scalar(args[2])) {
      found = offered(args[0]["var"], "between");
      value = text(args[1]) + ", " + text(args[2]);
    } else if (op !== "in" && op !== "between" && args.length === 2 && isVar(args[0]) && scalar(args[1])) {
      found = offered(args[0]["var"], op);
      value = text(args[1]);
    }
    return found ? [found[0], found[1], value] : null;
  }

  /** An expression as rows [[key, op, text]]: [] for none, null when the builder cannot show it. */
  function read(expression, fields) {
    if (expression === null || expression === undefined || expression === "") { return []; }
    var list = expression && typeof expression === "object" && !Array.isArray(expression) &&
      Object.keys(expression).length === 1 && Array.isArray(expression.and) ? expression.and : [expression];
    var rows = list.map(function (c) { return readCondition(c, fields); });
    return rows.length && rows.every(Boolean) ? rows : null;
  }

  /** Rows [[key, op, text]] as an expression; null when no row says anything (a value left empty). */
  function write(rows, fields) {
    var list = [];
    (rows || []).forEach(function (row) {
      var field = fieldByKey(fields, row[0]);
      var op = row[1];
      var text = row[2] === undefined || row[2] === null ? "" : String(row[2]);
      if (field && op && (op === "missing" || text.trim() !== "")) { list.push(conditionOf(field, op, text)); }
    });
    if (!list.length) { return null; }
    return list.length === 1 ? list[0] : { "and": list };
  }

  // ------------------------------------------------------------ the rows on the page

  /**
   * A builder over ``options.rows`` (the element the rows go into), cloning ``options.template``
   * (a <template> holding one row) per condition.
   *   fields    what may be filtered on (see the top of this file)
   *   labels    operator -> its words ("is", "between"...), yes, no: the page's language
   *   hint      the placeholder of "is one of" and "between" (values separated by commas)
   *   onChange  called after every change a person makes (not after load or setFields)
   */
  function Builder(options) {
    this.rowsEl = options.rows;
    this.template = options.template;
    this.fields = options.fields || [];
    this.labels = options.labels || {};
    this.hint = options.hint || "";
    this.onChange = options.onChange || function () {};
  }

  Builder.prototype.rowEls = function () {
    return Array.prototype.slice.call(this.rowsEl.querySelectorAll("[data-condition-row]"));
  };

  Builder.prototype.fieldOf = function (key) {
    return fieldByKey(this.fields, key) || this.fields[0] || null;
  };

  Builder.prototype.fillFields = function (row, chosen) {
    var select = row.querySelector("[data-part=field]");
    select.textContent = "";
    this.fields.forEach(function (f) { select.appendChild(option(f.key, f.label || f.key, f.key === chosen)); });
  };

  Builder.prototype.fillOps = function (row, chosen) {
    var field = this.fieldOf(row.querySelector("[data-part=field]").value);
    var ops = row.querySelector("[data-part=op]");
    ops.textContent = "";
    (field ? field.ops || [] : []).forEach(function (op) {
      ops.appendChild(option(op, this.labels[op] || op, op === chosen));
    }, this);
    this.fillValue(row);
  };

  // a select for yes/no and for options under "is" / "is not", else a text box
  Builder.prototype.fillValue = function (row, text) {
    var field = this.fieldOf(row.querySelector("[data-part=field]").value);
    var op = row.querySelector("[data-part=op]").value;
    var old = row.querySelector("[data-part=value]");
    var value = text !== undefined ? text : old.value;
    var next;
    var choices = null;
    if (field && field.kind === "boolean") {
      choices = [["true", this.labels.yes || "true"], ["false", this.labels.no || "false"]];
    } else if (field && (field.options || []).length && (op === "==" || op === "!=")) {
      choices = field.options.slice();
    }
    if (choices) {
      // a value the choices do not hold (an option removed since) stays, rather than turning into another
      if (value && !choices.some(function (c) { return c[0] === value; })) { choices.push([value, value]); }
      next = document.createElement("select");
      choices.forEach(function (c) { next.appendChild(option(c[0], c[1], c[0] === value)); });
    } else {
      next = document.createElement("input");
      next.type = "text";
      next.value = value;
      if (op === "in" || op === "between") { next.placeholder = this.hint; }
    }
    next.setAttribute("data-part", "value");
    next.setAttribute("aria-label", old.getAttribute("aria-label") || "");
    next.hidden = op === "missing";
    old.replaceWith(next);
  };

  /** Add a row (preset: [key, op, text]); false when there is no field to offer. */
  Builder.prototype.addRow = function (preset) {
    if (!this.fields.length) { return false; }
    var self = this;
    var row = this.template.content.firstElementChild.cloneNode(true);
    row.setAttribute("data-condition-row", "");
    this.fillFields(row, preset ? preset[0] : undefined);
    row.querySelector("[data-part=field]").addEventListener("change", function () {
      self.fillOps(row);
      self.onChange(self);
    });
    row.querySelector("[data-part=op]").addEventListener("change", function () {
      self.fillValue(row);
      self.onChange(self);
    });
    // the value box is replaced as the operator changes: listen on the row
    ["input", "change"].forEach(function (name) {
      row.addEventListener(name, function (event) {
        if (event.target.getAttribute("data-part") === "value") { self.onChange(self); }
      });
    });
    row.querySelector("[data-part=remove]").addEventListener("click", function () {
      row.remove();
      self.onChange(self);
    });
    this.rowsEl.appendChild(row);
    this.fillOps(row, preset ? preset[1] : undefined);
    if (preset) { this.fillValue(row, preset[2]); }
    return true;
  };

  /** The rows on screen as [[key, op, text]]. */
  Builder.prototype.rows = function () {
    return this.rowEls().map(function (row) {
      return [
        row.querySelector("[data-part=field]").value,
        row.querySelector("[data-part=op]").value,
        row.querySelector("[data-part=value]").value || "",
      ];
    });
  };

  /** The expression the rows say (null for none). */
  Builder.prototype.expression = function () { return write(this.rows(), this.fields); };

  Builder.prototype.clear = function () { this.rowsEl.textContent = ""; };

  /** Show ``expression`` as rows; false (and no rows) when the builder cannot show it. */
  Builder.prototype.load = function (expression) {
    this.clear();
    var rows = read(expression, this.fields);
    if (rows === null) { return false; }
    rows.forEach(function (r) { this.addRow(r); }, this);
    return true;
  };

  /** Offer other fields (another entity's, or the same once loaded); rows on screen are read again. */
  Builder.prototype.setFields = function (fields) {
    var kept = this.rows();
    this.fields = fields || [];
    this.clear();
    kept.forEach(function (r) { if (fieldByKey(this.fields, r[0])) { this.addRow(r); } }, this);
  };

  window.opsloomConditions = {
    conditionOf: conditionOf,
    readCondition: readCondition,
    read: read,
    write: write,
    mount: function (options) { return new Builder(options); },
  };
})();
