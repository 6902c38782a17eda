// Tables that scroll inside themselves (narrow screens, see gatehouse.css) take keyboard focus,
// so a keyboard user can scroll them with the arrow keys (WCAG 2.1.1; axe-core's
// scrollable-region-focusable). Only tables that overflow now become a tab stop, re-checked
// when the window is resized; a table named by nothing is named by its section's heading.
(function () {
  "use strict";
  function label(table) {
    if (table.caption || table.hasAttribute("aria-label") || table.hasAttribute("aria-labelledby")) return;
    var section = table.closest("section, .card");
    var heading = section && section.querySelector("h2, h3");
    if (heading) table.setAttribute("aria-label", heading.textContent.trim());
  }
  function update() {
    document.querySelectorAll("main table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        if (!table.hasAttribute("tabindex")) { table.setAttribute("tabindex", "0"); label(table); }
      } else if (table.getAttribute("tabindex") === "0") {
        table.removeAttribute("tabindex");
      }
    });
  }
  update();
  var pending;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(update, 150);
  });
})();
