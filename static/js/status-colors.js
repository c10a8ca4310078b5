// Status colours come from each workspace's workflow, so they cannot live in a stylesheet, and
// the Content Security Policy forbids inline style attributes. Elements carry the colour as
// data-status-color; this sets the CSS variables through the CSSOM (which CSP allows), on
// load and on every fragment HTMX brings in.
(function () {
  "use strict";
  var HEX = /^#[0-9a-fA-F]{6}$/;

  function paint(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var elements = Array.prototype.slice.call(scope.querySelectorAll("[data-status-color]"));
    if (scope.matches && scope.matches("[data-status-color]")) elements.push(scope);
    elements.forEach(function (element) {
      var colour = element.getAttribute("data-status-color");
      if (!HEX.test(colour)) return;
      element.style.setProperty("--status", colour);
      element.style.setProperty("--status-color", colour);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { paint(document); });
  } else {
    paint(document);
  }
  document.addEventListener("htmx:load", function (event) { paint(event.target); });
  window.aharallyPaintStatusColors = paint;
})();
