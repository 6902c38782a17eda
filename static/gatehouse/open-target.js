// A link to folded evidence (a fairness finding's attribute) unfolds it: open the <details>
// the URL's fragment names, or holds, on load and on every fragment change.
(function () {
  "use strict";
  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id && document.getElementById(id);
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
