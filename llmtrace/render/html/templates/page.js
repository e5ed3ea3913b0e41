"use strict";
// llmtrace report: sections drawn on demand, sortable index, anchors that open their section.
(function () {
  function draw(details) {
    var tpl = details.querySelector(":scope > template");
    if (tpl) { details.appendChild(tpl.content.cloneNode(true)); tpl.remove(); }
  }
  function reveal(id) {
    if (!id) return;
    var target = document.getElementById(id);
    if (!target) {
      var section = document.getElementById(id.replace(/x\d+(-a\d+)?$/, ""));
      if (section && section.tagName === "DETAILS") { draw(section); section.open = true; target = document.getElementById(id); }
    }
    if (target) {
      var box = target.closest("details");
      while (box) { draw(box); box.open = true; box = box.parentElement.closest("details"); }
      target.scrollIntoView();
    }
  }
  document.querySelectorAll("details.lazy").forEach(function (d) {
    d.addEventListener("toggle", function () { if (d.open) draw(d); });
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    if (link) { event.preventDefault(); history.replaceState(null, "", link.getAttribute("href")); reveal(link.getAttribute("href").slice(1)); }
  });
  window.addEventListener("hashchange", function () { reveal(location.hash.slice(1)); });
  if (location.hash) reveal(location.hash.slice(1));
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { draw(d); d.open = true; });
  });
  document.querySelectorAll("table.sortable th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var table = th.closest("table"), body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-sort") || a.cells[column].textContent;
        var y = b.cells[column].getAttribute("data-sort") || b.cells[column].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
