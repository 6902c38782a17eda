// Live report progress: poll the status endpoint while reports run, reload once all are done.
(function () {
  "use strict";
  var section = document.querySelector("[data-live]");
  if (!section) return;
  var url = section.getAttribute("data-live");
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        var changed = false;
        data.reports.forEach(function (rep) {
          var row = section.querySelector('[data-report="' + rep.id + '"]');
          if (!row) { changed = true; return; }
          var status = row.querySelector('[data-field="status"]');
          if (status.textContent.trim().toLowerCase() !== rep.status) {
            status.textContent = rep.status.charAt(0).toUpperCase() + rep.status.slice(1);
            status.className = "badge status-" + rep.status;
          }
          row.querySelector('[data-field="progress"]').value = rep.progress;
          row.querySelector('[data-field="message"]').textContent = rep.message;
        });
        if (data.done || changed) { window.location.reload(); return; }
        setTimeout(tick, 1500);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 1500);
})();
