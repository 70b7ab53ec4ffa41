// embedstream dashboard: confirmation of dead-letter actions and live
// refresh of the page's [data-live] regions. No inline script anywhere:
// the Content-Security-Policy allows only this file.
(function () {
  "use strict";

  // Forms with data-confirm ask first; the server shows its own
  // confirmation page when this script does not run (confirmed != "yes").
  // A submit button may carry its own data-confirm (and formaction).
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement)) return;
    var button = ev.submitter;
    var question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (!question) return;
    var confirmed = form.elements.namedItem("confirmed");
    if (!confirmed || confirmed.value === "yes") return;
    ev.preventDefault();
    if (window.confirm(question)) {
      confirmed.value = "yes";
      // submit() skips the submit event (requestSubmit would be ignored
      // inside its handler): take the button's formaction by hand.
      if (button && button.hasAttribute("formaction")) form.action = button.formAction;
      form.submit();
    }
  });

  // A region the server renders without data-live is final (a finished
  // job's page): once swapped in, it is not fetched again.
  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live][id]"));
  if (regions.length === 0) return;
  var timer = null;
  var interval = parseInt(document.body.dataset.refresh, 10) || 1000;
  var busy = false;

  function openDetails(root) {
    var ids = [];
    root.querySelectorAll("details").forEach(function (d, i) { if (d.open) ids.push(i); });
    return ids;
  }

  function refresh() {
    if (busy || document.hidden || regions.length === 0) return;
    busy = true;
    fetch(window.location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (res) {
        if (res.redirected && new URL(res.url).pathname === "/ui/login") {
          window.location.assign(res.url); // the session ended
          return null;
        }
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.text();
      })
      .then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (!fresh) return;
          var open = openDetails(el);
          el.replaceChildren.apply(el, Array.from(fresh.childNodes));
          var details = el.querySelectorAll("details");
          open.forEach(function (i) { if (details[i]) details[i].open = true; });
          if (!fresh.hasAttribute("data-live")) el.removeAttribute("data-live");
        });
        regions = regions.filter(function (el) { return el.hasAttribute("data-live"); });
        if (regions.length === 0) window.clearInterval(timer);
        document.body.classList.remove("stale");
        document.dispatchEvent(new CustomEvent("dashboard:refreshed"));
      })
      .catch(function () { document.body.classList.add("stale"); })
      .finally(function () { busy = false; });
  }

  timer = window.setInterval(refresh, interval);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();
