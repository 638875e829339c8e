/* The entity designer (Alpine CSP build + SortableJS): palette, form, properties, preview, publish.
   The page hands its data over in <script type="application/json" id="designer-data">; drafts are
   saved and published through the definitions API with the session's CSRF header. Every text an
   administrator wrote is shown with x-text (never as HTML). Loaded before Alpine starts, after
   form_rules.js (the record form's live rules, which the preview shares).

   Renaming a saved field's key asks the server to rewrite every reference to it (formulas,
   conditions, title field, keys, rollups, lookups) and save the draft; the panel says what was
   rewritten. The preview's inputs can be typed into: the server answers which fields the
   conditions on screen hide and require, as it does for the record form.

   Sections (the body's ``layout``): the form on screen is one list of rows, group headings and
   field cards. The groups are the sections and, once there is a section, the fields of no
   section (shown by the record form without a heading) under a heading of their own; a field
   belongs to the heading above it. Dragging a card under a heading moves it into that group;
   dragging a heading moves its group whole (so the fields of no section can go anywhere among
   the sections: the layout holds {"unsectioned": true} where they go, when not first). The
   field panel's "Section" select and the up/down buttons do the same without dragging.
   ``items`` is kept in the form's order, group by group, so the saved ``fields`` follow it.
   Removing a section that holds fields asks first, in a dialog saying where they go.

   A rollup's filter (a condition over the records it aggregates) is edited with the condition
   builder the record list uses (condition_builder.js, loaded before this file), over the other
   entity's fields and the operators their types filter by (the palette's filter_operators). A
   filter the builder cannot show stays in a JSON box; either way the server checks it on save
   and its error shows beside the filter. */
