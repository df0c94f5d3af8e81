// sesshu: the little the pages need, served by sesshu itself (no inline script, no network).
// The automatic logout: the server ends a session unused for the idle period; this shows a
// warning before that, keeps the session alive while someone is typing, and hides every piece
// of personal data the moment the session has ended.
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle") || "0", 10);
  var csrf = body.getAttribute("data-csrf") || "";
  var print = document.getElementById("print");
  if (print) { print.addEventListener("click", function () { window.print(); }); }
  if (!idle) { return; }
  var warnBefore = Math.min(60, Math.floor(idle / 2));
  var warning = document.getElementById("idle-warning");
  var count = document.getElementById("idle-count");
  var lastContact = Date.now();
  var lastPing = Date.now();

  function ping() {
    lastPing = Date.now();
    var form = new URLSearchParams();
    form.set("csrf", csrf);
    return fetch("/session/keepalive", {
      method: "POST", body: form, credentials: "same-origin", redirect: "manual"
    }).then(function (r) {
      if (r.status === 204) { lastContact = Date.now(); warning.hidden = true; }
      else { lock(); }
    }).catch(function () {});
  }

  function lock() {
    // Remove the personal data from the page itself, not only from view.
    var main = document.getElementById("main");
    if (main) { main.innerHTML = ""; }
    warning.hidden = true;
    document.getElementById("lock").hidden = false;
    document.title = "ロック — sesshu";
    window.location.replace("/login?m=idle");
  }

  document.getElementById("idle-continue").addEventListener("click", ping);
  // Typing in a long form is work: keep the session while it goes on.
  ["keydown", "input", "click"].forEach(function (ev) {
    document.addEventListener(ev, function () {
      if (Date.now() - lastPing > (idle * 1000) / 4) { ping(); }
    }, { passive: true });
  });

  setInterval(function () {
    var left = idle - Math.floor((Date.now() - lastContact) / 1000);
    if (left <= 0) { lock(); return; }
    if (left <= warnBefore) {
      count.textContent = "あと " + left + " 秒";
      if (warning.hidden) {
        warning.hidden = false;
        // Keyboard users land on the one thing to do; Enter keeps the session.
        document.getElementById("idle-continue").focus();
      }
    }
  }, 1000);
})();
