/* Live visibility rules of a form, shared by the record form (records.js) and the entity designer's
   preview (designer.js). The rules are expressions and run on the server; it answers which fields
   they hide and require for the values on screen, {hidden: [keys], required: [keys]}, and apply()
   shows that answer: each field box (.rf-field[data-field=key]) is hidden or shown, and the
   required star in its label (.req) follows, except on read-only boxes (.rf-read); a section
   (fieldset.rf-section) whose field boxes are all hidden hides too. No inline
   scripts (the CSP forbids them): load this file before the script that calls it. */
(function () {
  "use strict";

  function apply(root, rules) {
    if (!root || !rules || !Array.isArray(rules.hidden)) { return; }
    var required = Array.isArray(rules.required) ? rules.required : [];
    root.querySelectorAll(".rf-field[data-field]").forEach(function (box) {
      var key = box.getAttribute("data-field");
      box.hidden = rules.hidden.indexOf(key) >= 0;
      var star = box.querySelector("label .req");
      if (star && !box.classList.contains("rf-read")) { star.hidden = required.indexOf(key) < 0; }
    });
    root.querySelectorAll(".rf-section").forEach(function (section) {
      var boxes = Array.prototype.slice.call(section.querySelectorAll(".rf-field[data-field]"));
      section.hidden = boxes.length > 0 && boxes.every(function (box) { return box.hidden; });
    });
  }

  window.opsloomFormRules = { apply: apply };
})();