(function () {
  "use strict";

  var COMMON = ["id", "key", "type", "label", "help", "required", "default", "unique", "mask", "placeholder", "width"];
  // properties the panel edits with a control of its own, or never (JSON Logic twin of a formula)
  var SKIP = { expr: true };
  var uidSeq = 0;
  // the uid of the heading of the fields of no section (sections get "s<n>", fields "u<n>")
  var LOOSE = "loose";
  // field kinds the condition builder reads values as (condition_builder.js); others are text
  var FILTER_KINDS = ["number", "boolean", "id", "list"];
  // properties with an editor of their own instead of the raw JSON box ("type:property" -> control)
  var STRUCTURED = {
    "rollup:source": "rollup",
    "lookup:relation": "lookupRelation",
    "lookup:field": "lookupField",
    "subtable:fields": "subfields",
  };
  var ROLLUP_FNS = ["sum", "count", "avg", "min", "max"];
  // sub-field types offered by the list editor: plain values in one column
  var SUB_WIDGETS = ["input", "textarea", "number", "date", "datetime", "time", "checkbox"];
  // the expression type of a field on screen, as the fields endpoint gives it for other entities
  var WIDGET_VALUE_TYPES = { number: "number", date: "date", datetime: "datetime", checkbox: "boolean" };

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function api(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  function format(template, values) {
    return String(template || "").replace(/%\((\w+)\)s/g, function (_m, name) {
      return values[name] === undefined || values[name] === null ? "" : String(values[name]);
    });
  }

  function clone(value) { return value === undefined ? undefined : JSON.parse(JSON.stringify(value)); }

  function keyLines(lists) {
    return (lists || []).map(function (keys) { return keys.join(", "); }).join("\n");
  }

  function parseKeyLines(text) {
    return String(text || "").split("\n").map(function (line) {
      return line.split(",").map(function (k) { return k.trim(); }).filter(Boolean);
    }).filter(function (keys) { return keys.length; });
  }

  function stripAlpine(root) {
    [root].concat(Array.prototype.slice.call(root.querySelectorAll("*"))).forEach(function (el) {
      Array.prototype.slice.call(el.attributes).forEach(function (attr) {
        if (/^(x-|:|@)/.test(attr.name)) { el.removeAttribute(attr.name); }
      });
    });
  }

  // the keys of ``body``'s fields by id: what a rename starts from
  function keysById(body) {
    var keys = {};
    (body.fields || []).forEach(function (f) { if (f && f.id && f.key) { keys[f.id] = f.key; } });
    return keys;
  }

  function unique(list) {
    return list.filter(function (value, i) { return list.indexOf(value) === i; });
  }

  function emptyCheck(text) {
    return { text: text || "", checked: null, expr: null, status: "idle", message: "", excerpt: "", timer: null };
  }

  // a condition as saved: its JSON is known (the server checked it), so it needs no check before a save
  function savedCheck(text, json) {
    var check = emptyCheck(text);
    if (text && json !== undefined && json !== null) { check.checked = text; check.expr = json; }
    return check;
  }

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("entityDesigner", function () {
      return {
        data: {},
        messages: {},
        groups: [],
        palette: [],
        types: {},
        items: [],
        // the layout's sections on screen: {uid, label: {en, zh}}; a field names its section's uid
        sections: [],
        // where the fields of no section go among the sections (0: first, as without a layout marker)
        looseAt: 0,
        // the section the remove dialog asks about, and what it says
        removing: { uid: null, title: "", text: "" },
        selected: null,
        entity: { label: { en: "", zh: "" }, description: "", title_field: "", dedupText: "", indexesText: "" },
        extra: {},
        dirty: false,
        busy: false,
        status: "",
        generalErrors: [],
        errorTitle: "",
        entityErrors: {},
        // other entities' fields for the rollup and lookup editors: key -> list (null while loading)
        entityFields: {},
        // field id -> its key in the last saved draft (or published version): renames start there
        savedKeys: {},
        // counts every change on screen: an answer about an older screen must not overwrite a newer one
        revision: 0,
        renaming: null,
        renameNote: { uid: null, status: "", text: "", elsewhere: "" },
        // "also update these entities' drafts": asked for the rename shown and for the next ones
        renameCascade: false,
        previewTimer: null,
        previewSeq: 0,
        publish: {
          loading: false, changes: [], warnings: [], note: "", error: "", errorLines: [],
          report: null, done: "", info: "", canPublish: true,
        },

        init: function () {
          var source = document.getElementById("designer-data");
          var data = JSON.parse(source.textContent);
          var self = this;
          this.data = data;
          this.messages = data.messages || {};
          // texts of the template's own (sections, the rollup filter's builder), translated there
          var texts = document.getElementById("designer-texts");
          if (texts) {
            var more = JSON.parse(texts.textContent);
            Object.keys(more).forEach(function (name) { self.messages[name] = more[name]; });
          }
          this.groups = data.groups || [];
          this.palette = data.palette || [];
          this.palette.forEach(function (t) { self.types[t.name] = t; });
          this.load(data.body || {}, data.conditions || {});
          this.savedKeys = keysById(data.body || {});
          this.$nextTick(function () { self.setUpSortable(); self.runPreview(); });
          window.addEventListener("beforeunload", function (event) {
            if (self.dirty) { event.preventDefault(); event.returnValue = ""; }
          });
        },

        // ------------------------------------------------------------ state <-> body
        load: function (body, conditions) {
          var self = this;
          var label = body.label;
          this.entity = {
            label: {
              en: typeof label === "string" ? label : (label && label.en) || "",
              zh: (label && typeof label === "object" && label.zh) || "",
            },
            description: body.description || "",
            title_field: body.title_field || "",
            dedupText: keyLines(body.dedup),
            indexesText: keyLines(body.indexes),
          };
          this.extra = {};
          Object.keys(body).forEach(function (name) {
            if (["key", "label", "description", "title_field", "fields", "visible_if", "required_if", "dedup", "indexes", "layout"].indexOf(name) < 0) {
              self.extra[name] = body[name];
            }
          });
          this.items = (body.fields || []).map(function (field) {
            return self.makeItem(field, conditions, body);
          });
          this.sections = [];
          this.looseAt = 0;
          var placed = {};
          var marked = false;
          (Array.isArray(body.layout) ? body.layout : []).forEach(function (section) {
            if (!section || typeof section !== "object") { return; }
            if (section.unsectioned) {
              // where the fields of no section go; the first marker counts
              if (!marked) { self.looseAt = self.sections.length; marked = true; }
              return;
            }
            var made = self.makeSection(section.label);
            self.sections.push(made);
            (section.fields || []).forEach(function (key) {
              if (placed[key]) { return; }  // named twice: the first section keeps it
              var item = self.items.find(function (i) { return i.field.key === key; });
              if (item) { item.section = made.uid; placed[key] = true; }
            });
          });
          this.normalize();
        },

        makeSection: function (label) {
          uidSeq += 1;
          return {
            uid: "s" + uidSeq,
            label: {
              en: typeof label === "string" ? label : (label && label.en) || "",
              zh: (label && typeof label === "object" && label.zh) || "",
            },
          };
        },

        makeItem: function (field, conditions, body) {
          var f = clone(field);
          var label = f.label;
          f.label = {
            en: typeof label === "string" ? label : (label && label.en) || "",
            zh: (label && typeof label === "object" && label.zh) || "",
          };
          var opts = (Array.isArray(f.options) ? f.options : []).map(function (o) {
            if (typeof o === "string") { return { value: o, label: "" }; }
            var text = typeof o.label === "string" ? o.label : (o.label && (o.label.zh || o.label.en)) || "";
            return { value: o.value || "", label: text, color: o.color, raw: o };
          });
          var def = f["default"];
          var cond = conditions || {};
          uidSeq += 1;
          return {
            uid: "u" + uidSeq,
            section: null,
            field: f,
            opts: opts,
            defaultText: def === undefined || def === null ? "" : (Array.isArray(def) ? def.join(", ") : String(def)),
            maskText: typeof f.mask === "string" ? f.mask : "",
            json: {},
            errors: {},
            // a rollup's filter: shown in the JSON box (json), with the note that the builder cannot show it
            filterUi: { json: false, note: false },
            checks: {
              formula: emptyCheck(f.formula || ""),
              visible_if: savedCheck(((cond.visible_if || {})[f.key]) || "", ((body || {}).visible_if || {})[f.key]),
              required_if: savedCheck(((cond.required_if || {})[f.key]) || "", ((body || {}).required_if || {})[f.key]),
            },
          };
        },

        fieldBody: function (item) {
          var t = this.types[item.field.type] || {};
          var out = {};
          var f = item.field;
          Object.keys(f).forEach(function (name) {
            var value = f[name];
            if (value === "" || value === null || value === undefined) { return; }
            out[name] = clone(value);
          });
          var label = {};
          if (f.label.zh) { label.zh = f.label.zh; }
          if (f.label.en) { label.en = f.label.en; }
          if (Object.keys(label).length) { out.label = label; } else { delete out.label; }
          if (!out.required) { delete out.required; }
          if (!out.unique) { delete out.unique; }
          if (item.maskText) { out.mask = item.maskText; } else if (typeof f.mask === "string" || f.mask === undefined) { delete out.mask; }
          if (t.options_schema && t.options_schema.options && t.widget !== "select" && t.widget !== "multiselect") {
            // a plugin type with an options property of its own shape: edited as JSON
          } else if (t.options_schema && t.options_schema.options) {
            out.options = item.opts.filter(function (o) { return o.value; }).map(function (o) {
              if (!o.label && !o.color) { return o.value; }
              var option = { value: o.value };
              if (o.label) { option.label = o.label; }
              if (o.color) { option.color = o.color; }
              return option;
            });
            if (!out.options.length) { delete out.options; }
          }
          if (t.computed) {
            delete out["default"];
          } else {
            var d = this.defaultValue(item, t);
            if (d === undefined) { delete out["default"]; } else { out["default"] = d; }
          }
          if (out.type === "formula" || (t.options_schema && t.options_schema.formula)) {
            var text = item.checks.formula.text;
            if (text.trim()) { out.formula = text; delete out.expr; } else { delete out.formula; }
          }
          return out;
        },

        defaultValue: function (item, t) {
          var text = item.defaultText.trim();
          if (!text) { return undefined; }
          if (t.widget === "number") { var n = Number(text); return isNaN(n) ? text : n; }
          if (t.widget === "checkbox") {
            if (/^(true|yes|1|是)$/i.test(text)) { return true; }
            if (/^(false|no|0|否)$/i.test(text)) { return false; }
            return text;
          }
          if (t.widget === "multiselect") { return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }
          return text;
        },

        conditionText: function (item, name) { return item.checks[name].text.trim(); },

        buildBody: function () {
          var self = this;
          var body = clone(this.extra) || {};
          body.key = this.data.key;
          var label = {};
          if (this.entity.label.zh) { label.zh = this.entity.label.zh; }
          if (this.entity.label.en) { label.en = this.entity.label.en; }
          if (Object.keys(label).length) { body.label = label; }
          if (this.entity.description) { body.description = this.entity.description; }
          if (this.entity.title_field) { body.title_field = this.entity.title_field; }
          body.fields = this.items.map(function (item) { return self.fieldBody(item); });
          ["visible_if", "required_if"].forEach(function (name) {
            var conditions = {};
            self.items.forEach(function (item) {
              var check = item.checks[name];
              if (check.text.trim() && item.field.key) { conditions[item.field.key] = check.expr; }
            });
            if (Object.keys(conditions).length) { body[name] = conditions; }
          });
          var dedup = parseKeyLines(this.entity.dedupText);
          if (dedup.length) { body.dedup = dedup; }
          var indexes = parseKeyLines(this.entity.indexesText);
          if (indexes.length) { body.indexes = indexes; }
          if (this.sections.length) {
            body.layout = this.sections.map(function (section) {
              var out = {};
              var label = {};
              if (section.label.zh) { label.zh = section.label.zh; }
              if (section.label.en) { label.en = section.label.en; }
              if (Object.keys(label).length) { out.label = label; }
              out.fields = self.itemsIn(section.uid).map(function (item) { return item.field.key; }).filter(Boolean);
              return out;
            });
            // the fields of no section go first unless the layout says where (so older bodies keep their shape)
            var at = Math.min(this.looseAt, this.sections.length);
            if (at > 0) { body.layout.splice(at, 0, { unsectioned: true }); }
          }
          return body;
        },

        // ------------------------------------------------------------ palette and drag and drop
        typesIn: function (group) {
          return this.palette.filter(function (t) { return t.group === group; });
        },
        typeLabel: function (t) {
          var label = t.label || {};
          return label[this.data.locale] || label.en || label.zh || t.name;
        },
        typeLabelOf: function (item) {
          var t = this.types[item.field.type];
          return t ? this.typeLabel(t) : item.field.type;
        },
        labelOf: function (item) {
          var label = item.field.label || {};
          var mine = this.data.locale === "zh" ? label.zh || label.en : label.en || label.zh;
          return mine || item.field.key || this.messages.newField;
        },

        setUpSortable: function () {
          var self = this;
          if (!window.Sortable) { return; }
          this.$root.querySelectorAll(".fe-palette-list").forEach(function (list) {
            window.Sortable.create(list, {
              group: { name: "fields", pull: "clone", put: false },
              sort: false,
              draggable: ".fe-palette-item",
              // Sortable's stand-in copies the Alpine attributes; outside its x-for Alpine would
              // evaluate them with no loop variable, so the copy keeps only what it shows
              onClone: function (event) { stripAlpine(event.clone); },
            });
          });
          window.Sortable.create(this.$refs.canvas, {
            group: { name: "fields", pull: false, put: true },
            // field cards, and group headings (a heading moves its group whole)
            draggable: ".fe-field, .fe-section-head",
            animation: 120,
            // native drag and drop: the fallback mode would add a copy of the dragged card to the
            // page, whose Alpine attributes cannot be evaluated outside its x-for
            emptyInsertThreshold: 40,
            // the indexes are of rows (section headings count): a card lands under the heading above it
            onAdd: function (event) {
              // give the dragged palette entry back to the palette; Alpine renders the new field
              var type = event.item.getAttribute("data-type");
              if (event.clone && event.clone.parentNode) {
                event.clone.parentNode.replaceChild(event.item, event.clone);
              } else {
                event.item.remove();
              }
              self.addType(type, event.newIndex);
            },
            onUpdate: function (event) {
              // undo Sortable's DOM move and let Alpine reorder from the data (it owns these nodes)
              var list = event.from;
              var item = event.item;
              list.removeChild(item);
              var siblings = list.querySelectorAll(":scope > li");
              list.insertBefore(item, siblings[event.oldIndex] || null);
              self.moveRow(event.oldIndex, event.newIndex);
            },
          });
        },

        newKey: function (type) {
          var keys = this.fieldKeys();
          var base = String(type).replace(/[^a-z0-9_]/g, "_");
          if (!/^[a-z]/.test(base)) { base = "f_" + base; }
          for (var i = 1; ; i += 1) {
            var candidate = (base + "_" + i).slice(0, 40);
            if (keys.indexOf(candidate) < 0) { return candidate; }
          }
        },

        addType: function (type, index) {
          var t = this.types[type];
          if (!t) { return; }
          var field = { key: this.newKey(type), type: type, label: { en: "", zh: "" } };
          if (t.options_schema && t.options_schema.options && (t.widget === "select" || t.widget === "multiselect")) {
            field.options = ["option_1"];
          }
          if (type === "subtable") { field.fields = [{ key: "col_1", type: "text" }]; }
          var item = this.makeItem(field, {});
          var rows = this.rows;
          if (typeof index === "number" && index >= 0 && index <= rows.length) {
            rows.splice(index, 0, { uid: item.uid, item: item, section: null });
            this.applyRows(rows);
          } else {
            // a click adds at the end of the section being edited (the selected one, or the selected field's)
            var here = this.selSection || (this.sel && this.sectionOf(this.sel));
            item.section = here ? here.uid : null;
            this.items.push(item);
            this.normalize();
          }
          this.selected = item.uid;
          this.touch();
        },

        // ------------------------------------------------------------ sections
        // the groups of the form in order: the sections, and the fields of no section (LOOSE) at ``looseAt``
        groupOrder: function () {
          var order = this.sections.map(function (s) { return { uid: s.uid, section: s, loose: false }; });
          var at = Math.max(0, Math.min(this.looseAt, order.length));
          order.splice(at, 0, { uid: LOOSE, section: null, loose: true });
          return order;
        },
        // the groups in a new order (a drag, the move buttons, a removal): sections, looseAt and items follow
        setGroupOrder: function (order) {
          var sections = [];
          var looseAt = 0;
          order.forEach(function (group) {
            if (group.loose) { looseAt = sections.length; } else { sections.push(group.section); }
          });
          this.sections = sections;
          this.looseAt = sections.length ? looseAt : 0;
          this.normalize();
        },
        // the canvas rows: each group's heading (none while there is no section) and its fields
        get rows() {
          var self = this;
          var rows = [];
          var headed = this.sections.length > 0;
          this.groupOrder().forEach(function (group) {
            if (headed) { rows.push({ uid: group.uid, item: null, section: group.section, loose: group.loose }); }
            (group.loose ? self.looseItems() : self.itemsIn(group.uid)).forEach(function (item) {
              rows.push({ uid: item.uid, item: item, section: null, loose: false });
            });
          });
          return rows;
        },
        // the preview's groups: those with fields to show (the record form leaves out empty ones too)
        previewGroups: function () {
          var self = this;
          return this.groupOrder().filter(function (group) {
            return group.loose ? self.looseItems().length > 0 : true;
          });
        },
        sectionOf: function (item) {
          var uid = item.section;
          return this.sections.find(function (s) { return s.uid === uid; }) || null;
        },
        looseItems: function () {
          var self = this;
          return this.items.filter(function (item) { return !self.sectionOf(item); });
        },
        itemsIn: function (uid) {
          return this.items.filter(function (item) { return item.section === uid; });
        },
        // keep ``items`` in the form's order, group by group
        normalize: function () {
          var self = this;
          this.items.forEach(function (item) { if (!self.sectionOf(item)) { item.section = null; } });
          var ordered = [];
          this.groupOrder().forEach(function (group) {
            ordered = ordered.concat(group.loose ? self.looseItems() : self.itemsIn(group.uid));
          });
          this.items = ordered;
        },
        // the rows in a new order: each field goes to the group whose heading is above it (fields
        // above every heading to the first group)
        applyRows: function (rows) {
          var heads = rows.filter(function (row) { return !row.item; });
          var current = heads.length && !heads[0].loose ? heads[0].section.uid : null;
          var order = [];
          var items = [];
          rows.forEach(function (row) {
            if (!row.item) {
              order.push({ uid: row.uid, section: row.section, loose: row.loose });
              current = row.loose ? null : row.section.uid;
              return;
            }
            row.item.section = current;
            items.push(row.item);
          });
          this.items = items;
          if (order.length) { this.setGroupOrder(order); } else { this.looseAt = 0; }
        },
        moveRow: function (from, to) {
          if (from === to || from === undefined || to === undefined) { return; }
          var rows = this.rows;
          var moved = rows[from];
          if (!moved) { return; }
          if (moved.item) {
            rows.splice(from, 1);
            rows.splice(to, 0, moved);
            this.applyRows(rows);
            this.touch();
            return;
          }
          // a heading moves its group whole: after the headings above the place it was dropped
          rows.splice(from, 1);
          rows.splice(to, 0, moved);
          var before = rows.slice(0, to).filter(function (row) { return !row.item; }).length;
          var order = this.groupOrder().filter(function (group) { return group.uid !== moved.uid; });
          order.splice(before, 0, { uid: moved.uid, section: moved.section, loose: moved.loose });
          this.setGroupOrder(order);
          this.touch();
        },
        // a field one place up or down inside its section (the non-drag way to reorder)
        moveField: function (delta) {
          var item = this.sel;
          if (!item) { return; }
          var group = this.sectionOf(item) ? this.itemsIn(item.section) : this.looseItems();
          var at = group.indexOf(item);
          var other = group[at + delta];
          if (!other) { return; }
          var i = this.items.indexOf(item);
          var j = this.items.indexOf(other);
          this.items.splice(i, 1, other);
          this.items.splice(j, 1, item);
          this.touch();
        },
        moveFieldUp: function () { this.moveField(-1); },
        moveFieldDown: function () { this.moveField(1); },
        setFieldSection: function (event) {
          var item = this.sel;
          if (!item) { return; }
          var uid = event.target.value || null;
          if (item.section === uid) { return; }
          item.section = uid;
          this.items.splice(this.items.indexOf(item), 1);
          this.items.push(item);  // last of its new section
          this.normalize();
          this.touch();
        },
        addSection: function () {
          var section = this.makeSection(null);
          this.sections.push(section);
          this.selected = section.uid;
          this.touch();
        },
        // a section with fields asks first (the dialog says where they go); an empty one just goes
        removeSection: function () {
          var section = this.selSection;
          if (!section) { return; }
          var fields = this.itemsIn(section.uid);
          if (!fields.length) { this.dropSection(section); return; }
          var m = this.messages;
          var after = this.groupOrder().filter(function (group) { return group.uid !== section.uid; });
          var at = 0;
          after.forEach(function (group, i) { if (group.loose) { at = i; } });
          var where = at === 0 || after.length === 1
            ? m.looseWhereFirst
            : format(m.looseWhereAfter, { name: "“" + this.sectionTitle(after[at - 1].section) + "”" });
          this.removing = {
            uid: section.uid,
            title: format(m.removeSectionTitle, { name: "“" + this.sectionTitle(section) + "”" }),
            text: format(m.removeSectionText, {
              count: fields.length,
              fields: fields.map(function (item) { return item.field.key || "?"; }).join(", "),
              where: where,
            }),
          };
          this.$refs.removeSectionDialog.showModal();
        },
        confirmRemoveSection: function () {
          var uid = this.removing.uid;
          var section = this.sections.find(function (s) { return s.uid === uid; });
          this.$refs.removeSectionDialog.close();
          this.removing.uid = null;
          if (section) { this.dropSection(section); }
        },
        cancelRemoveSection: function () {
          this.$refs.removeSectionDialog.close();
          this.removing.uid = null;
        },
        // the section's fields join the fields of no section, wherever those are
        dropSection: function (section) {
          var order = this.groupOrder().filter(function (group) { return group.uid !== section.uid; });
          this.itemsIn(section.uid).forEach(function (item) { item.section = null; });
          this.setGroupOrder(order);
          this.selected = null;
          this.touch();
        },
        // the selected group (a section, or the fields of no section) one place up or down
        moveGroup: function (delta) {
          var uid = this.selected;
          var order = this.groupOrder();
          var at = -1;
          order.forEach(function (group, i) { if (group.uid === uid) { at = i; } });
          var to = at + delta;
          if (at < 0 || to < 0 || to >= order.length) { return; }
          order.splice(to, 0, order.splice(at, 1)[0]);
          this.setGroupOrder(order);
          this.touch();
        },
        moveSectionUp: function () { this.moveGroup(-1); },
        moveSectionDown: function () { this.moveGroup(1); },
        get selSection() {
          var uid = this.selected;
          return this.sections.find(function (s) { return s.uid === uid; }) || null;
        },
        // the heading of the fields of no section is selected (it exists while there are sections)
        get selLoose() { return this.selected === LOOSE && this.sections.length > 0; },
        get noneSelected() { return !this.sel && !this.selSection && !this.selLoose; },
        sectionTitle: function (section) {
          var label = section.label || {};
          var mine = this.data.locale === "zh" ? label.zh || label.en : label.en || label.zh;
          return mine || this.messages.untitledSection || "";
        },
        headTitle: function (row) { return row.loose ? this.messages.looseTitle || "" : this.sectionTitle(row.section); },
        rowKey: function (row) { return row.item ? row.item.field.key : null; },
        rowClass: function (row) {
          if (row.item) { return "fe-field " + this.fieldClass(row.item); }
          return "fe-section-head" + (row.loose ? " fe-loose-head" : "") + (row.uid === this.selected ? " is-selected" : "");
        },
        sectionOptionSelected: function (section) { return !!this.sel && this.sel.section === section.uid; },
        noSectionSelected: function () { return !!this.sel && !this.sectionOf(this.sel); },

        removeField: function (uid) {
          if (!window.confirm(this.messages.removeConfirm)) { return; }
          this.items = this.items.filter(function (item) { return item.uid !== uid; });
          if (this.selected === uid) { this.selected = null; }
          this.touch();
        },

        select: function (uid) { this.selected = uid; },
        selectEntity: function () { this.selected = null; },
        get entityButtonClass() { return this.selected === null ? "btn-primary" : ""; },
        get sel() {
          var uid = this.selected;
          return this.items.find(function (item) { return item.uid === uid; }) || null;
        },
        fieldClass: function (item) {
          var out = item.uid === this.selected ? "is-selected" : "";
          return this.hasErrors(item) ? out + " has-error" : out;
        },
        fieldKeys: function () {
          return this.items.map(function (item) { return item.field.key; }).filter(Boolean);
        },
        markDirty: function (event) {
          var target = event && event.target;
          // the publish dialog and the preview's inputs change nothing of the design
          if (target && target.closest && target.closest("dialog, .fe-preview")) { return; }
          this.touch();
        },
        touch: function () {
          this.dirty = true;
          this.revision += 1;
          this.schedulePreview(400);
        },

        // ------------------------------------------------------------ the property panel
        isComputed: function (item) { var t = this.types[item.field.type]; return !!(t && t.computed); },
        canBeUnique: function (item) { var t = this.types[item.field.type]; return !!(t && t.sortable && !t.computed); },
        isMulti: function (item) { var t = this.types[item.field.type]; return !!(t && t.widget === "multiselect"); },
        masksOf: function (item) { var t = this.types[item.field.type]; return (t && t.masks) || []; },

        propsOf: function (item) {
          var t = this.types[item.field.type];
          if (!t) { return []; }
          var self = this;
          var schema = t.options_schema || {};
          return Object.keys(schema).filter(function (name) {
            return !SKIP[name] && COMMON.indexOf(name) < 0 && !(name === "formula");
          }).map(function (name) {
            var s = schema[name] || {};
            var control = "json";
            if (name === "options" && (t.widget === "select" || t.widget === "multiselect")) { control = "options"; }
            else if (name === "target" && t.widget === "relation") { control = "target"; }
            else if (STRUCTURED[t.name + ":" + name]) { control = STRUCTURED[t.name + ":" + name]; }
            else if (Array.isArray(s.enum)) { control = "select"; }
            else if (s.type === "integer" || s.type === "number") { control = "number"; }
            else if (s.type === "boolean") { control = "checkbox"; }
            else if (s.type === "string") { control = "text"; }
            return {
              name: name,
              control: control,
              choices: s.enum || [],
              label: self.messages["prop_" + name] || name,
              hint: self.messages["hint_" + t.name + "_" + name] || "",
            };
          });
        },

        propValue: function (name) {
          var item = this.sel;
          if (!item) { return ""; }
          var value = item.field[name];
          return value === undefined || value === null ? "" : value;
        },
        setText: function (name, event) {
          var item = this.sel;
          if (!item) { return; }
          var value = event.target.value;
          if (value === "") { delete item.field[name]; } else { item.field[name] = value; }
        },
        setNumber: function (name, event) {
          var item = this.sel;
          if (!item) { return; }
          var raw = event.target.value;
          if (raw === "") { delete item.field[name]; return; }
          var n = Number(raw);
          item.field[name] = isNaN(n) ? raw : n;
        },
        setCheck: function (name, event) {
          var item = this.sel;
          if (!item) { return; }
          if (event.target.checked) { item.field[name] = true; } else { delete item.field[name]; }
        },
        jsonText: function (item, name) {
          if (item.json[name] !== undefined) { return item.json[name]; }
          var value = item.field[name];
          return value === undefined ? "" : JSON.stringify(value, null, 1);
        },
        setJson: function (name, event) {
          var item = this.sel;
          if (!item) { return; }
          var text = event.target.value;
          item.json[name] = text;
          if (!text.trim()) { delete item.field[name]; delete item.errors[name]; return; }
          try {
            item.field[name] = JSON.parse(text);
            delete item.errors[name];
          } catch (exc) {
            item.errors[name] = String(exc.message || exc);
          }
        },
        addOption: function () {
          var item = this.sel;
          if (item) { item.opts.push({ value: "", label: "" }); this.touch(); }
        },
        removeOption: function (index) {
          var item = this.sel;
          if (item) { item.opts.splice(index, 1); this.touch(); }
        },
        optionText: function (opt) { return opt.label || opt.value; },
        targetsFor: function (item) {
          var list = (this.data.entities || []).slice();
          list.push({ key: this.data.key, label: this.entity.label[this.data.locale] || this.data.key });
          var current = item.field.target;
          if (current && !list.some(function (e) { return e.key === current; })) { list.push({ key: current, label: current }); }
          return list;
        },
        // ------------------------------------------------------------ rollup, lookup, sub-fields
        // fields of entity ``key``: this one from the screen, others from their newest body (fetched once)
        fieldsOf: function (key) {
          var self = this;
          if (!key) { return []; }
          if (key === this.data.key) {
            return this.items.filter(function (item) { return item.field.key; }).map(function (item) {
              var t = self.types[item.field.type] || {};
              return {
                key: item.field.key, type: item.field.type, label: item.field.label,
                value_type: WIDGET_VALUE_TYPES[t.widget] || (item.field.type === "rollup" ? "number" : "any"),
                target: item.field.target, many: !!item.field.many, storage: t.widget === "subtable" ? "child_table" : "column",
              };
            });
          }
          if (!Object.prototype.hasOwnProperty.call(this.entityFields, key)) {
            this.entityFields[key] = null;
            api("GET", this.data.urls.entityFields + encodeURIComponent(key) + "/fields").then(function (answer) {
              self.entityFields[key] = answer.ok && Array.isArray(answer.data) ? answer.data : [];
            }, function () { self.entityFields[key] = []; });
          }
          return this.entityFields[key] || [];
        },
        fieldsLoading: function (key) { return !!key && this.entityFields[key] === null; },
        fieldText: function (f) {
          var label = f.label || {};
          var text = this.data.locale === "zh" ? label.zh || label.en : label.en || label.zh;
          return text ? text + " (" + f.key + ")" : f.key;
        },
        sourceValue: function (name) {
          var item = this.sel;
          var source = item && item.field.source;
          var value = source && typeof source === "object" ? source[name] : undefined;
          if (name === "fn" && !value) { return "sum"; }
          return value === undefined || value === null ? "" : value;
        },
        rollupEntities: function () { return this.targetsFor(this.sel || { field: {} }); },
        rollupLinks: function () {
          var here = this.data.key;
          return this.fieldsOf(this.sourceValue("entity")).filter(function (f) {
            return f.type === "relation" && f.target === here;
          });
        },
        rollupMeasures: function () {
          var fn = this.sourceValue("fn");
          var wanted = fn === "min" || fn === "max" ? ["number", "date", "datetime"] : ["number"];
          return this.fieldsOf(this.sourceValue("entity")).filter(function (f) {
            return wanted.indexOf(f.value_type) >= 0;
          });
        },
        rollupNoLink: function () {
          var key = this.sourceValue("entity");
          return !!key && !this.fieldsLoading(key) && !this.rollupLinks().length;
        },
        rollupFns: function () { return ROLLUP_FNS; },
        fnText: function (fn) { return this.messages["fn_" + fn] || fn; },
        isCount: function () { return this.sourceValue("fn") === "count"; },
        setSource: function (name, event) {
          var item = this.sel;
          if (!item) { return; }
          var source = item.field.source && typeof item.field.source === "object" ? item.field.source : {};
          var value = event.target.value;
          if (value === "") { delete source[name]; } else { source[name] = value; }
          if (!source.fn) { source.fn = "sum"; }
          if (name === "entity") {
            delete source.link;
            delete source.field;
            delete source.filter;
            item.json.source_filter = undefined;
            item.filterUi = { json: false, note: false };  // the builder starts again over the new fields
            delete item.errors["source/filter"];
          }
          if (source.fn === "count") { delete source.field; }
          item.field.source = source;
          this.touch();
        },
        filterText: function () {
          var item = this.sel;
          if (!item) { return ""; }
          if (item.json.source_filter !== undefined) { return item.json.source_filter; }
          var filter = item.field.source && item.field.source.filter;
          return filter === undefined ? "" : JSON.stringify(filter);
        },
        setFilter: function (event) {
          var item = this.sel;
          if (!item) { return; }
          var text = event.target.value;
          item.json.source_filter = text;
          var source = item.field.source && typeof item.field.source === "object" ? item.field.source : { fn: "sum" };
          item.field.source = source;
          if (!text.trim()) { delete source.filter; delete item.errors["source/filter"]; return; }
          try {
            source.filter = JSON.parse(text);
            delete item.errors["source/filter"];
          } catch (exc) {
            item.errors["source/filter"] = String(exc.message || exc);
          }
        },

        // ------------------------------------------------------------ the rollup's filter (condition_builder.js)
        // what the filter may use: the aggregated entity's fields that have a column, as the builder wants
        // them, with the operators their type filters by (the palette's, from the field type registry)
        filterFields: function () {
          var self = this;
          return this.fieldsOf(this.sourceValue("entity")).filter(function (f) {
            var storage = f.storage || "column";
            return storage === "column" || storage === "link_table";
          }).map(function (f) {
            var t = self.types[f.type] || {};
            var kind = ["user", "department", "relation"].indexOf(t.widget) >= 0 ? "id" : f.value_type;
            return {
              key: f.key,
              label: self.fieldText(f),
              ops: t.filter_operators || [],
              kind: FILTER_KINDS.indexOf(kind) >= 0 ? kind : "text",
              options: [],
            };
          }).filter(function (f) { return f.ops.length > 0; });
        },
        filterLabels: function () {
          var labels = clone(this.messages.filterOps) || {};
          labels.yes = this.messages.yes;
          labels.no = this.messages.no;
          return labels;
        },
        // x-effect of the builder's box: made once per field shown, fed the fields as they arrive, then
        // loaded with the saved filter (the JSON box takes a filter the builder cannot show)
        syncFilter: function () {
          var self = this;
          var el = this.$el;
          var item = this.sel;
          if (!item || !window.opsloomConditions) { return; }
          var builder = el._conditions;
          if (!builder || builder.item !== item) {
            builder = window.opsloomConditions.mount({
              rows: el.querySelector("[data-condition-rows]"),
              template: el.querySelector("template[data-condition-row]"),
              labels: this.filterLabels(),
              hint: this.messages.filterHint,
              onChange: function (changed) { self.filterChanged(changed); },
            });
            builder.item = item;
            el._conditions = builder;
          }
          var entity = this.sourceValue("entity");
          var fields = this.filterFields();
          if (this.fieldsLoading(entity)) { return; }
          if (builder.entity !== entity) { builder.entity = entity; builder.loaded = false; builder.signature = null; }
          var signature = JSON.stringify(fields);
          if (builder.signature !== signature) { builder.signature = signature; builder.setFields(fields); }
          if (builder.loaded) { return; }
          builder.loaded = true;
          if (item.filterUi.json) { builder.clear(); return; }
          if (!builder.load((item.field.source || {}).filter)) { item.filterUi.json = true; item.filterUi.note = true; }
        },
        filterChanged: function (builder) {
          var item = builder.item;
          if (this.items.indexOf(item) < 0) { return; }
          var source = item.field.source && typeof item.field.source === "object" ? item.field.source : { fn: "sum" };
          var expression = builder.expression();
          if (expression) { source.filter = expression; } else { delete source.filter; }
          item.field.source = source;
          item.json.source_filter = undefined;
          delete item.errors["source/filter"];
          this.touch();
        },
        builderOf: function (el) {
          var box = el.closest("[data-rollup-filter]");
          box = box && box.querySelector("[data-condition-builder]");
          return box ? box._conditions || null : null;
        },
        addFilterRow: function () {
          var builder = this.builderOf(this.$el);
          if (builder && builder.addRow()) { this.filterChanged(builder); }
        },
        filterAsJson: function () { return !!this.sel && this.sel.filterUi.json; },
        filterNote: function () { return !!this.sel && this.sel.filterUi.note; },
        filterJsonText: function () {
          var filter = this.sel && this.sel.field.source && this.sel.field.source.filter;
          return filter === undefined || filter === null ? "" : JSON.stringify(filter);
        },
        editFilterAsJson: function () {
          var item = this.sel;
          if (!item) { return; }
          item.json.source_filter = undefined;
          item.filterUi = { json: true, note: false };
        },
        // back to the rows, when the builder can show what the JSON box holds
        useFilterBuilder: function () {
          var item = this.sel;
          var builder = this.builderOf(this.$el);
          if (!item || !builder) { return; }
          var text = item.json.source_filter;
          if (text !== undefined && text.trim()) {
            try { JSON.parse(text); } catch (exc) { item.filterUi.note = true; return; }  // not even JSON yet
          }
          if (!builder.load((item.field.source || {}).filter)) { item.filterUi.note = true; return; }
          item.json.source_filter = undefined;
          item.filterUi = { json: false, note: false };
        },
        lookupRelations: function () {
          return this.items.filter(function (item) {
            return item.field.type === "relation" && !item.field.many && item.field.key;
          }).map(function (item) { return { key: item.field.key, label: item.field.label, target: item.field.target }; });
        },
        lookupTarget: function () {
          var item = this.sel;
          var key = item && item.field.relation;
          var relation = this.lookupRelations().find(function (r) { return r.key === key; });
          return relation ? relation.target || "" : "";
        },
        lookupFields: function () {
          return this.fieldsOf(this.lookupTarget()).filter(function (f) {
            return !f.many && (f.storage || "column") === "column";
          });
        },
        setRelation: function (event) {
          var item = this.sel;
          if (!item) { return; }
          this.setText("relation", event);
          delete item.field.field;
          this.touch();
        },
        subFields: function () {
          var item = this.sel;
          return item && Array.isArray(item.field.fields) ? item.field.fields : [];
        },
        subTypes: function () {
          return this.palette.filter(function (t) { return !t.computed && SUB_WIDGETS.indexOf(t.widget) >= 0; });
        },
        subLabel: function (sub) {
          var label = sub.label;
          if (typeof label === "string") { return label; }
          return (label && (label[this.data.locale] || label.en || label.zh)) || "";
        },
        setSubLabel: function (index, event) {
          var sub = this.subFields()[index];
          if (!sub) { return; }
          var label = typeof sub.label === "object" && sub.label ? sub.label : {};
          if (event.target.value) { label[this.data.locale] = event.target.value; } else { delete label[this.data.locale]; }
          if (Object.keys(label).length) { sub.label = label; } else { delete sub.label; }
        },
        setSubType: function (index, event) {
          var sub = this.subFields()[index];
          if (sub) { sub.type = event.target.value; }
        },
        setSubRequired: function (index, event) {
          var sub = this.subFields()[index];
          if (!sub) { return; }
          if (event.target.checked) { sub.required = true; } else { delete sub.required; }
        },
        addSubField: function () {
          var item = this.sel;
          if (!item) { return; }
          if (!Array.isArray(item.field.fields)) { item.field.fields = []; }
          var keys = item.field.fields.map(function (sub) { return sub.key; });
          var n = item.field.fields.length + 1;
          while (keys.indexOf("col_" + n) >= 0) { n += 1; }
          item.field.fields.push({ key: "col_" + n, type: "text" });
          this.touch();
        },
        removeSubField: function (index) {
          var item = this.sel;
          if (!item || !Array.isArray(item.field.fields)) { return; }
          item.field.fields.splice(index, 1);
          this.touch();
        },

        referenceText: function (item) {
          return item.field.target ? "→ " + item.field.target : "…";
        },
        setTitleField: function (event) { this.entity.title_field = event.target.value; },

        // ------------------------------------------------------------ formulas and conditions
        slotsOf: function (item) {
          var t = this.types[item.field.type] || {};
          var slots = [];
          var m = this.messages;
          if (t.options_schema && t.options_schema.formula) {
            slots.push({ name: "formula", label: m.prop_formula, hint: m.hint_formula, state: item.checks.formula });
          }
          slots.push({ name: "visible_if", label: m.prop_visible_if, hint: m.hint_visible_if, state: item.checks.visible_if });
          if (!t.computed) {
            slots.push({ name: "required_if", label: m.prop_required_if, hint: m.hint_required_if, state: item.checks.required_if });
          }
          return slots;
        },
        slotClass: function (slot) { return slot.state.status === "error" ? "has-error" : ""; },
        slotInput: function (name, event) {
          var item = this.sel;
          if (!item) { return; }
          item.checks[name].text = event.target.value;
          this.scheduleCheck(item, name);
        },
        pickField: function (name, event) {
          var item = this.sel;
          var key = event.target.value;
          event.target.value = "";
          if (!item || !key) { return; }
          var area = event.target.closest(".fe-formula").querySelector("textarea");
          var text = item.checks[name].text;
          var start = area && typeof area.selectionStart === "number" ? area.selectionStart : text.length;
          var end = area && typeof area.selectionEnd === "number" ? area.selectionEnd : text.length;
          item.checks[name].text = text.slice(0, start) + key + text.slice(end);
          this.touch();
          this.scheduleCheck(item, name);
          if (area) {
            this.$nextTick(function () { area.focus(); area.setSelectionRange(start + key.length, start + key.length); });
          }
        },
        scheduleCheck: function (item, name) {
          var self = this;
          var check = item.checks[name];
          if (check.timer) { clearTimeout(check.timer); }
          check.timer = setTimeout(function () { check.timer = null; self.runCheck(item, name); }, 350);
        },
        runCheck: function (item, name) {
          var self = this;
          var check = item.checks[name];
          var text = check.text;
          if (!text.trim()) {
            check.status = "idle"; check.message = ""; check.expr = null; check.checked = text;
            this.schedulePreview(100);
            return Promise.resolve(true);
          }
          check.status = "checking";
          var index = this.items.indexOf(item);
          return api("POST", this.data.urls.check, {
            text: text,
            entity: this.buildBody(),
            key: this.data.key,
            field: name === "formula" ? index : null,
            purpose: name === "formula" ? "formula" : "condition",
          }).then(function (answer) {
            if (check.text !== text) { return false; }  // typed on meanwhile: a newer check follows
            check.checked = text;
            if (!answer.ok) {
              check.status = "error";
              check.message = answer.data.detail || self.messages.networkError;
              return false;
            }
            var result = answer.data;
            check.expr = result.expr;
            if (name !== "formula") { self.schedulePreview(100); }  // the preview's rules changed
            if (result.ok) {
              check.status = "ok";
              check.excerpt = "";
              check.message = format(self.messages.formulaOk, { type: result.result_type || "?" });
              return true;
            }
            var first = (result.errors || [])[0] || {};
            check.status = "error";
            check.excerpt = first.excerpt || "";
            check.message = (result.errors || []).map(function (e) {
              var where = e.line ? " (" + format(self.messages.lineColumn, { line: e.line, column: e.column }) + ")" : "";
              return e.message + where;
            }).join("; ");
            return false;
          }, function () {
            check.status = "error";
            check.message = self.messages.networkError;
            return false;
          });
        },
        // every condition must have its JSON form before a save: check those not checked as typed
        checkConditions: function () {
          var self = this;
          var pending = [];
          this.items.forEach(function (item) {
            ["visible_if", "required_if"].forEach(function (name) {
              var check = item.checks[name];
              if (!check.text.trim()) { return; }
              if (check.checked !== check.text || check.status === "checking" || check.timer) {
                if (check.timer) { clearTimeout(check.timer); check.timer = null; }
                pending.push(self.runCheck(item, name));
              } else if (check.status === "error" || check.expr === null) {
                pending.push(Promise.resolve(check.status !== "error"));
              }
            });
          });
          return Promise.all(pending).then(function (results) {
            var ok = results.every(Boolean);
            self.items.forEach(function (item) {
              ["visible_if", "required_if"].forEach(function (name) {
                if (item.checks[name].text.trim() && item.checks[name].status === "error") { ok = false; }
              });
            });
            return ok;
          });
        },
        isConditional: function (item) {
          return !!(item.checks.visible_if.text.trim() || item.checks.required_if.text.trim());
        },

        // ------------------------------------------------------------ errors
        err: function (item, name) { return (item.errors || {})[name] || ""; },
        errClass: function (item, name) { return this.err(item, name) ? "has-error" : ""; },
        hasErrors: function (item) { return Object.keys(item.errors || {}).length > 0; },
        entityErr: function (name) { return this.entityErrors[name] || ""; },
        entityErrClass: function (name) { return this.entityErr(name) ? "has-error" : ""; },

        clearErrors: function () {
          this.items.forEach(function (item) { item.errors = {}; });
          this.entityErrors = {};
          this.generalErrors = [];
        },

        // /fields/3/max_length -> field 3's max_length; /visible_if/k -> field k's condition
        showErrors: function (problem, title) {
          var self = this;
          var errors = problem.errors || {};
          var general = [];
          Object.keys(errors).forEach(function (pointer) {
            var message = String(errors[pointer]);
            var parts = pointer.split("/").slice(1);
            var item = null;
            var prop = "_";
            if (parts[0] === "fields" && /^\d+$/.test(parts[1] || "")) {
              item = self.items[Number(parts[1])] || null;
              prop = parts[2] || "_";
              if (prop === "formula" || prop === "expr") { prop = "formula"; }
              // a rollup's filter: beside the filter (builder or JSON box), not under the whole editor
              if (prop === "source" && parts[3] === "filter") { prop = "source/filter"; }
            } else if ((parts[0] === "visible_if" || parts[0] === "required_if") && parts[1]) {
              item = self.items.find(function (i) { return i.field.key === parts[1]; }) || null;
              prop = parts[0];
            } else if (["label", "title_field", "dedup", "indexes", "description"].indexOf(parts[0]) >= 0) {
              self.entityErrors[parts[0]] = message;
              general.push(pointer + ": " + message);
              return;
            }
            if (item) {
              item.errors[prop] = message;
              if (prop === "formula" && item.checks.formula.text) {
                item.checks.formula.status = "error";
                item.checks.formula.message = message;
              }
              general.push((item.field.key || "?") + (prop === "_" ? "" : "." + prop) + ": " + message);
            } else {
              general.push((pointer || "/") + ": " + message);
            }
          });
          if (!general.length && problem.detail) { general.push(problem.detail); }
          this.errorTitle = title;
          this.generalErrors = general;
          var first = this.items.find(function (item) { return self.hasErrors(item); });
          if (first) { this.selected = first.uid; }
        },

        // ------------------------------------------------------------ renaming a saved field
        savedKeyOf: function (item) {
          var id = item.field.id;
          return id && Object.prototype.hasOwnProperty.call(this.savedKeys, id) ? this.savedKeys[id] : "";
        },
        pendingRename: function (item) {
          var from = this.savedKeyOf(item);
          return !!from && !!item.field.key && from !== item.field.key;
        },
        // the key input changed (on blur or Enter): rename the saved field everywhere
        keyChanged: function () {
          var self = this;
          var item = this.sel;
          // after the event has bubbled to markDirty, so the request sees the final revision
          if (item) { setTimeout(function () { self.renameField(item); }, 0); }
        },
        renameField: function (item) {
          var self = this;
          if (this.renaming) { return this.renaming.then(function () { return self.renameField(item); }); }
          if (this.items.indexOf(item) < 0 || !this.pendingRename(item)) { return Promise.resolve(true); }
          var from = this.savedKeyOf(item);
          this.renameNote = { uid: item.uid, status: "busy", text: format(this.messages.renaming, { old: from, "new": item.field.key }), elsewhere: "" };
          this.renaming = this.renameRequest(item, from).then(function (ok) {
            self.renaming = null;
            return ok;
          });
          return this.renaming;
        },
        // one request with the screen as it is; asked again (once the screen is still) if it changed meanwhile
        renameRequest: function (item, from) {
          var self = this;
          var to = item.field.key;
          var revision = this.revision;
          // the body as saved names fields by their saved keys: keys renamed on screen go back for the request
          var typed = {};
          this.items.forEach(function (other) {
            if (self.pendingRename(other)) { typed[other.field.id] = other.field.key; other.field.key = self.savedKeyOf(other); }
          });
          var body = this.buildBody();
          this.items.forEach(function (other) {
            if (typed[other.field.id] !== undefined) { other.field.key = typed[other.field.id]; }
          });
          return api("POST", this.data.urls.renameField, { from: from, to: to, body: body, cascade: !!this.renameCascade }).then(function (answer) {
            if (!answer.ok) { self.renameRefused(item, from, answer.data || {}); return false; }
            if (self.revision !== revision || item.field.key !== to) {
              return self.whenStill().then(function () {
                if (self.items.indexOf(item) < 0 || !item.field.key) { return false; }
                if (item.field.key === from) {
                  // renamed back meanwhile: the screen is right as it is; the next save stores it
                  self.dirty = true;
                  self.renameNote = { uid: null, status: "", text: "", elsewhere: "" };
                  return true;
                }
                return self.renameRequest(item, from);
              });
            }
            delete typed[item.field.id];
            self.renameDone(item, from, to, answer.data, typed);
            return true;
          }, function () {
            self.renameNote = { uid: item.uid, status: "error", text: format(self.messages.renameFailed, { old: from, reason: self.messages.networkError }), elsewhere: "" };
            return false;
          });
        },
        whenStill: function () {
          var self = this;
          return new Promise(function (resolve) {
            var seen = self.revision;
            (function wait() {
              setTimeout(function () {
                if (self.revision === seen) { resolve(); } else { seen = self.revision; wait(); }
              }, 300);
            })();
          });
        },
        renameDone: function (item, from, to, data, typed) {
          var self = this;
          var m = this.messages;
          var body = data.draft.body;
          var uids = this.items.map(function (i) { return i.uid; });
          this.load(body, data.conditions || {});
          // the same fields in the same order: keep their uids (and so the selection and the DOM)
          this.items.forEach(function (i, n) { if (uids[n]) { i.uid = uids[n]; } });
          this.savedKeys = keysById(body);
          var still = false;
          this.items.forEach(function (i) {
            if (typed[i.field.id] !== undefined) { i.field.key = typed[i.field.id]; still = true; }
          });
          this.clearErrors();
          this.data.hasDraft = true;
          this.dirty = still;
          this.status = m.saved;
          var places = unique((data.changes || []).filter(function (c) { return c.what !== "key"; }).map(function (c) {
            return format(m["place_" + c.what] || c.what, { field: c.field });
          }));
          var elsewhere = unique((data.elsewhere || []).map(function (c) {
            return c.entity + ": " + format(m["place_" + c.what] || c.what, { field: c.field });
          }));
          this.renameNote = {
            uid: item.uid,
            status: "ok",
            text: places.length
              ? format(m.renamed, { old: from, "new": to, places: places.join(", ") })
              : format(m.renamedAlone, { old: from, "new": to }),
            elsewhere: elsewhere.length ? format(m.renameElsewhere, { old: from, places: elsewhere.join("; ") }) : "",
            from: from,
            to: to,
            cascaded: this.cascadedText(data),
          };
          this.schedulePreview(0);
        },
        // the box ticked after a rename: the same rename again with cascade (this draft already has it, the others follow)
        cascadeRename: function () {
          var self = this;
          var note = this.renameNote;
          if (!this.renameCascade || note.status !== "ok" || !note.elsewhere || note.cascaded) { return Promise.resolve(false); }
          var done = function (cascaded, elsewhere) {
            if (self.renameNote !== note) { return; }  // another rename meanwhile
            self.renameNote = { uid: note.uid, status: note.status, text: note.text, elsewhere: elsewhere, from: note.from, to: note.to, cascaded: cascaded };
          };
          return api("POST", this.data.urls.renameField, { from: note.from, to: note.to, cascade: true }).then(function (answer) {
            if (answer.ok) { done(self.cascadedText(answer.data), ""); return true; }
            self.renameCascade = false;
            done(format(self.messages.renameFailed, { old: note.from, reason: (answer.data || {}).detail || self.messages.networkError }), note.elsewhere);
            return false;
          }, function () {
            self.renameCascade = false;
            done(format(self.messages.renameFailed, { old: note.from, reason: self.messages.networkError }), note.elsewhere);
            return false;
          });
        },
        // the other entities whose drafts a cascade rewrote, and that they need publishing (the sentence is in the page)
        cascadedText: function (data) {
          var m = this.messages;
          var places = (data.updated || []).map(function (entry) {
            return entry.entity + ": " + unique((entry.changes || []).map(function (c) {
              return format(m["place_" + c.what] || c.what, { field: c.field });
            })).join(", ");
          });
          if (!places.length) { return ""; }
          var box = document.querySelector("[data-rename-cascaded]");
          var sentence = box ? box.getAttribute("data-rename-cascaded") : "Updated the drafts of %(places)s. Publish this entity first, then those.";
          return format(sentence, { places: places.join("; ") });
        },
        renameRefused: function (item, from, problem) {
          var errors = problem.errors || {};
          var reason = errors.to || errors.from || problem.detail || this.messages.networkError;
          if (errors.to || errors.from) {
            item.errors.key = reason;
          } else {
            this.showErrors(problem, problem.detail || this.messages.saveFailed);  // the draft itself is refused
            this.selected = item.uid;
          }
          this.renameNote = { uid: item.uid, status: "error", text: format(this.messages.renameFailed, { old: from, reason: reason }), elsewhere: "" };
        },
        renameShown: function () { return !!this.sel && this.renameNote.uid === this.sel.uid && !!this.renameNote.text; },
        renameClass: function () {
          return { ok: "fe-ok small", error: "error-text", busy: "muted small" }[this.renameNote.status] || "small";
        },

        // ------------------------------------------------------------ the preview's live rules
        previewChanged: function () { this.schedulePreview(150); },
        schedulePreview: function (delay) {
          var self = this;
          if (this.previewTimer) { clearTimeout(this.previewTimer); }
          this.previewTimer = setTimeout(function () { self.previewTimer = null; self.runPreview(); }, delay);
        },
        // what the preview's inputs hold, as a form would post them (input name -> texts)
        previewValues: function () {
          var values = {};
          var root = this.$refs.preview;
          if (!root) { return values; }
          root.querySelectorAll("input[name], select[name], textarea[name]").forEach(function (el) {
            if (el.disabled || el.type === "file") { return; }
            var texts = values[el.name] || (values[el.name] = []);
            if (el.hasAttribute("data-flag")) { texts.push(el.checked ? "1" : "0"); }
            else if (el.type === "checkbox") { if (el.checked) { texts.push(el.value); } }
            else { texts.push(el.value); }
          });
          return values;
        },
        runPreview: function () {
          var self = this;
          var root = this.$refs.preview;
          var rules = window.opsloomFormRules;
          if (!root || !rules) { return; }
          var body = this.buildBody();
          var seq = this.previewSeq += 1;
          if (!body.visible_if && !body.required_if) {  // nothing conditional: the fields' own marks
            var required = (body.fields || []).filter(function (f) { return f.required; }).map(function (f) { return f.key; });
            this.$nextTick(function () { rules.apply(root, { hidden: [], required: required }); });
            return;
          }
          api("POST", this.data.urls.previewRules, { entity: body, key: this.data.key, values: this.previewValues() })
            .then(function (answer) {
              if (seq !== self.previewSeq || !answer.ok) { return; }  // a newer answer follows
              self.$nextTick(function () { rules.apply(root, answer.data); });
            }, function () { /* offline: the preview keeps its last state */ });
        },

        // ------------------------------------------------------------ save
        save: function () {
          var self = this;
          // a key typed over a saved one is renamed first (that saves the draft with every reference)
          if (this.renaming) { return this.renaming.then(function () { return self.save(); }); }
          var pending = this.items.find(function (item) { return self.pendingRename(item); });
          if (pending && !this.busy) {
            return this.renameField(pending).then(function (ok) { return ok ? self.save() : false; });
          }
          if (this.busy) { return Promise.resolve(false); }
          var revision = this.revision;
          this.busy = true;
          this.status = this.messages.saving;
          this.clearErrors();
          return this.checkConditions().then(function (ok) {
            if (!ok) {
              self.status = self.messages.saveFailed;
              self.errorTitle = self.messages.saveFailed;
              self.generalErrors = [];
              var bad = self.items.find(function (item) {
                return item.checks.visible_if.status === "error" || item.checks.required_if.status === "error";
              });
              if (bad) { self.selected = bad.uid; }
              return false;
            }
            return api("PUT", self.data.urls.definition, self.buildBody()).then(function (answer) {
              if (!answer.ok) {
                self.status = self.messages.saveFailed;
                self.showErrors(answer.data, answer.data.detail || self.messages.saveFailed);
                return false;
              }
              var saved = (answer.data.body && answer.data.body.fields) || [];
              // the server gave new fields their ids: keep them, so a later rename keeps the data
              self.items.forEach(function (item, i) {
                if (saved[i] && saved[i].key === item.field.key && saved[i].id) { item.field.id = saved[i].id; }
              });
              self.savedKeys = keysById(answer.data.body || {});
              self.data.hasDraft = true;
              if (self.revision === revision) { self.dirty = false; }
              self.status = self.messages.saved;
              return true;
            });
          }).catch(function () {
            self.status = self.messages.networkError;
            return false;
          }).then(function (result) {
            self.busy = false;
            return result;
          });
        },

        // ------------------------------------------------------------ publish
        openPublish: function () {
          var self = this;
          var p = this.publish;
          p.loading = true; p.changes = []; p.warnings = []; p.error = ""; p.errorLines = [];
          p.report = null; p.done = ""; p.info = ""; p.note = ""; p.canPublish = true;
          var ready = this.dirty || !this.data.hasDraft && this.data.isNew ? this.save() : Promise.resolve(true);
          return ready.then(function (ok) {
            if (!ok) { p.loading = false; return; }
            self.$refs.publishDialog.showModal();
            return Promise.all([
              api("GET", self.data.urls.diff),
              api("GET", self.data.urls.publishCheck),
            ]).then(function (answers) {
              var diff = answers[0];
              var check = answers[1];
              if (diff.ok) { p.changes = diff.data.changes || []; }
              if (check.ok) {
                p.warnings = check.data.warnings || [];
                if (!check.data.has_draft) { p.info = self.messages.noChanges; p.canPublish = false; }
                else if (!check.data.latest_version) { p.info = self.messages.neverPublished; }
              }
              if (!diff.ok || !check.ok) { p.error = (diff.ok ? check : diff).data.detail || self.messages.networkError; }
              p.loading = false;
            }, function () {
              p.error = self.messages.networkError;
              p.loading = false;
            });
          });
        },
        publishNormal: function () { return this.doPublish(false); },
        publishForce: function () { return this.doPublish(true); },
        doPublish: function (force) {
          var self = this;
          var p = this.publish;
          this.busy = true;
          p.error = ""; p.errorLines = [];
          return api("POST", this.data.urls.publish, { note: p.note, options: force ? { force: true } : {} }).then(function (answer) {
            if (answer.ok) {
              p.report = answer.data.report || [];
              p.done = format(self.messages.published, { version: answer.data.version });
              self.data.hasDraft = false;
              self.data.latestVersion = answer.data.version;
              self.status = p.done;
              return;
            }
            var problem = answer.data || {};
            p.error = problem.detail || self.messages.publishFailed;
            p.errorLines = Object.keys(problem.errors || {}).map(function (pointer) {
              var parts = pointer.split("/");
              var item = parts[1] === "fields" ? self.items[Number(parts[2])] : null;
              return (item ? item.field.key : pointer) + ": " + problem.errors[pointer];
            });
            if (answer.status === 422) { self.showErrors(problem, p.error); }
          }, function () {
            p.error = self.messages.networkError;
          }).then(function () { self.busy = false; });
        },
        closePublish: function () {
          this.$refs.publishDialog.close();
          if (this.publish.report) { window.location.reload(); }
        },
        warningText: function (w) {
          var template = this.messages["warn_" + w.code] || w.code;
          return format(template, { field: w.field, old: w.old_type || w.old_key, "new": w.new_type });
        },
        opText: function (op) { return this.messages["op_" + op] || op; },
        changeText: function (c) {
          function show(v) { return v === undefined ? "" : JSON.stringify(v); }
          if (c.op === "changed") { return show(c.old) + " → " + show(c["new"]); }
          if (c.op === "added") { return show(c["new"]); }
          if (c.op === "removed") { return show(c.old); }
          if (c.op === "moved") { return (c.from || "") + " → " + (c.path || ""); }
          return "";
        },

        // ------------------------------------------------------------ preview
        previewKind: function (item) {
          var t = this.types[item.field.type];
          var widget = t ? t.widget : "input";
          var kinds = {
            input: "text", textarea: "textarea", richtext: "textarea", json: "textarea", number: "number",
            date: "date", datetime: "datetime", time: "time", checkbox: "checkbox", select: "select",
            multiselect: "multiselect", user: "reference", department: "reference", relation: "reference",
            file: "file", image: "file", subtable: "subtable", computed: "computed",
          };
          return kinds[widget] || "text";
        },
      };
    });
  });
})();
