// Bundle export: say it is building while the server works (seconds the first time), then save
// the zip and show its manifest sha256 and the audit event that recorded the export. Without
// JavaScript the form is a plain download.
(function () {
  "use strict";
  var form = document.querySelector("form[data-bundle]");
  var status = document.querySelector("[data-bundle-status]");
  if (!form || !status || !window.fetch || !window.URL) return;
  var button = form.querySelector("button");

  function say(text, kind) {
    status.textContent = text;
    status.className = "bundle-status" + (kind ? " " + kind : "");
  }

  function filename(response) {
    var match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    return match ? match[1] : "bundle.zip";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    say("Building the bundle… (the first export renders the report and the PDF: a few seconds)", "busy");
    fetch(form.action, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("the server answered " + response.status);
        return response.blob().then(function (blob) { return { response: response, blob: blob }; });
      })
      .then(function (got) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(got.blob);
        link.download = filename(got.response);
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
        var digest = got.response.headers.get("X-Bundle-Manifest-SHA256") || "?";
        var seq = got.response.headers.get("X-Audit-Event-Seq") || "?";
        say("Exported " + link.download + ": manifest sha256 " + digest +
            ", recorded as audit event #" + seq + ".", "ok");
      })
      .catch(function (error) { say("The export failed: " + error.message + ".", "no"); })
      .then(function () {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      });
  });
})();
